// Proves the core's log window (agent/core/log-window.ts through RaftLog). Property, over long
// random runs of appends, persists (the Ready's unstable entries written to a MemoryDisk, then
// marked stable), commits, applies in batches, truncations of uncommitted entries and local
// snapshots that compact: after every step the payloads the log keeps of applied, durable entries
// are at most its budget (residentBytesMax), the invariants hold, and every slice, from memory or
// read back from the disk, is exactly the model log's entries within its count and byte limits;
// entries older than the window do come from the disk. Replays with FC_SEED/FC_PATH.
// Restarts are among the steps (issue 17): the node loses what the disk does not hold and starts
// from the disk's log shape alone (RaftLog.fromStored: terms and sizes, no payload), so the same
// property then covers durable entries that are not applied and not in memory: they are applied
// in order, read back in batches, truncated and sent like the others.
// Also: a read the disk cannot serve is a PersistenceError, never a short slice.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { RaftLog, entryBytes } from '../../../agent/core/log.js';
import type { LogEntry, LogIndex } from '../../../contracts/log.js';
import type { LogReader } from '../../../contracts/persistence.js';
import { EMPTY_BATCH, MemoryDisk } from '../../../storage/memory.js';
import { StoredLogBuilder } from '../../../storage/stored-log.js';
import { fcParams } from '../../fc-params.js';

const BUDGET = 600;

type Op =
  | { readonly kind: 'append'; readonly count: number; readonly size: number; readonly newTerm: boolean }
  | { readonly kind: 'persist' }
  | { readonly kind: 'commit'; readonly ahead: number }
  | { readonly kind: 'apply'; readonly bytes: number }
  | { readonly kind: 'truncate'; readonly back: number }
  | { readonly kind: 'compact'; readonly keep: number }
  | { readonly kind: 'slice'; readonly at: number; readonly count: number; readonly bytes: number }
  | { readonly kind: 'restart' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    count: fc.integer({ min: 1, max: 8 }),
    size: fc.integer({ min: 0, max: 120 }),
    newTerm: fc.boolean(),
  }),
  fc.constant({ kind: 'persist' as const }),
  fc.record({ kind: fc.constant('commit' as const), ahead: fc.integer({ min: 1, max: 10 }) }),
  fc.record({ kind: fc.constant('apply' as const), bytes: fc.integer({ min: 1, max: 800 }) }),
  fc.record({ kind: fc.constant('truncate' as const), back: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('compact' as const), keep: fc.integer({ min: 0, max: 30 }) }),
  fc.record({
    kind: fc.constant('slice' as const),
    at: fc.nat(),
    count: fc.integer({ min: 1, max: 20 }),
    bytes: fc.integer({ min: 1, max: 2000 }),
  }),
  fc.constant({ kind: 'restart' as const }),
);

/** The log a node restarts with on `disk` after a snapshot at snapshotIndex/snapshotTerm: its shape only. */
function restarted(disk: MemoryDisk, snapshotIndex: LogIndex, snapshotTerm: number, reader: LogReader): RaftLog {
  const builder = new StoredLogBuilder(disk.entries[0]?.index ?? snapshotIndex + 1, 'disk');
  for (const entry of disk.entries) builder.add(entry.index, entry.term, entry.type, entry.command.byteLength, null);
  const log = RaftLog.fromStored(snapshotIndex, snapshotTerm, builder.build(), { reader, residentBytesMax: BUDGET });
  assert.equal(log.residentFirstIndex(), log.lastIndex() + 1, 'a restarted log holds no payload');
  return log;
}

/** A reader over the disk's durable entries that counts what it served. */
class DiskReader implements LogReader {
  served = 0;
  constructor(private readonly disk: MemoryDisk) {}
  readEntries(from: LogIndex, to: LogIndex): LogEntry[] {
    const first = this.disk.firstIndex();
    const entries = this.disk.entries.slice(from - first, to + 1 - first);
    this.served += entries.length;
    return entries;
  }
  firstStoredIndex(): LogIndex | null {
    return this.disk.entries[0]?.index ?? null;
  }
}

