// Property 10 (persistence round-trip), shared by the engines on disk (lmdb/lmdb-model.test.ts,
// wal/wal-model.test.ts): arbitrary sequences of writes, valid and invalid, and of
// close-and-reopen leave the engine in the same observable state as the memory engine (the
// reference model). After every step both engines must have accepted or refused the write
// alike (same error code) and must answer load() and every per-field read over it
// (reference-fields.ts) identically. Operations are drawn relative to the model's current log,
// so most are valid; some leave gaps, lower terms or truncate before the first entry. Replay a
// failure with FC_SEED=... FC_PATH=....
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { HardState, LogEntry, Snapshot } from '../../contracts/log.js';
import type { PersistBatch, PersistenceEngine } from '../../contracts/persistence.js';
import { EMPTY_BATCH, MemoryDisk, MemoryPersistenceEngine } from '../../storage/memory.js';
import { CONFIGURATION, makeTempDir, removeDir } from './helpers.js';
import { fcParams } from '../fc-params.js';
import {
  getFirstLogIndex,
  getLastLogIndex,
  getLogEntries,
  getLogEntry,
  loadCurrentTerm,
  loadSnapshot,
  loadVotedFor,
} from './reference-fields.js';
import { scaledMs } from '../timing.js';

type Op =
  | {
      readonly kind: 'append';
      readonly count: number;
      readonly termBump: number;
      readonly gap: boolean;
      readonly termDrop: boolean;
      readonly bytes: number;
    }
  | { readonly kind: 'truncate'; readonly offset: number }
  | {
      readonly kind: 'snapshot';
      readonly offset: number;
      readonly termBump: number;
      readonly bytes: number;
      readonly compact: boolean;
    }
  | { readonly kind: 'compact'; readonly back: number } // back -1: the whole log
  | { readonly kind: 'hardState'; readonly termBump: number; readonly vote: string | null }
  | {
      readonly kind: 'batch';
      readonly truncate: number | null;
      readonly append: number;
      readonly compact: boolean;
      readonly vote: string | null;
    }
  | { readonly kind: 'reopen' };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.integer({ min: 0, max: 6 }),
      termBump: fc.integer({ min: 0, max: 2 }),
      gap: fc.constant(false),
      termDrop: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      bytes: fc.integer({ min: 0, max: 48 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.constant(1),
      termBump: fc.constant(0),
      gap: fc.constant(true),
      termDrop: fc.constant(false),
      bytes: fc.constant(4),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('truncate' as const), offset: fc.integer({ min: -1, max: 8 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('snapshot' as const),
      offset: fc.integer({ min: -6, max: 4 }),
      termBump: fc.integer({ min: 0, max: 1 }),
      bytes: fc.integer({ min: 0, max: 3000 }),
      compact: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('compact' as const), back: fc.constantFrom(-1, -1, 0, 1, 2, 4) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('hardState' as const),
      termBump: fc.integer({ min: 0, max: 2 }),
      vote: fc.constantFrom(null, 'n1', 'n2'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      truncate: fc.option(fc.integer({ min: -1, max: 6 })),
      append: fc.integer({ min: 0, max: 4 }),
      compact: fc.boolean(),
      vote: fc.constantFrom(null, 'n3'),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

function image(index: number, bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 1) data[i] = (index * 17 + i) & 0xff;
  return data;
}

function newEntries(start: number, count: number, term: number, bytes: number): LogEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: start + i,
    term,
    // Configuration entries too: loadShape hands them whole (contracts/persistence.ts, StoredLog).
    type: i % 3 === 2 ? 'noop' : (start + i) % 7 === 0 ? 'config' : 'command',
    command: image(start + i, bytes),
  }));
}

