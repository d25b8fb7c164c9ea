/**
 * The AppendEntries in flight to one follower: a fixed-capacity ring buffer of the last index
 * and byte size of each unacknowledged append, bounded in count and bytes (after etcd-io/raft
 * tracker/inflights.go). The leader stops sending to a follower whose window is full.
 */
import { assert } from '../../contracts/assert.js';
import type { LogIndex } from '../../contracts/log.js';

export class Inflights {
  private readonly lastIndexes: number[];
  private readonly sizes: number[];
  /** Slot of the oldest in-flight append. */
  private start = 0;
  /** Number of appends in flight. Invariant: 0 <= count <= countMax. */
  private count = 0;
  /** Bytes in flight. Invariant: 0 <= bytes; equals the sum of sizes of the live slots. */
  private bytes = 0;

  constructor(
    private readonly countMax: number,
    private readonly bytesMax: number,
  ) {
    assert(Number.isSafeInteger(countMax) && countMax > 0, 'inflight count limit is positive');
    assert(bytesMax > 0, 'inflight byte limit is positive');
    this.lastIndexes = new Array<number>(countMax).fill(0);
    this.sizes = new Array<number>(countMax).fill(0);
  }

  /** Records an append whose last entry is `lastIndex`; indexes must increase. */
  add(lastIndex: LogIndex, sizeBytes: number): void {
    assert(!this.full(), 'no append is added to a full window');
    if (this.count > 0) {
      const newest = this.lastIndexes[(this.start + this.count - 1) % this.countMax];
      assert(newest !== undefined && lastIndex > newest, 'in-flight indexes increase');
    }
    const slot = (this.start + this.count) % this.countMax;
    this.lastIndexes[slot] = lastIndex;
    this.sizes[slot] = sizeBytes;
    this.count += 1;
    this.bytes += sizeBytes;
  }

  /** Frees every append whose last index is <= `index` (they were acknowledged). */
  freeLE(index: LogIndex): void {
    while (this.count > 0) {
      const oldest = this.lastIndexes[this.start];
      const size = this.sizes[this.start];
      assert(oldest !== undefined && size !== undefined, 'live slot holds values');
      if (oldest > index) break;
      this.bytes -= size;
      this.start = (this.start + 1) % this.countMax;
      this.count -= 1;
    }
    assert(this.bytes >= 0, 'in-flight bytes stay non-negative');
    if (this.count === 0) this.bytes = 0;
  }

  /** True when no more appends may be sent: the count or the byte limit is reached. */
  full(): boolean {
    return this.count >= this.countMax || this.bytes >= this.bytesMax;
  }

  size(): number {
    return this.count;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
