/**
 * Storage benchmark: durable appends per second of the LMDB engine for 128-byte entries, at
 * batch sizes 1, 10 and 100 (entries per appendLogEntries call) with 1, 8 and 64 concurrent
 * writers, beside the raw rate of a 4 KiB write + fdatasync on the same disk.
 *
 * Each LMDB run opens a fresh data directory, so the log only grows (the worst case: every
 * commit extends the file). Figures are wall-clock over `--duration-ms` per run.
 *
 *     npm run bench -- storage [--json] [--duration-ms 1500] [--dir /path/on/the/disk]
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry, Metrics } from '../agent/contracts.js';
import { LmdbPersistenceEngine } from '../storage/lmdb.js';

const ENTRY_BYTES = 128;
const BATCH_SIZES = [1, 10, 100] as const;
const WRITER_COUNTS = [1, 8, 64] as const;

interface Options {
  readonly durationMs: number;
  readonly dir: string;
}

function parseArgs(args: readonly string[]): Options {
  let durationMs = 1500;
  let dir = tmpdir();
  for (let i = 0; i < args.length; i += 1) {
    const value = args[i + 1];
    if (args[i] === '--duration-ms' && value !== undefined) durationMs = Number(value);
    if (args[i] === '--dir' && value !== undefined) dir = value;
  }
  if (!Number.isFinite(durationMs) || durationMs < 100) throw new Error(`--duration-ms must be at least 100, got ${durationMs}`);
  return { durationMs, dir };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** 4 KiB pwrite + fdatasync in a loop, over the first 1 MiB of a file (no growth after the first pass). */
function rawFsync(dir: string, durationMs: number): { perSec: number; p50Us: number; p99Us: number } {
  const path = join(dir, 'raw-fsync.bin');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 0x5a);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < 256; i += 1) writeSync(fd, block, 0, block.length, i * 4096);
    fdatasyncSync(fd);
    const start = performance.now();
    let i = 0;
    while (performance.now() - start < durationMs) {
      const t0 = performance.now();
      writeSync(fd, block, 0, block.length, (i % 256) * 4096);
      fdatasyncSync(fd);
      latencies.push((performance.now() - t0) * 1000);
      i += 1;
    }
    const seconds = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    return { perSec: Math.round(latencies.length / seconds), p50Us: Math.round(percentile(latencies, 0.5)), p99Us: Math.round(percentile(latencies, 0.99)) };
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

class CommitCounter implements Metrics {
  commits = 0;
  increment(name: string): void {
    if (name === 'coraft_storage_commits_total') this.commits += 1;
  }
  setGauge(): void {}
  observe(): void {}
  observeDurationMs(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

interface LmdbFigure {
  readonly batch: number;
  readonly writers: number;
  readonly appendsPerSec: number;
  readonly callsPerSec: number;
  readonly commitsPerSec: number;
  readonly callP50Us: number;
}

async function lmdbRun(base: string, batch: number, writers: number, durationMs: number): Promise<LmdbFigure> {
  const path = mkdtempSync(join(base, 'coraft-bench-'));
  const metrics = new CommitCounter();
  const engine = await LmdbPersistenceEngine.open({ path, mapSizeInitialBytes: 64 * 1024 * 1024, mapSizeMaxBytes: 4 * 1024 * 1024 * 1024 }, { metrics });
  const command = new Uint8Array(ENTRY_BYTES).fill(0xab);
  let nextIndex = 1;
  let calls = 0;
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + durationMs;
  const writer = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const entries: LogEntry[] = [];
      for (let i = 0; i < batch; i += 1) entries.push({ index: nextIndex + i, term: 1, type: 'command', command });
      nextIndex += batch;
      const t0 = performance.now();
      await engine.appendLogEntries(entries);
      latencies.push((performance.now() - t0) * 1000);
      calls += 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: writers }, writer));
    const seconds = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      batch,
      writers,
      appendsPerSec: Math.round((calls * batch) / seconds),
      callsPerSec: Math.round(calls / seconds),
      commitsPerSec: Math.round(metrics.commits / seconds),
      callP50Us: Math.round(percentile(latencies, 0.5)),
    };
  } finally {
    await engine.close();
    rmSync(path, { recursive: true, force: true });
  }
}

/** Runs the benchmark, printing one line per figure, and returns the figures. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const options = parseArgs(args);
  const raw = rawFsync(options.dir, options.durationMs);
  console.log(`raw 4 KiB write+fdatasync: ${raw.perSec}/s, p50 ${raw.p50Us} µs, p99 ${raw.p99Us} µs (${options.dir})`);
  const lmdb: LmdbFigure[] = [];
  for (const batch of BATCH_SIZES) {
    for (const writers of WRITER_COUNTS) {
      const figure = await lmdbRun(options.dir, batch, writers, options.durationMs);
      lmdb.push(figure);
      const ratio = (figure.appendsPerSec / raw.perSec).toFixed(2);
      console.log(
        `lmdb batch ${String(batch).padStart(3)} × ${String(writers).padStart(2)} writers: ${figure.appendsPerSec} appends/s (${ratio}× raw), ` +
          `${figure.callsPerSec} calls/s, ${figure.commitsPerSec} commits/s, call p50 ${figure.callP50Us} µs`,
      );
    }
  }
  const single = lmdb.find((f) => f.batch === 1 && f.writers === 1);
  const wide = lmdb.find((f) => f.batch === 1 && f.writers === 64);
  return {
    rawFsyncPerSec: raw.perSec,
    rawFsyncP50Us: raw.p50Us,
    rawFsyncP99Us: raw.p99Us,
    lmdb,
    batch1Writer1VsRaw: single === undefined ? null : Number((single.appendsPerSec / raw.perSec).toFixed(3)),
    batch1Writers64VsRaw: wide === undefined ? null : Number((wide.appendsPerSec / raw.perSec).toFixed(3)),
  };
}