/** Resolves an operation against the model's disk into one batch (null for reopen). */
function toBatch(op: Op, disk: MemoryDisk): PersistBatch | null {
  const first = disk.firstIndex();
  const last = disk.lastIndex();
  const lastTerm = disk.lastTerm();
  const hard: HardState = disk.hardState;
  switch (op.kind) {
    case 'append': {
      const term = op.termDrop && lastTerm > 0 ? lastTerm - 1 : lastTerm + op.termBump;
      return { ...EMPTY_BATCH, entries: newEntries(last + 1 + (op.gap ? 1 : 0), op.count, term, op.bytes) };
    }
    case 'truncate':
      return { ...EMPTY_BATCH, truncateFrom: Math.max(0, first + op.offset) };
    case 'snapshot': {
      // Never before the first stored entry - 1: Raft snapshots what it has applied.
      const index = Math.max(first - 1, last + op.offset, 0);
      const term = Math.max(lastTerm, disk.snapshot?.lastIncludedTerm ?? 0) + op.termBump;
      const snap: Snapshot = {
        lastIncludedIndex: index,
        lastIncludedTerm: term,
        configuration: CONFIGURATION,
        data: image(index, op.bytes),
      };
      return { ...EMPTY_BATCH, snapshot: snap, compactBefore: op.compact ? index + 1 : null };
    }
    case 'compact': {
      // Compaction only below a snapshot, as Raft does, or (back -1) of the whole log.
      if (disk.snapshot === null) return { ...EMPTY_BATCH };
      if (op.back < 0)
        return { ...EMPTY_BATCH, compactBefore: Math.max(last + 1, disk.snapshot.lastIncludedIndex + 1) + 2 };
      return { ...EMPTY_BATCH, compactBefore: Math.max(0, disk.snapshot.lastIncludedIndex + 1 - op.back) };
    }
    case 'hardState':
      return { ...EMPTY_BATCH, hardState: { currentTerm: hard.currentTerm + op.termBump, votedFor: op.vote } };
    case 'batch': {
      const truncateFrom = op.truncate === null ? null : Math.max(0, first + op.truncate);
      const start = truncateFrom !== null && truncateFrom <= last ? Math.max(truncateFrom, first) : last + 1;
      const snapshotIndex = disk.snapshot?.lastIncludedIndex ?? null;
      return {
        snapshot: null,
        truncateFrom,
        entries: newEntries(start, op.append, lastTerm + 1, 8),
        compactBefore: op.compact && snapshotIndex !== null ? snapshotIndex + 1 : null,
        hardState: { currentTerm: hard.currentTerm + 1, votedFor: op.vote },
      };
    }
    case 'reopen':
      return null;
  }
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** Everything the read methods say, errors included. */
async function observe(engine: PersistenceEngine): Promise<unknown> {
  const first = await getFirstLogIndex(engine);
  const last = await getLastLogIndex(engine);
  const probes = [first - 1, first, Math.floor((first + last) / 2), last, last + 1].filter((i) => i >= 0);
  return {
    first,
    last,
    term: await loadCurrentTerm(engine),
    vote: await loadVotedFor(engine),
    snapshot: await loadSnapshot(engine),
    entries: await Promise.all(probes.map((i) => getLogEntry(engine, i))),
    range: await getLogEntries(engine, Math.max(0, first - 1), last + 1),
    load: await engine.load().catch((error: { code?: string }) => error.code),
    // The memory engine's shape is made from its entries (storage/stored-log.ts, storedLogOf).
    shape: await engine.loadShape().catch((error: { code?: string }) => error.code),
  };
}

/** Registers the property for the engine that `open` opens on a directory. */
export function modelProperty(name: string, open: (dir: string) => Promise<PersistenceEngine>, numRuns = 100): void {
  describe(`${name} engine against the memory model (Property 10)`, function () {
    this.timeout(scaledMs(60_000));

    it('ends every step in the same observable state, across reopens', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArbitrary, { minLength: 1, maxLength: 40 }), async (ops) => {
          const dir = makeTempDir();
          const disk = new MemoryDisk();
          let model: PersistenceEngine = new MemoryPersistenceEngine({ disk });
          let real: PersistenceEngine = await open(dir);
          try {
            for (const [step, op] of ops.entries()) {
              const batch = toBatch(op, disk);
              if (batch === null) {
                await model.close();
                await real.close();
                model = new MemoryPersistenceEngine({ disk });
                real = await open(dir);
              } else {
                const [expected, actual] = await Promise.all([
                  outcome(model.persist(batch)),
                  outcome(real.persist(batch)),
                ]);
                assert.equal(actual, expected, `step ${step} (${op.kind}) outcome`);
              }
              assert.deepStrictEqual(await observe(real), await observe(model), `step ${step} (${op.kind}) state`);
            }
          } finally {
            await real.close();
            removeDir(dir);
          }
        }),
        fcParams(numRuns),
      );
    });
  });
}
