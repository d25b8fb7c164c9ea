/**
 * The limits the write-ahead-log engine checks before it accepts a write: sizes and positions
 * of a batch, and the room LMDB has for what the log holds (a checkpoint that failed for want
 * of room after the write was acknowledged would stop the engine with the write only in the log).
 */
import { InvariantError, PersistenceError } from '../../contracts/errors.js';
import type { PersistBatch } from '../../contracts/persistence.js';
import { assertIndex } from '../../contracts/assert.js';
import type { LmdbHandles } from '../lmdb/lmdb-open.js';
import { entryStoredBytes } from '../lmdb/lmdb-records.js';
import { checkSpace } from '../lmdb/lmdb-space.js';
import type { ResolvedWalOptions } from './wal-options.js';

/** Bytes counted for a write besides its entries and snapshot. */
const WRITE_OVERHEAD_BYTES = 64;

/** Checks the sizes and positions of a batch and returns the bytes it adds to LMDB. */
export function checkBatchLimits(batch: PersistBatch, options: ResolvedWalOptions): number {
  let bytes = WRITE_OVERHEAD_BYTES;
  if (batch.truncateFrom !== null) assertIndex(batch.truncateFrom, 'truncateFrom');
  if (batch.compactBefore !== null) assertIndex(batch.compactBefore, 'compactBefore');
  for (const entry of batch.entries) {
    if (entry.command.byteLength > options.entryBytesMax) {
      throw new InvariantError(
        `entry ${entry.index} command is ${entry.command.byteLength} bytes, beyond ` +
          `entryBytesMax ${options.entryBytesMax}`,
      );
    }
    bytes += entryStoredBytes(entry);
  }
  if (batch.snapshot !== null) {
    if (batch.snapshot.data.byteLength > options.snapshotBytesMax) {
      throw new PersistenceError(
        'STORAGE_FULL',
        `snapshot of ${batch.snapshot.data.byteLength} bytes is beyond snapshotBytesMax ${options.snapshotBytesMax}`,
      );
    }
    bytes += batch.snapshot.data.byteLength;
  }
  return bytes;
}

/**
 * LMDB's room for the log's records. The space is measured (LMDB statistics, a few
 * microseconds) at most once per walPendingBytesMax of log writes: each measurement reserves
 * that much more than needed, and writes draw on the reserve until it runs out.
 */
export class StoreRoom {
  /** Log bytes that may still be written before the space is measured again. */
  private reserveBytes = 0;

  constructor(
    private readonly handles: LmdbHandles,
    private readonly options: ResolvedWalOptions,
  ) {}

  /** Throws STORAGE_FULL unless LMDB has room for `waitingBytes` in the log plus `bytes` more. */
  takeForLog(bytes: number, waitingBytes: number): void {
    if (bytes <= this.reserveBytes) {
      this.reserveBytes -= bytes;
      return;
    }
    const needed = 2 * (waitingBytes + bytes);
    checkSpace(this.handles, needed, this.options);
    const reserve = this.options.walPendingBytesMax;
    try {
      checkSpace(this.handles, needed + 2 * reserve, this.options);
      this.reserveBytes = reserve;
    } catch (error) {
      if (!(error instanceof PersistenceError) || error.code !== 'STORAGE_FULL') throw error;
      this.reserveBytes = 0;
    }
  }

  /** Throws STORAGE_FULL unless LMDB has room for a write of `bytes` committed directly. */
  takeForDirect(bytes: number): void {
    this.reserveBytes = 0;
    checkSpace(this.handles, bytes, this.options);
  }
}
