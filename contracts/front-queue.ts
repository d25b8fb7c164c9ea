/**
 * A queue that takes items at its back and drops them from its front (and, for a log's
 * truncation, from its back), for the agent's windows and waiting lines: the KV history window,
 * the WAL's not-yet-checkpointed tail and pending records, the peer send pacer, the CoAP server's
 * delayed acknowledgements.
 *
 * Dropping from the front moves an index rather than shifting the array (Array.prototype.shift
 * copies the whole array on every call once it is large), and **a dropped slot is emptied at
 * once**: the array is cut down to its live part only once the dropped front is at least
 * `cutAfter` slots and half the array (or the queue empties), so a dropped item left in its slot
 * would live until that cut. Four queues written each on its own kept what they dropped that way,
 * and with it their values: 46 MiB of 64 KiB values in the history window of a leader under
 * 256 clients, whose own limit is 4 MiB, and 40 MiB of commands in a follower's WAL tail (issue 17).
 * Here the emptying is the queue's own, so a new queue of this shape cannot forget it.
 */
import { assert } from './assert.js';

/** Dropped front slots a queue keeps before it cuts its array (when they are also half of it), by default. */
export const FRONT_QUEUE_CUT_AFTER = 1024;

/** See the module comment. `T` excludes undefined, which marks an emptied slot. */
export class FrontQueue<T> {
  /** Invariant: slots before `head` are undefined (dropped); slots[head..] hold the items, oldest first. */
  private slots: (T | undefined)[] = [];
  private head = 0;

  constructor(private readonly cutAfter: number = FRONT_QUEUE_CUT_AFTER) {
    assert(Number.isSafeInteger(cutAfter) && cutAfter >= 1, 'a queue cuts after some dropped slots');
  }

  /** Items held. */
  get length(): number {
    return this.slots.length - this.head;
  }

  /** The item at `position` from the front (0: the oldest); undefined outside 0 .. length - 1. */
  at(position: number): T | undefined {
    return position >= 0 && position < this.length ? this.slots[this.head + position] : undefined;
  }

  /** The oldest item, or undefined when empty. */
  first(): T | undefined {
    return this.slots[this.head];
  }

  /** The newest item, or undefined when empty. */
  last(): T | undefined {
    return this.length === 0 ? undefined : this.slots[this.slots.length - 1];
  }

  /** Adds `item` at the back. */
  push(item: T): void {
    this.slots.push(item);
  }

  /** Removes and returns the oldest item (undefined when empty). */
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.slots[this.head];
    this.drop(1);
    return item;
  }

  /** Drops the `count` oldest items (all of them when `count` is larger), emptying their slots. */
  drop(count: number): void {
    const end = this.head + Math.min(Math.max(0, count), this.length);
    for (let i = this.head; i < end; i += 1) this.slots[i] = undefined;
    this.head = end;
    if (this.head === this.slots.length) this.clear();
    else if (this.head >= this.cutAfter && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
  }

  /** Keeps the `count` oldest items and drops the rest (a truncation of the back). */
  truncate(count: number): void {
    if (count >= this.length) return;
    if (count <= 0) this.clear();
    else this.slots.length = this.head + count;
  }

  /**
   * Drops every item. Setting the length to 0 lets V8 free the array's backing store without a new
   * array: the pacer and delayed ACKs empty their queue about every turn at one client.
   */
  clear(): void {
    this.slots.length = 0;
    this.head = 0;
  }

  /** The items, oldest first, as a new array. */
  toArray(): T[] {
    const items: T[] = [];
    for (let i = this.head; i < this.slots.length; i += 1) {
      const item = this.slots[i];
      if (item !== undefined) items.push(item);
    }
    return items;
  }
}
