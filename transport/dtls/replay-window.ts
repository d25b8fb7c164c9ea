/**
 * The anti-replay window of RFC 6347 §4.1.2.6: a record is accepted when its sequence number
 * is newer than the highest seen, or within the window behind it and not yet seen. The
 * window is updated only after the record authenticates, so forged records cannot move it.
 *
 * The bitmap is a ring indexed by sequence number modulo the window size: slot `s % size`
 * holds whether `s` was seen, for `s` in (highest - size, highest].
 */
import { SEQUENCE_NUMBER_MAX } from './constants.js';
import { assert } from '../../contracts/assert.js';

/** Smallest window size accepted, in records (RFC 6347 §4.1.2.6 requires at least 32). */
export const REPLAY_WINDOW_SIZE_MIN = 32;
/** Largest window size accepted, in records. */
export const REPLAY_WINDOW_SIZE_MAX = 1024;

/** A sliding window over 48-bit sequence numbers of one epoch. */
export class ReplayWindow {
  private readonly seen: Uint8Array;
  // Invariant: highest is -1 (nothing seen) or the largest sequence number marked.
  private highest = -1;

  constructor(readonly size: number) {
    assert(Number.isSafeInteger(size), 'replay window size is an integer');
    assert(size >= REPLAY_WINDOW_SIZE_MIN && size <= REPLAY_WINDOW_SIZE_MAX, 'replay window size within limits');
    this.seen = new Uint8Array(size);
  }

  /** Whether a record with `seq` may be new: newer than the highest, or in-window and unseen. */
  check(seq: number): boolean {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq > SEQUENCE_NUMBER_MAX) return false;
    if (seq > this.highest) return true;
    if (seq <= this.highest - this.size) return false;
    return this.seen[seq % this.size] === 0;
  }

  /** Marks `seq` as received; call only after the record authenticated and `check` passed. */
  mark(seq: number): void {
    assert(this.check(seq), 'only a checked sequence number is marked');
    if (seq > this.highest) {
      const advance = Math.min(seq - this.highest, this.size);
      // Clear the slots the window slides over: they now stand for new, unseen numbers.
      for (let i = 1; i <= advance; i += 1) this.seen[(seq - advance + i) % this.size] = 0;
      this.highest = seq;
    }
    this.seen[seq % this.size] = 1;
    assert(this.highest >= seq, 'highest covers the marked number');
  }

  /** The highest sequence number marked, or -1. */
  highestSeq(): number {
    return this.highest;
  }
}
