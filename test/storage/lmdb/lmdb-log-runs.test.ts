// Proves the runs of log entries (storage/lmdb/lmdb-log-runs.ts):
// - a run record round-trips its entries exactly, and any single damaged byte, a key that is not
//   its first index, or a truncated record is STORAGE_CORRUPT;
// - property, on a real LMDB environment: for any sequence of appends (one entry per record, as the
//   LMDB engine and earlier formats write, or in runs of any size limit, mixed) and of deletions
//   of a prefix or a suffix of the log that begin or end anywhere, inside a run included, the log
//   read back (readLogRange over the whole log and over any sub-range, and the terms a scan of the
//   records gives, as the projection at open reads them) equals a model of the log.
// Properties replay with FC_SEED/FC_PATH.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { LogEntry, LogIndex } from '../../../contracts/log.js';
import { openHandles } from '../../../storage/lmdb/lmdb-open.js';
import type { LmdbHandles } from '../../../storage/lmdb/lmdb-open.js';
import { resolveLmdbOptions } from '../../../storage/lmdb/lmdb-options.js';
import {
  LOG_RUN_BYTES_MAX,
  decodeLogRecord,
  encodeRun,
  logRecordTerms,
  readLogRange,
} from '../../../storage/lmdb/lmdb-log-runs.js';
import { parseEntryKey } from '../../../storage/lmdb/lmdb-records.js';
import { applyStep, encodePlans } from '../../../storage/lmdb/lmdb-write-plan.js';
import { commandFor, lmdbTestOptions, makeTempDir, removeDir } from '../helpers.js';
import { fcParams } from '../../fc-params.js';

function run(first: LogIndex, count: number, term: number, bytes: number): LogEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: first + i,
    term,
    type: i % 5 === 4 ? ('noop' as const) : ('command' as const),
    command: commandFor(first + i, bytes),
  }));
}

type Op =
  | {
      readonly kind: 'append';
      readonly count: number;
      readonly bytes: number;
      readonly newTerm: boolean;
      readonly runBytesMax: number | null;
    }
  | { readonly kind: 'truncate' | 'compact'; readonly at: number };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      count: fc.integer({ min: 1, max: 60 }),
      bytes: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 1000, max: 5000 })),
      newTerm: fc.boolean(),
      runBytesMax: fc.constantFrom(null, 100, 4096, LOG_RUN_BYTES_MAX),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), at: fc.nat() }) },
);

async function transaction(handles: LmdbHandles, plan: Parameters<typeof encodePlans>[0], runBytesMax: number | null) {
  const steps = encodePlans(plan, runBytesMax);
  await handles.env.childTransaction(() => {
    for (const step of steps) applyStep(step, handles.log, handles.meta);
  });
}

function scanTerms(handles: LmdbHandles): { first: LogIndex | null; terms: number[] } {
  let first: LogIndex | null = null;
  const terms: number[] = [];
  for (const { key, value } of handles.log.getRange({})) {
    const keyIndex = parseEntryKey(key);
    first ??= keyIndex;
    assert.equal(keyIndex, first + terms.length, 'records follow each other without gaps');
    terms.push(...logRecordTerms(keyIndex, value));
  }
  return { first, terms };
}

describe('LMDB log runs', () => {
  it('round-trips a run exactly and refuses a damaged one', () => {
    const entries = run(7, 5, 3, 100);
    const value = encodeRun(entries);
    assert.deepStrictEqual(decodeLogRecord(7, value), entries);
    assert.deepStrictEqual(decodeLogRecord(7, value, 8, 9), entries.slice(1, 3));
    assert.deepStrictEqual(logRecordTerms(7, value), [3, 3, 3, 3, 3]);
    assert.throws(() => decodeLogRecord(8, value), { code: 'STORAGE_CORRUPT', message: /starts at 7/ });
    assert.throws(() => decodeLogRecord(7, value.subarray(0, value.length - 1)), { code: 'STORAGE_CORRUPT' });
    for (let at = 0; at < value.length; at += 1) {
      const damaged = Buffer.from(value);
      damaged[at] = (damaged[at] ?? 0) ^ 0x41;
      assert.throws(() => decodeLogRecord(7, damaged), { code: 'STORAGE_CORRUPT' }, `byte ${at}`);
    }
  });

  it('reads back, for any appends and prefix or suffix deletions, exactly the log a model holds', async function () {
    this.timeout(120_000);
    await fc.assert(
      fc.asyncProperty(fc.array(opArbitrary, { minLength: 1, maxLength: 14 }), async (ops) => {
        const dir = makeTempDir('coraft-runs-');
        const handles = openHandles(resolveLmdbOptions(lmdbTestOptions(dir)));
        try {
          let log: LogEntry[] = [];
          let next = 1;
          let term = 1;
          for (const op of ops) {
            const first = log[0]?.index ?? next;
            const last = first + log.length - 1;
            if (op.kind === 'append') {
              if (op.newTerm) term += 1;
              const added = run(next, op.count, term, op.bytes);
              // Two plans in one transaction, as the checkpoint packs consecutive records together.
              const half = Math.floor(added.length / 2);
              const plans = [
                [{ kind: 'append' as const, entries: added.slice(0, half) }],
                [{ kind: 'append' as const, entries: added.slice(half) }],
              ];
              await transaction(
                handles,
                plans.filter((p) => p[0]!.entries.length > 0),
                op.runBytesMax,
              );
              log = [...log, ...added];
              next += op.count;
            } else if (log.length > 0) {
              const at = first + (op.at % log.length);
              const [from, to] = op.kind === 'truncate' ? [at, last] : [first, at];
              await transaction(handles, [[{ kind: 'delete', from, to }]], null);
              log = log.filter((entry) => entry.index < from || entry.index > to);
              if (op.kind === 'truncate') next = from;
            }
            const start = log[0]?.index ?? next;
            const end = start + log.length - 1;
            assert.deepStrictEqual(readLogRange(handles.log, start, end, dir), log);
            assert.deepStrictEqual(readLogRange(handles.log, start, Number.MAX_SAFE_INTEGER, dir), log);
            if (log.length > 0) {
              const a = start + (op.kind === 'append' ? op.count % log.length : 0);
              const b = Math.min(end, a + 7);
              assert.deepStrictEqual(readLogRange(handles.log, a, b, dir), log.slice(a - start, b - start + 1));
            }
            const scanned = scanTerms(handles);
            assert.deepStrictEqual(
              scanned.terms,
              log.map((entry) => entry.term),
            );
            if (log.length > 0) assert.equal(scanned.first, start);
          }
        } finally {
          await handles.env.close();
          removeDir(dir);
        }
      }),
      fcParams(60, 'lmdb log runs model'),
    );
  });

  it('refuses to delete entries that are not stored, leaving the log as it was', async () => {
    const dir = makeTempDir('coraft-runs-');
    const handles = openHandles(resolveLmdbOptions(lmdbTestOptions(dir)));
    try {
      const entries = run(5, 10, 1, 10);
      await transaction(handles, [[{ kind: 'append', entries }]], LOG_RUN_BYTES_MAX);
      await assert.rejects(transaction(handles, [[{ kind: 'delete', from: 1, to: 6 }]], null), {
        code: 'RAFT_INVARIANT',
      });
      await assert.rejects(transaction(handles, [[{ kind: 'delete', from: 12, to: 20 }]], null), {
        code: 'RAFT_INVARIANT',
      });
      assert.deepStrictEqual(readLogRange(handles.log, 5, 14, dir), entries);
    } finally {
      await handles.env.close();
      removeDir(dir);
    }
  });
});
