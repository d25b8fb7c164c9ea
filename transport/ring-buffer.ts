/**
 * A fixed-capacity FIFO ring buffer (after etcd-io/raft's inflights and undici's FixedQueue):
 * O(1) push and shift, no allocation after construction, and a hard bound.
 */
import { assert } from '../contracts/assert.js';

/** A bounded FIFO queue. */
export class RingBuffer<T> {
  private readonly items: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity >= 1, 'ring buffer capacity is a positive integer');
    this.items = new Array<T | undefined>(capacity).fill(undefined);
  }

  get length(): number {
    return this.count;
  }

  isFull(): boolean {
    return this.count === this.capacity;
  }

  /** Appends `item`; the buffer must not be full. */
  push(item: T): void {
    assert(this.count < this.capacity, 'push onto a ring buffer that is not full');
    this.items[(this.head + this.count) % this.capacity] = item;
    this.count += 1;
  }

  /** The oldest item, or undefined when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count -= 1;
    return item;
  }

  /** Removes every item. */
  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}
