/**
 * Snapshot hold benchmark: how long log appends wait while a snapshot is written and committed
 * through a SnapshotWriter (PersistenceEngine.beginSnapshot), for the LMDB engine and the
 * write-ahead-log engine. A background load persists one 4 KiB entry every 2 ms; meanwhile a
 * snapshot of `--image-mib` is written in 256 KiB chunks (a yield to the event loop after each,
 * as the runtime's snapshot job does) and committed, and one more append is issued right after
 * commit() is called. Reported per round: how long the chunks took to write, how long the commit
 * took, how long the append issued at the commit waited (the hold of the storage queue by the
 * commit), and the largest and 99th-percentile wait of the background appends.
 *
 * The engine API is the same before and after the LMDB-based engines streamed their snapshots, so
 * the file runs on either for an A/B comparison.
 *
 *     npm run bench -- snapshot-hold [--json] [--engines lmdb,wal] [--image-mib 32] [--rounds 3] [--dir /path]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry, SnapshotMeta } from '../contracts/log.js';
import type { PersistBatch, PersistenceEngine } from '../contracts/persistence.js';
import { LmdbPersistenceEngine } from '../storage/lmdb/lmdb-engine.js';
import { WalPersistenceEngine } from '../storage/wal/wal-engine.js';
import { intOption, option } from './_figures.js';

const MIB = 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;
const VALUE = new Uint8Array(4096).fill(7);
const LOAD_INTERVAL_MS = 2;
const EMPTY: PersistBatch = { snapshot: null, truncateFrom: null, entries: [], compactBefore: null, hardState: null };
const CONFIGURATION = {
  voters: ['n1'],
  learners: [],
  oldVoters: null,
  members: [{ id: 'n1', address: '127.0.0.1:1' }],
};

/** The figures of one round. */
interface Round {
  readonly committed: boolean;
  readonly writeMs: number;
  readonly commitMs: number;
  readonly appendAtCommitMs: number;
  readonly appendMaxMs: number;
  readonly appendP99Ms: number;
  readonly appends: number;
}

function entryAt(index: number): LogEntry {
  return { index, term: 1, type: 'command', command: VALUE };
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Appends one entry every LOAD_INTERVAL_MS until `stop()`, which resolves with their waits once all are durable. */
function backgroundLoad(engine: PersistenceEngine, next: () => number): { stop(): Promise<number[]> } {
  const waits: number[] = [];
  const pending: Promise<void>[] = [];
  const timer = setInterval(() => {
    const started = performance.now();
    pending.push(
      engine.persist({ ...EMPTY, entries: [entryAt(next())] }).then(() => {
        waits.push(performance.now() - started);
      }),
    );
  }, LOAD_INTERVAL_MS);
  return {
    stop: async () => {
      clearInterval(timer);
      await Promise.all(pending);
      return waits.sort((a, b) => a - b);
    },
  };
}

async function runRound(
  engine: PersistenceEngine,
  image: Uint8Array,
  next: () => number,
  last: () => number,
): Promise<Round> {
  const load = backgroundLoad(engine, next);
  await new Promise((resolve) => setTimeout(resolve, 50));
  const meta: SnapshotMeta = { lastIncludedIndex: last(), lastIncludedTerm: 1, configuration: CONFIGURATION };
  const writer = engine.beginSnapshot(meta, image.byteLength);
  const started = performance.now();
  for (let at = 0; at < image.byteLength; at += CHUNK_BYTES) {
    await writer.write(image.slice(at, at + CHUNK_BYTES));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const written = performance.now();
  const committing = writer.commit();
  const appended = engine.persist({ ...EMPTY, entries: [entryAt(next())] }).then(() => performance.now() - written);
  const committed = await committing;
  const commitMs = performance.now() - written;
  const appendAtCommitMs = await appended;
  const waits = await load.stop();
  await engine.persist({ ...EMPTY, compactBefore: meta.lastIncludedIndex });
  return {
    committed,
    writeMs: round1(written - started),
    commitMs: round1(commitMs),
    appendAtCommitMs: round1(appendAtCommitMs),
    appendMaxMs: round1(waits[waits.length - 1] ?? 0),
    appendP99Ms: round1(waits[Math.floor(waits.length * 0.99)] ?? 0),
    appends: waits.length,
  };
}

async function runEngine(name: string, dir: string, imageMib: number, rounds: number): Promise<Round[]> {
  const path = mkdtempSync(join(dir, 'coraft-snapshot-hold-'));
  const engine =
    name === 'lmdb' ? await LmdbPersistenceEngine.open({ path }) : await WalPersistenceEngine.open({ path });
  const image = new Uint8Array(imageMib * MIB);
  for (let i = 0; i < image.byteLength; i += 4096) image[i] = i & 0xff;
  let index = 0;
  const results: Round[] = [];
  try {
    for (let round = 0; round < rounds; round += 1) {
      const result = await runRound(
        engine,
        image,
        () => (index += 1),
        () => index,
      );
      results.push(result);
      process.stdout.write(`${name} ${imageMib} MiB round ${round + 1}: ${JSON.stringify(result)}\n`);
    }
  } finally {
    await engine.close();
    rmSync(path, { recursive: true, force: true });
  }
  return results;
}

/** Runs the benchmark; see the module comment. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const engines = option(args, 'engines', 'lmdb,wal').split(',');
  for (const name of engines) if (name !== 'lmdb' && name !== 'wal') throw new Error(`--engines: unknown ${name}`);
  const imageMib = intOption(args, 'image-mib', 32, 1, 60);
  const rounds = intOption(args, 'rounds', 3, 1, 20);
  const dir = option(args, 'dir', tmpdir());
  const figures: Record<string, Round[]> = {};
  for (const name of engines) figures[name] = await runEngine(name, dir, imageMib, rounds);
  return { imageMib, rounds, figures };
}
