/**
 * The write-ahead-log engine's reads of the durable log (wal-engine.ts): entries not yet
 * checkpointed come from the tail in memory (wal-tail.ts), the ones below it from LMDB. Both
 * `readEntries` (whole entries) and `loadShape` (a restart's StoredLog: LMDB's record headers,
 * the tail's entries) split a range so.
 */
import { InvariantError, PersistenceError } from '../../contracts/errors.js';
import type { LogEntry, LogIndex, Snapshot } from '../../contracts/log.js';
import type { PersistBatch, StoredLog } from '../../contracts/persistence.js';
import type { LogShape } from '../log-checks.js';
import type { LogProjection } from '../log-projection.js';
import { StoredLogBuilder, checkStoredLog } from '../stored-log.js';
import { addLogShapes, forEachLogRecord } from '../lmdb/lmdb-log-read.js';
import { addShapes, readLogShapes } from '../lmdb/lmdb-log-shape.js';
import type { ShapeLogReader, ShapeStore } from '../lmdb/lmdb-log-shape.js';
import { decodeEntry, entryKey, parseEntryKey } from '../lmdb/lmdb-records.js';
import type { WalTail } from './wal-tail.js';

/** Where the durable log is: LMDB's `log` database below the tail, the tail above. */
export interface DurableLog {
  readonly log: ShapeLogReader;
  /** LMDB's shape records of the log below the tail (lmdb-log-shape.ts). */
  readonly shapes: Pick<ShapeStore, 'getKeys' | 'getBinaryFast'>;
  readonly tail: WalTail;
  /** The durable log's shape (the durable projection's). */
  readonly shape: LogShape;
  readonly path: string;
}

/** Calls `fromLmdb` for the part of start..end below the tail, and returns the index the tail serves from. */
function splitAtTail(
  durable: DurableLog,
  start: LogIndex,
  end: LogIndex,
  fromLmdb: (range: { start: Uint8Array; end: Uint8Array }) => void,
): LogIndex {
  const tailFirst = durable.tail.firstIndex() ?? end + 1;
  if (start < tailFirst) fromLmdb({ start: entryKey(start), end: entryKey(Math.min(end, tailFirst - 1) + 1) });
  return Math.max(start, tailFirst);
}

/** The tail's entry at `index`, which must be durable. */
function tailEntry(durable: DurableLog, index: LogIndex): LogEntry {
  const entry = durable.tail.get(index);
  if (entry === undefined) throw new InvariantError(`entry ${index} is durable but neither in LMDB nor in the tail`);
  return entry;
}

/** The durable entries with from <= index <= to: LMDB below the tail, the tail above. */
export function readDurableEntries(durable: DurableLog, from: LogIndex, to: LogIndex): LogEntry[] {
  const start = Math.max(from, durable.shape.firstIndex);
  const end = Math.min(to, durable.shape.lastIndex);
  const entries: LogEntry[] = [];
  if (start > end) return entries;
  const fromTail = splitAtTail(durable, start, end, (range) =>
    forEachLogRecord(durable.log, range, (index, value) => entries.push(decodeEntry(index, value)), durable.path),
  );
  for (let index = fromTail; index <= end; index += 1) entries.push(tailEntry(durable, index));
  return entries;
}

/**
 * The durable log as a StoredLog (contracts/persistence.ts), checked against `snapshot`: `opened`,
 * the shape the scan at open found, when it is still the durable log's (nothing written since),
 * else read from LMDB's record headers and the tail.
 */
export function durableStoredLog(
  durable: DurableLog,
  snapshot: Pick<Snapshot, 'lastIncludedIndex'> | null,
  opened: StoredLog | null,
): StoredLog {
  if (opened !== null) {
    checkStoredLog(opened, snapshot, durable.path);
    return opened;
  }
  const { firstIndex, lastIndex } = durable.shape;
  const builder = new StoredLogBuilder(firstIndex, durable.path, Math.max(0, lastIndex + 1 - firstIndex));
  if (firstIndex <= lastIndex) {
    // LMDB's part from its shape records when they check out, else from its record headers.
    const shapes = readLogShapes(durable.shapes, durable.log);
    const fromTail = splitAtTail(durable, firstIndex, lastIndex, (range) => {
      if (shapes === null) addLogShapes(durable.log, range, builder, durable.path);
      else
        addShapes(shapes, durable.log, { from: parseEntryKey(range.start), to: parseEntryKey(range.end) - 1 }, builder);
    });
    for (let index = fromTail; index <= lastIndex; index += 1) builder.addEntry(tailEntry(durable, index));
  }
  const log = builder.build();
  if (log.commandBytes.length !== Math.max(0, lastIndex + 1 - firstIndex))
    throw new PersistenceError(
      'STORAGE_CORRUPT',
      `${durable.path}: the log holds ${log.commandBytes.length} entries from ${firstIndex} where its ` +
        `projection has ${firstIndex}..${lastIndex}`,
    );
  checkStoredLog(log, snapshot, durable.path);
  return log;
}

/**
 * What reads may be served while a write that bypasses the log (a snapshot's commit) is committed
 * to LMDB: the entries stored both before and after it. lmdb-js makes the commit visible to this
 * thread's reads as it settles, some microtasks before the durable projection follows it
 * (Checkpointer.addApplied). A leader catching a follower up read in between: it asked for
 * entries the projection still listed and that a snapshot at the last stored entry had deleted
 * from LMDB, got STORAGE_CORRUPT and stopped (issue 16: 256 clients x 64 KiB, 3 runs in 10).
 */
export class DirectCommitReads {
  /** The entries stored both before and after the write under way; null when none is. */
  private overlap: LogShape | null = null;

  /**
   * Runs `commit`, the write of `batch` onto the durable log `durable` (which it makes follow the
   * batch once committed), with reads narrowed to the entries stored both before and after it.
   */
  async during(durable: LogProjection, batch: PersistBatch, commit: () => Promise<void>): Promise<void> {
    const before = durable.shape();
    const projected = durable.clone();
    projected.apply(batch);
    const after = projected.shape();
    const firstIndex = Math.max(before.firstIndex, after.firstIndex);
    const lastIndex = Math.min(before.lastIndex, after.lastIndex);
    this.overlap =
      firstIndex <= lastIndex
        ? { firstIndex, lastIndex, lastTerm: before.lastTerm }
        : { ...after, firstIndex: after.lastIndex + 1 };
    try {
      await commit();
    } finally {
      this.overlap = null;
    }
  }

  /** `durable`'s shape, narrowed to the overlap while a write commits. */
  shape(durable: LogShape): LogShape {
    return this.overlap ?? durable;
  }
}
