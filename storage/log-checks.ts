/**
 * Checks shared by every persistence engine, applied on both sides of the disk: before a batch
 * is written (a caller bug must not reach the disk) and after a log is read back (a damaged
 * disk must not reach the core). Terms never decrease along the log and indexes are contiguous.
 */
import { InvariantError, PersistenceError } from '../contracts/errors.js';
import { assert, assertIndex } from '../contracts/assert.js';
import type { LogEntry, LogIndex, Snapshot, Term } from '../contracts/log.js';
import type { PersistBatch, StoredImage } from '../contracts/persistence.js';

/** The stored log as a batch sees it before it is applied. */
export interface LogShape {
  /** Index of the first stored entry, or lastIndex + 1 when none is stored. */
  readonly firstIndex: LogIndex;
  /** Index of the last stored entry, or the snapshot's last index, or 0. */
  readonly lastIndex: LogIndex;
  /** Term of the entry at lastIndex (or of the snapshot, or 0). */
  readonly lastTerm: Term;
}

/**
 * Throws InvariantError unless `batch` applied to a log of shape `shape` keeps the log
 * contiguous with non-decreasing terms, and returns the shape after the batch.
 */
export function checkBatch(shape: LogShape, batch: PersistBatch): LogShape {
  let { firstIndex, lastIndex, lastTerm } = shape;
  if (batch.snapshot !== null) {
    const snapshot = batch.snapshot;
    checkIndex(snapshot.lastIncludedIndex, 'snapshot.lastIncludedIndex');
    if (snapshot.lastIncludedIndex >= lastIndex) {
      firstIndex = snapshot.lastIncludedIndex + 1;
      lastIndex = snapshot.lastIncludedIndex;
      lastTerm = snapshot.lastIncludedTerm;
    }
  }
  if (batch.truncateFrom !== null) {
    if (batch.truncateFrom < firstIndex) {
      throw new InvariantError(`truncateFrom ${batch.truncateFrom} is before the first stored index ${firstIndex}`);
    }
    if (batch.truncateFrom <= lastIndex) {
      // The term of the new last entry is not known here; the first appended entry is checked
      // against the term it follows by the core, so only contiguity is checked below.
      lastIndex = batch.truncateFrom - 1;
      lastTerm = 0;
    }
  }
  for (const entry of batch.entries) {
    if (entry.index !== lastIndex + 1) {
      throw new InvariantError(`appended entry index ${entry.index} does not follow last index ${lastIndex}`);
    }
    if (entry.term < lastTerm) {
      throw new InvariantError(
        `appended entry ${entry.index} has term ${entry.term} below the previous term ${lastTerm}`,
      );
    }
    lastIndex = entry.index;
    lastTerm = entry.term;
  }
  if (firstIndex > lastIndex) firstIndex = lastIndex + 1;
  if (batch.compactBefore !== null && batch.compactBefore > firstIndex) {
    firstIndex = Math.min(batch.compactBefore, lastIndex + 1);
  }
  if (batch.hardState !== null) {
    checkIndex(batch.hardState.currentTerm, 'hardState.currentTerm');
  }
  return { firstIndex, lastIndex, lastTerm };
}

function checkIndex(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvariantError(`${what} is not a non-negative safe integer: ${value}`);
}

/**
 * Throws PersistenceError STORAGE_CORRUPT unless `entries` read back from disk are contiguous,
 * start right after the snapshot (when there is one and entries exist), and have
 * non-decreasing terms.
 */
export function checkLoadedLog(entries: readonly LogEntry[], snapshot: Snapshot | null): void {
  let previous: LogEntry | null = null;
  for (const entry of entries) {
    if (previous !== null) {
      if (entry.index !== previous.index + 1) {
        throw new PersistenceError(
          'STORAGE_CORRUPT',
          `log has a gap: entry ${entry.index} follows entry ${previous.index}`,
        );
      }
      if (entry.term < previous.term) {
        throw new PersistenceError(
          'STORAGE_CORRUPT',
          `log term goes backwards at entry ${entry.index}: ${entry.term} after ${previous.term}`,
        );
      }
    }
    previous = entry;
  }
  const first = entries[0];
  if (snapshot !== null && first !== undefined) {
    if (first.index > snapshot.lastIncludedIndex + 1) {
      throw new PersistenceError(
        'STORAGE_CORRUPT',
        `log starts at ${first.index}, after the snapshot's last index ${snapshot.lastIncludedIndex} + 1`,
      );
    }
  }
  if (snapshot === null && first !== undefined && first.index !== 1) {
    throw new PersistenceError('STORAGE_CORRUPT', `log starts at ${first.index} but there is no snapshot`);
  }
}

/**
 * Checks that `bytes` bytes at `offset` lie within an image of `dataBytes` (readSnapshotChunk);
 * throws InvariantError when they do not.
 */
export function checkSnapshotRange(dataBytes: number, offset: number, bytes: number): void {
  assertIndex(offset, 'snapshot chunk offset');
  assertIndex(bytes, 'snapshot chunk size');
  assert(offset + bytes <= dataBytes, `snapshot chunk ${offset}+${bytes} ends beyond the image of ${dataBytes} bytes`);
}

/**
 * readSnapshotChunk of every engine, over its storedImage (`image`, null when the stored snapshot
 * is not the one asked for): a copy of `bytes` bytes at `offset`, which the caller owns.
 */
export function chunkOf(image: StoredImage | null, offset: number, bytes: number): Uint8Array | null {
  if (image === null) return null;
  checkSnapshotRange(image.byteLength, offset, bytes);
  const chunk = new Uint8Array(bytes);
  image.copyTo(offset, chunk);
  return chunk;
}

/**
 * Throws PersistenceError STORAGE_CORRUPT unless `entries` holds exactly the entries `from`..`to`
 * in order (a gap, a missing end, a wrong index); `where` names the store in the message.
 */
export function checkReadRange(entries: readonly LogEntry[], from: LogIndex, to: LogIndex, where: string): void {
  const count = to - from + 1;
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i];
    if (entry?.index !== from + i)
      throw new PersistenceError(
        'STORAGE_CORRUPT',
        `${where}: read of entries ${from}..${to} found entry ${entry?.index ?? 'none'} where ${from + i} belongs; ` +
          'the stored log is damaged: restore this node from a snapshot (remove its data folder and re-add it)',
      );
  }
  if (entries.length !== count)
    throw new PersistenceError(
      'STORAGE_CORRUPT',
      `${where}: entries ${from + entries.length}..${to} are not stored (asked for ${from}..${to}); ` +
        'the stored log is damaged or was compacted under the reader: restart the node, and if it fails again ' +
        'restore it from a snapshot (remove its data folder and re-add it)',
    );
}

/** Throws InvariantError unless `from`..`to` is a range a LogReader may be asked for. */
export function checkReadRequest(from: LogIndex, to: LogIndex): void {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 1 || to < from)
    throw new InvariantError(`a log read asks for 1 <= from <= to, got ${from}..${to}`);
}
