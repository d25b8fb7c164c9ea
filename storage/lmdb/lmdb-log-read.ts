/**
 * Reading the `log` database in index order without a copy per record: lmdb-js's range iterator
 * copies every binary value out of its read buffer into a new Buffer, which a caller that checks a
 * record (the projection at open) or copies its command anyway (load) does not need. Here the keys
 * are iterated and each value is read with getBinaryFast, a view of LMDB's read buffer that is
 * valid until the next read: the visitor checks or copies it at once. Measured on a restart with a
 * 10 MB log of 4 KiB entries (bench/restart-data.ts), this halved the time of both scans.
 */
import { PersistenceError, describeError } from '../../contracts/errors.js';
import type { LogIndex } from '../../contracts/log.js';
import type { StoredLogBuilder } from '../stored-log.js';
import { decodeEntry, entryRecordHeader, parseEntryKey } from './lmdb-records.js';

/**
 * The value getBinaryFast returned as a view of exactly its bytes. lmdb-js returns its whole read
 * buffer (16 MiB) with `length` set to the value's size, but `byteLength`, `subarray` and `set`
 * see the whole buffer.
 */
export function fastValue(bytes: Uint8Array | undefined): Uint8Array | undefined {
  return bytes === undefined ? undefined : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** What reading the log needs of the `log` database. */
export interface LogReader {
  getKeys(range: { readonly start?: Uint8Array; readonly end?: Uint8Array }): Iterable<unknown>;
  /** The value of `key` in LMDB's reused read buffer, valid until the next read (lmdb-js). */
  getBinaryFast(key: Uint8Array): Uint8Array | undefined;
}

/**
 * Calls `visit(index, value)` for every record of `log` in `range` (keys as in lmdb-records.ts),
 * in index order; `value` is valid only during the call. Synchronous, so no write can come between
 * a key and its value.
 */
export function forEachLogRecord(
  log: LogReader,
  range: { readonly start?: Uint8Array; readonly end?: Uint8Array },
  visit: (index: LogIndex, value: Uint8Array) => void,
  path: string,
): void {
  for (const key of log.getKeys(range)) {
    const index = parseEntryKey(key);
    if (!(key instanceof Uint8Array)) throw new PersistenceError('STORAGE_CORRUPT', `${path}: log key is not bytes`);
    const value = fastValue(log.getBinaryFast(key));
    if (value === undefined)
      throw new PersistenceError('STORAGE_CORRUPT', `${path}: log entry ${index} vanished while the log was read`);
    visit(index, value);
  }
}

/**
 * `read()`'s result; an error that is not already a PersistenceError (lmdb-js failing to read its
 * map) becomes STORAGE_IO naming `what` was read, so that a failed read stops the node as a failed
 * write does (contracts/persistence.ts, LogReader).
 */
export function readOrFail<T>(read: () => T, what: string, path: string): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof PersistenceError) throw error;
    throw new PersistenceError(
      'STORAGE_IO',
      `${path}: reading ${what} failed (${describeError(error)}); check the disk and restart the node`,
      { cause: error },
    );
  }
}

/**
 * Adds the records of `log` in `range` to `builder` (a restart's StoredLog): their headers only,
 * the whole entry of a configuration record.
 */
export function addLogShapes(
  log: LogReader,
  range: { readonly start?: Uint8Array; readonly end?: Uint8Array },
  builder: StoredLogBuilder,
  path: string,
): void {
  forEachLogRecord(
    log,
    range,
    (index, value) => {
      const header = entryRecordHeader(index, value);
      builder.add(
        index,
        header.term,
        header.type,
        header.commandBytes,
        header.type === 'config' ? decodeEntry(index, value) : null,
      );
    },
    path,
  );
}
