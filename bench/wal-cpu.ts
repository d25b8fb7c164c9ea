/**
 * CPU per MiB of log through the write-ahead-log engine, checkpoint and compaction included, in
 * this process (user + system time of every thread, lmdb-js's and libuv's included): the storage
 * part of an agent's CPU per write, without the network, the codec or the Raft core. The load is
 * an agent's under 64 clients in one process: batches of about 64 KiB of entries of
 * `--value-bytes`, 8 in flight, a small snapshot every 12 MiB of entries followed by the
 * compaction of the log up to 1,000 entries before it; the engine is closed (the last checkpoint)
 * before the time is read.
 *
 * With `--a=DIR`, the same load runs on the engine of the checkout in DIR (its sources, run under
 * tsx) and on this checkout's, alternating `--rounds` times, for an A/B comparison of storage
 * layouts (e.g. one LMDB record per entry against runs, storage/lmdb/lmdb-log-runs.ts).
 *
 *     npm run bench -- wal-cpu [--json] [--value-bytes 4096] [--mib 96] [--rounds 2] [--a=DIR] [--dir /path]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LogEntry } from '../contracts/log.js';
import type { PersistBatch, PersistenceEngine } from '../contracts/persistence.js';
import { formatTable, intOption, option, round } from './_figures.js';

const MIB = 1024 * 1024;
const BATCH_BYTES = 64 * 1024;
const INFLIGHT = 8;
const SNAPSHOT_EVERY_BYTES = 12 * MIB;
const KEPT_ENTRIES = 1000;
const CONFIGURATION = {
  voters: ['n1'],
  learners: [],
  oldVoters: null,
  members: [{ id: 'n1', address: '127.0.0.1:1' }],
};

interface EngineModule {
  readonly WalPersistenceEngine: { open(options: Record<string, unknown>): Promise<PersistenceEngine> };
}

function isEngineModule(module: unknown): module is EngineModule {
  return typeof module === 'object' && module !== null && 'WalPersistenceEngine' in module;
}

/** Writes `totalBytes` of entries of `valueBytes` through the engine of `root`; returns CPU ms and wall ms. */
async function load(root: string, dirBase: string, valueBytes: number, totalBytes: number) {
  const module: unknown = await import(join(root, 'storage/wal/wal-engine.ts'));
  if (!isEngineModule(module)) throw new Error(`${root}/storage/wal/wal-engine.ts exports no WalPersistenceEngine`);
  const dir = mkdtempSync(join(dirBase, 'coraft-wal-cpu-'));
  try {
    const engine = await module.WalPersistenceEngine.open({
      path: dir,
      createDirectory: true,
      mapSizeInitialBytes: 256 * MIB,
      mapSizeMaxBytes: 2048 * MIB,
    });
    const perBatch = Math.max(1, Math.floor(BATCH_BYTES / valueBytes));
    const cpu = process.cpuUsage();
    const started = performance.now();
    let next = 1;
    let written = 0;
    let sinceSnapshot = 0;
    const inflight: Promise<void>[] = [];
    while (written < totalBytes) {
      const entries: LogEntry[] = [];
      for (let k = 0; k < perBatch; k += 1, next += 1)
        entries.push({ index: next, term: 1, type: 'command', command: new Uint8Array(valueBytes).fill(next & 0xff) });
      written += perBatch * valueBytes;
      sinceSnapshot += perBatch * valueBytes;
      let compactBefore: number | null = null;
      const at = next - perBatch - 1 - KEPT_ENTRIES;
      if (sinceSnapshot >= SNAPSHOT_EVERY_BYTES && at > 0) {
        sinceSnapshot = 0;
        const snapshot = {
          lastIncludedIndex: at,
          lastIncludedTerm: 1,
          configuration: CONFIGURATION,
          data: new Uint8Array(4096),
        };
        inflight.push(
          engine.persist({ snapshot, truncateFrom: null, entries: [], compactBefore: null, hardState: null }),
        );
        compactBefore = at + 1;
      }
      const batch: PersistBatch = { snapshot: null, truncateFrom: null, entries, compactBefore, hardState: null };
      inflight.push(engine.persist(batch));
      while (inflight.length >= INFLIGHT) await inflight.shift();
    }
    await Promise.all(inflight);
    await engine.close();
    const used = process.cpuUsage(cpu);
    return { cpuMs: (used.user + used.system) / 1000, wallMs: performance.now() - started };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const valueBytes = intOption(args, 'value-bytes', 4096, 16, 1024 * 1024);
  const mib = intOption(args, 'mib', 96, 1, 4096);
  const rounds = intOption(args, 'rounds', 2, 1, 100);
  const other = option(args, 'a', '');
  const dirBase = option(args, 'dir', tmpdir());
  const here = resolve(import.meta.dirname, '..');
  const sides =
    other === ''
      ? [['this', here]]
      : [
          ['A', resolve(other)],
          ['B', here],
        ];
  const rows: string[][] = [];
  const figures: Record<string, { cpuMsPerMib: number[] }> = {};
  for (let r = 0; r < rounds; r += 1) {
    for (const [name, root] of r % 2 === 0 ? sides : [...sides].reverse()) {
      if (name === undefined || root === undefined) continue;
      const { cpuMs, wallMs } = await load(root, dirBase, valueBytes, mib * MIB);
      (figures[name] ??= { cpuMsPerMib: [] }).cpuMsPerMib.push(round(cpuMs / mib, 2));
      rows.push([
        name,
        String(r + 1),
        String(round(cpuMs, 0)),
        String(round(cpuMs / mib, 2)),
        String(round(wallMs, 0)),
      ]);
    }
  }
  process.stdout.write(`wal-cpu: ${mib} MiB of ${valueBytes} B entries per run\n`);
  process.stdout.write(`${formatTable(['side', 'round', 'CPU ms', 'CPU ms per MiB', 'wall ms'], rows)}\n`);
  return { valueBytes, mib, sides: figures };
}
