/**
 * The write-ahead-log engine's reads of the durable log (wal-engine.ts): entries not yet
 * checkpointed come from the tail in memory (wal-tail.ts), the ones below it from LMDB. Both
 * `readEntries` (whole entries) and `loadShape` (a restart's StoredLog: LMDB's record headers,
 * the tail's entries) split a range so.
 */
import { InvariantError, PersistenceError } from '../../contracts/errors.js';
import type { LogEntry, LogIndex, Snapshot } from '../../contracts/log.js';
import type { StoredLog } from '../../contracts/persistence.js';
import type { LogShape } from '../log-checks.js';
import { StoredLogBuilder, checkStoredLog } from '../stored-log.js';
import { addLogShapes, forEachLogRecord } from '../lmdb/lmdb-log-read.js';
import type { LogReader } from '../lmdb/lmdb-log-read.js';
import { decodeEntry, entryKey } from '../lmdb/lmdb-records.js';
import type { WalTail } from './wal-tail.js';

/** Where the durable log is: LMDB's `log` database below the tail, the tail above. */
export interface DurableLog {
  readonly log: LogReader;
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
    const fromTail = splitAtTail(durable, firstIndex, lastIndex, (range) =>
      addLogShapes(durable.log, range, builder, durable.path),
    );
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
