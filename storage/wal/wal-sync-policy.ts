/**
 * Where an append is synced in walSyncMode `auto` (wal-segments.ts): inline on the event loop
 * (one writevSync, no hand-off) or on libuv's thread pool. A lone write whose caller does nothing
 * meanwhile goes inline while the recent mean time of an inline sync is below
 * {@link AUTO_INLINE_SYNC_MS_MAX}; everything else goes to the pool.
 *
 * The mean is of the sync alone. A write on the pool is timed from the call to the callback: the
 * hand-off to a pool thread, the sync, and the wait for the event loop, which on a leader under
 * load is busy applying and answering while the write is under way (PersistOptions.overlap). Those
 * times said little of the disk, and once a disk hiccup had put the mean above the limit, the
 * pool's times (a few ms on a loaded 2-core machine) kept it there: lone writes stayed on the pool,
 * which costs more CPU and a longer path per write than an inline sync. So a pool time counts only
 * when it is below the mean (the sync took at most that long), and while lone writes go to the
 * pool, every {@link AUTO_PROBE_EVERY}th of them is synced inline to measure the disk again.
 */
import { assert } from '../../contracts/assert.js';

/** In `auto` sync mode, syncs inline only while the recent mean inline sync time is below this, ms. */
export const AUTO_INLINE_SYNC_MS_MAX = 1;
/** Weight of the latest sync in the running mean of sync times. */
export const SYNC_MEAN_WEIGHT = 0.125;
/**
 * While lone writes go to the pool, one in this many is synced inline, to measure the disk again.
 * After a 14 ms hiccup on a disk that syncs in 0.3 ms the mean is back below the limit within
 * about 6 probes (100 writes); on a disk whose syncs take 10 ms one lone write in 16 blocks the
 * event loop for one sync.
 */
export const AUTO_PROBE_EVERY = 16;

/** The choice between an inline sync and one on the pool, for walSyncMode `auto`. */
export class AutoSyncPolicy {
  /** Running mean of inline sync times (and of pool times below it), ms. */
  private meanMs = 0;
  /** Lone writes sent to the pool since the last inline one. */
  private loneOnPool = 0;

  /** The running mean, ms (for tests and diagnostics). */
  syncMeanMs(): number {
    return this.meanMs;
  }

  /** Whether to sync the next append inline; `single`: a lone write whose caller does nothing meanwhile. */
  inline(single: boolean): boolean {
    if (!single) return false;
    if (this.meanMs < AUTO_INLINE_SYNC_MS_MAX || this.loneOnPool + 1 >= AUTO_PROBE_EVERY) {
      this.loneOnPool = 0;
      return true;
    }
    this.loneOnPool += 1;
    return false;
  }

  /** Records how long an append took, ms, from the call to its result; `inline`: what {@link inline} chose. */
  record(inline: boolean, elapsedMs: number): void {
    assert(Number.isFinite(elapsedMs) && elapsedMs >= 0, `sync time ${elapsedMs} ms is a duration`);
    if (!inline && elapsedMs >= this.meanMs) return;
    this.meanMs += (elapsedMs - this.meanMs) * SYNC_MEAN_WEIGHT;
  }
}