/** Runs `ops` on a log with a window of BUDGET bytes, checking the property after each; returns entries read. */
function run(ops: readonly Op[]): number {
  const disk = new MemoryDisk();
  const reader = new DiskReader(disk);
  let log = new RaftLog(0, 0, [], { reader, residentBytesMax: BUDGET });
  const model = new Map<LogIndex, LogEntry>();
  let term = 1;
  for (const step of ops) {
    apply(step);
    log.checkInvariants();
    assert.ok(log.residentDoneBytes() <= BUDGET, `resident ${log.residentDoneBytes()} > ${BUDGET}`);
  }
  return reader.served;

  function apply(step: Op): void {
    switch (step.kind) {
      case 'append':
        if (step.newTerm) term += 1;
        for (let i = 0; i < step.count; i += 1) {
          const index = log.lastIndex() + 1;
          const entry: LogEntry = { index, term, type: 'command', command: new Uint8Array(step.size).fill(index) };
          log.appendOwn(entry);
          model.set(index, entry);
        }
        return;
      case 'persist': {
        const unstable = log.takeUnstable();
        disk.apply({ ...EMPTY_BATCH, truncateFrom: unstable.truncateFrom, entries: unstable.entries });
        const last = unstable.entries[unstable.entries.length - 1];
        if (last !== undefined) log.stableTo(last.index, last.term);
        return;
      }
      case 'commit':
        log.commitTo(Math.min(log.lastIndex(), log.commitIndex + step.ahead));
        return;
      case 'apply': {
        const committed = log.takeCommitted(step.bytes);
        for (const entry of committed) assert.equal(entry, model.get(entry.index));
        const last = committed[committed.length - 1];
        if (last !== undefined) log.appliedTo(last.index);
        return;
      }
      case 'truncate': {
        const from = Math.max(log.commitIndex + 1, log.firstIndex(), log.lastIndex() + 1 - step.back);
        if (from > log.lastIndex()) return;
        log.truncateFrom(from);
        for (let index = from; model.has(index); index += 1) model.delete(index);
        return;
      }
      case 'compact': {
        const index = log.appliedIndex;
        const termAt = log.term(index);
        if (index <= log.snapshotIndex() || termAt === null) return;
        const before = Math.max(log.firstIndex(), index + 1 - step.keep);
        log.compact(index, termAt, before);
        disk.apply({ ...EMPTY_BATCH, compactBefore: before });
        return;
      }
      case 'slice': {
        const first = log.firstIndex();
        const from = first + (step.at % (log.lastIndex() - first + 2));
        const slice = log.slice(from, step.count, step.bytes);
        assert.ok(slice !== null, 'nothing at or after the first index is compacted');
        const expected: LogEntry[] = [];
        let bytes = 0;
        for (let index = from; index <= log.lastIndex() && expected.length < step.count; index += 1) {
          const entry = model.get(index);
          assert.ok(entry !== undefined, `the model holds ${index}`);
          if (expected.length > 0 && bytes + entryBytes(entry) > step.bytes) break;
          bytes += entryBytes(entry);
          expected.push(entry);
        }
        assert.deepStrictEqual(slice, expected);
        return;
      }
      case 'restart': {
        // A crash: what was not persisted is gone, and a truncation not yet persisted is undone.
        log = restarted(disk, log.snapshotIndex(), log.snapshotTerm(), reader);
        model.clear();
        for (const entry of disk.entries) model.set(entry.index, entry);
        return;
      }
    }
  }
}

describe('the log window', () => {
  it('keeps at most its budget of applied, durable payloads and serves every slice exactly (property)', () => {
    let read = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 50, maxLength: 400 }), (ops) => {
        read += run(ops);
      }),
      fcParams(200, 'log window budget'),
    );
    assert.ok(read > 0, 'entries older than the window were read back from the disk');
  });

  it('throws a PersistenceError when storage cannot serve an entry the log dropped from memory', () => {
    const disk = new MemoryDisk();
    const reader: LogReader = {
      readEntries: () => [],
      firstStoredIndex: () => 1,
    };
    const log = new RaftLog(0, 0, [], { reader, residentBytesMax: 0 });
    for (let index = 1; index <= 5; index += 1)
      log.appendOwn({ index, term: 1, type: 'command', command: new Uint8Array(10) });
    const unstable = log.takeUnstable();
    disk.apply({ ...EMPTY_BATCH, entries: unstable.entries });
    log.stableTo(5, 1);
    log.commitTo(5);
    log.appliedTo(log.takeCommitted(1 << 20).length);
    assert.equal(log.residentFirstIndex(), 6, 'the applied, durable entries left memory');
    assert.throws(() => log.slice(2, 10, 1 << 20), { name: 'PersistenceError', code: 'STORAGE_CORRUPT' });
  });
});
