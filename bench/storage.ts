/**
 * Storage benchmark: durable appends per second for 128-byte entries, at batch sizes 1, 10 and
 * 100 (entries per persist call) with 1, 8 and 64 concurrent writers, of the LMDB
 * engine (`lmdb`: an LMDB commit per group) and of the write-ahead-log engine (`wal`: an
 * fdatasync of the log per group, checkpoints into LMDB in the background, walSyncMode `auto`;
 * `wal-background` and `wal-inline`: the same with the other two sync modes), beside the raw
 * rate of a 4 KiB write + fdatasync on the same disk, measured before and after the engines
 * (the ratios use the mean).
 *
 * Each run opens a fresh data directory, so the log only grows. Figures are wall-clock over
 * `--duration-ms` per run. `--engines lmdb,wal` picks engines. On Linux each run also reports
 * its write amplification: the bytes this process wrote to the block layer during the engine's
 * slices (/proc/self/io write_bytes) over the bytes of the entries' commands.
 *
 *     npm run bench -- storage [--json] [--duration-ms 1500] [--dir /path/on/the/disk]
 *                              [--engines lmdb,wal,wal-background,wal-inline]
 */
import { closeSync, existsSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '../contracts/log.js';
import type { Metrics } from '../contracts/metrics.js';
import type { PersistenceEngine } from '../contracts/persistence.js';
import { LmdbPersistenceEngine } from '../storage/lmdb/lmdb-engine.js';
import { WalPersistenceEngine } from '../storage/wal/wal-engine.js';

const ENTRY_BYTES = 128;
const BATCH_SIZES = [1, 10, 100] as const;
const WRITER_COUNTS = [1, 8, 64] as const;
const ENGINES = ['lmdb', 'wal', 'wal-background', 'wal-inline'] as const;
type EngineName = (typeof ENGINES)[number];

interface Options {
  readonly durationMs: number;
  readonly dir: string;
  readonly engines: readonly EngineName[];
}

function isEngineName(name: string): name is EngineName {
  return ENGINES.some((engine) => engine === name);
}

function parseArgs(args: readonly string[]): Options {
  let durationMs = 1500;
  let dir = tmpdir();
  let engines: EngineName[] = [...ENGINES];
  for (let i = 0; i < args.length; i += 1) {
    const value = args[i + 1];
    if (args[i] === '--duration-ms' && value !== undefined) durationMs = Number(value);
    if (args[i] === '--dir' && value !== undefined) dir = value;
    if (args[i] === '--engines' && value !== undefined) {
      const names = value.split(',');
      const unknown = names.filter((name) => !isEngineName(name));
      if (unknown.length > 0)
        throw new Error(`--engines: unknown ${unknown.join(', ')}; expected some of ${ENGINES.join(', ')}`);
      engines = names.filter(isEngineName);
    }
  }
  if (!Number.isFinite(durationMs) || durationMs < 100)
    throw new Error(`--duration-ms must be at least 100, got ${durationMs}`);
  return { durationMs, dir, engines };
}

function openEngine(engine: EngineName, path: string, metrics: Metrics): Promise<PersistenceEngine> {
  const lmdb = { path, mapSizeInitialBytes: 64 * 1024 * 1024, mapSizeMaxBytes: 4 * 1024 * 1024 * 1024 };
  switch (engine) {
    case 'lmdb':
      return LmdbPersistenceEngine.open(lmdb, { metrics });
    case 'wal':
      return WalPersistenceEngine.open({ ...lmdb, walSyncMode: 'auto' }, { metrics });
    case 'wal-background':
      return WalPersistenceEngine.open({ ...lmdb, walSyncMode: 'background' }, { metrics });
    case 'wal-inline':
      return WalPersistenceEngine.open({ ...lmdb, walSyncMode: 'inline' }, { metrics });
  }
}

/** Bytes this process has written to the block layer (/proc/self/io write_bytes), or null off Linux. */
function writtenBytes(): number | null {
  if (!existsSync('/proc/self/io')) return null;
  const match = /write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return match?.[1] === undefined ? null : Number(match[1]);
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** A file for raw 4 KiB pwrite + fdatasync over its first 1 MiB (no growth after the first pass). */
class RawDisk {
  private readonly fd: number;
  private next = 0;
  private readonly block = Buffer.alloc(4096, 0x5a);

  constructor(private readonly path: string) {
    this.fd = openSync(path, 'w');
    for (let i = 0; i < 256; i += 1) writeSync(this.fd, this.block, 0, this.block.length, i * 4096);
    fdatasyncSync(this.fd);
  }

  /** Writes and syncs for `durationMs`; returns the latency of each, µs. */
  run(durationMs: number): number[] {
    const latencies: number[] = [];
    const start = performance.now();
    while (performance.now() - start < durationMs) {
      const t0 = performance.now();
      writeSync(this.fd, this.block, 0, this.block.length, (this.next % 256) * 4096);
      fdatasyncSync(this.fd);
      latencies.push((performance.now() - t0) * 1000);
      this.next += 1;
    }
    return latencies;
  }

  close(): void {
    closeSync(this.fd);
    rmSync(this.path, { force: true });
  }
}

function rawFigure(latencies: number[], seconds: number): { perSec: number; p50Us: number; p99Us: number } {
  latencies.sort((a, b) => a - b);
  return {
    perSec: Math.round(latencies.length / seconds),
    p50Us: Math.round(percentile(latencies, 0.5)),
    p99Us: Math.round(percentile(latencies, 0.99)),
  };
}

class CommitCounter implements Metrics {
  commits = 0;
  increment(name: string): void {
    if (name === 'storage_commits_total') this.commits += 1;
  }
  setGauge(): void {}
  observe(): void {}
  observeDurationMs(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

interface EngineFigure {
  readonly engine: EngineName;
  readonly batch: number;
  readonly writers: number;
  readonly appendsPerSec: number;
  readonly callsPerSec: number;
  readonly commitsPerSec: number;
  readonly callP50Us: number;
  /** Raw 4 KiB syncs per second in the slices alternating with this run's. */
  readonly rawPerSec: number;
  readonly rawP50Us: number;
  /** appendsPerSec / rawPerSec. */
  readonly vsRaw: number;
  /** Bytes written during the engine's slices per byte of command appended, or null off Linux. */
  readonly writeAmplification: number | null;
}

/** Slices each run is cut into, alternating with raw syncs of the same length. */
const SLICES = 6;

/**
 * Runs `writers` writers of `batch` entries against a fresh engine for `durationMs` in total,
 * in slices alternating with slices of raw 4 KiB syncs, so that the ratio to raw compares the
 * two under the same load of a shared disk.
 */
async function engineRun(
  name: EngineName,
  base: string,
  raw: RawDisk,
  batch: number,
  writers: number,
  durationMs: number,
): Promise<EngineFigure> {
  const path = mkdtempSync(join(base, 'coraft-bench-'));
  const metrics = new CommitCounter();
  const engine = await openEngine(name, path, metrics);
  const command = new Uint8Array(ENTRY_BYTES).fill(0xab);
  let nextIndex = 1;
  let calls = 0;
  let engineMs = 0;
  let rawMs = 0;
  const latencies: number[] = [];
  const rawLatencies: number[] = [];
  const sliceMs = durationMs / SLICES;
  let written: number | null = 0;
  const writer = async (deadline: number): Promise<void> => {
    while (performance.now() < deadline) {
      const entries: LogEntry[] = [];
      for (let i = 0; i < batch; i += 1) entries.push({ index: nextIndex + i, term: 1, type: 'command', command });
      nextIndex += batch;
      const t0 = performance.now();
      await engine.persist({ snapshot: null, truncateFrom: null, entries, compactBefore: null, hardState: null });
      latencies.push((performance.now() - t0) * 1000);
      calls += 1;
    }
  };
  try {
    for (let slice = 0; slice < SLICES; slice += 1) {
      const rawStart = performance.now();
      rawLatencies.push(...raw.run(sliceMs));
      rawMs += performance.now() - rawStart;
      const start = performance.now();
      const writtenBefore = writtenBytes();
      await Promise.all(Array.from({ length: writers }, () => writer(start + sliceMs)));
      engineMs += performance.now() - start;
      const writtenAfter = writtenBytes();
      written =
        written === null || writtenBefore === null || writtenAfter === null
          ? null
          : written + writtenAfter - writtenBefore;
    }
    const seconds = engineMs / 1000;
    latencies.sort((a, b) => a - b);
    const rawSide = rawFigure(rawLatencies, rawMs / 1000);
    return {
      engine: name,
      batch,
      writers,
      appendsPerSec: Math.round((calls * batch) / seconds),
      callsPerSec: Math.round(calls / seconds),
      commitsPerSec: Math.round(metrics.commits / seconds),
      callP50Us: Math.round(percentile(latencies, 0.5)),
      rawPerSec: rawSide.perSec,
      rawP50Us: rawSide.p50Us,
      vsRaw: Number(((calls * batch) / seconds / rawSide.perSec).toFixed(3)),
      writeAmplification:
        written === null || calls === 0 ? null : Number((written / (calls * batch * ENTRY_BYTES)).toFixed(2)),
    };
  } finally {
    await engine.close();
    rmSync(path, { recursive: true, force: true });
  }
}

/** Runs the benchmark, printing one line per figure, and returns the figures. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const options = parseArgs(args);
  const raw = new RawDisk(join(options.dir, `coraft-raw-fsync-${process.pid}.bin`));
  const figures: EngineFigure[] = [];
  let rawAll: { perSec: number; p50Us: number; p99Us: number };
  try {
    const rawStart = performance.now();
    rawAll = rawFigure(raw.run(options.durationMs), (performance.now() - rawStart) / 1000);
    console.log(
      `raw 4 KiB write+fdatasync: ${rawAll.perSec}/s, p50 ${rawAll.p50Us} µs, p99 ${rawAll.p99Us} µs (${options.dir})`,
    );
    for (const batch of BATCH_SIZES) {
      for (const writers of WRITER_COUNTS) {
        for (const engine of options.engines) {
          const figure = await engineRun(engine, options.dir, raw, batch, writers, options.durationMs);
          figures.push(figure);
          console.log(
            `${engine.padEnd(10)} batch ${String(batch).padStart(3)} × ${String(writers).padStart(2)} ` +
              `writers: ${figure.appendsPerSec} appends/s ` +
              `(${figure.vsRaw}× raw ${figure.rawPerSec}/s p50 ${figure.rawP50Us} µs alongside), ` +
              `${figure.callsPerSec} calls/s, ${figure.commitsPerSec} commits/s, ` +
              `call p50 ${figure.callP50Us} µs, write amplification ${figure.writeAmplification ?? '-'}`,
          );
        }
      }
    }
  } finally {
    raw.close();
  }
  const ratios: Record<string, unknown> = {};
  for (const engine of options.engines) {
    const single = figures.find((f) => f.engine === engine && f.batch === 1 && f.writers === 1);
    const wide = figures.find((f) => f.engine === engine && f.batch === 1 && f.writers === 64);
    ratios[engine] = { batch1Writer1VsRaw: single?.vsRaw ?? null, batch1Writers64VsRaw: wide?.vsRaw ?? null };
    console.log(`${engine}: ${JSON.stringify(ratios[engine])} (aims: >= 0.8 and >= 20)`);
  }
  return { rawFsyncPerSec: rawAll.perSec, rawFsyncP50Us: rawAll.p50Us, rawFsyncP99Us: rawAll.p99Us, figures, ratios };
}
