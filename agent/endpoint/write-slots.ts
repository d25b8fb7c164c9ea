/**
 * The writes that wait for a slot of the endpoint's implicit session (write-session.ts) while
 * writesInFlightMax writes are in flight. A write past the slots was refused at once (5.03): with
 * 256 local clients writing at once, a quarter of their writes were refused although the node
 * kept up. Now such a write waits its turn, first come first served, within two bounds: at most
 * WRITES_WAITING_PER_SLOT waiting writes per slot and WAITING_BYTES_MAX request bytes held by
 * them all; past either it is still refused at once. A waiting write that is not given a slot by
 * its deadline (the endpoint's request timeout) gets none and is refused: nothing was submitted.
 *
 * Every slot comes back within a request timeout (a write in flight ends by then, answered or
 * not), and each one given back goes to the head of the queue, so no write waits forever.
 */
import type { Clock } from '../../contracts/clock.js';

/** Writes that may wait per slot of writesInFlightMax. */
export const WRITES_WAITING_PER_SLOT = 8;
/** Request bytes all waiting writes may hold together. */
export const WAITING_BYTES_MAX = 8 * 1024 * 1024;

interface Waiter<T> {
  readonly bytes: number;
  readonly deadlineMs: number;
  readonly resolve: (slot: T | null) => void;
}

/**
 * A first-come-first-served queue in front of `take`, which hands out a slot or null when none is free. The queue
 * holds at most `waitingMax` writes (a thousand by default), so taking the first off the array is cheap.
 */
export class SlotQueue<T> {
  private readonly waiters: Waiter<T>[] = [];
  private bytes = 0;

  constructor(
    private readonly take: () => T | null,
    private readonly clock: Clock,
    private readonly limits: { readonly waitingMax: number; readonly waitingBytesMax: number },
  ) {}

  /** Writes waiting now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * A slot for a write of `bytes`: at once when one is free and no write waits; else a promise of one once those
   * before it have theirs, or of null when `deadlineMs` passes first. Null at once when the queue is full.
   */
  acquire(bytes: number, deadlineMs: number): T | null | Promise<T | null> {
    if (this.waiters.length === 0) {
      const slot = this.take();
      if (slot !== null) return slot;
    }
    if (this.waiters.length >= this.limits.waitingMax || this.bytes + bytes > this.limits.waitingBytesMax) return null;
    this.bytes += bytes;
    return new Promise((resolve) => this.waiters.push({ bytes, deadlineMs, resolve }));
  }

  /** A slot was given back: the waiting writes take the free slots in order; one past its deadline takes none. */
  released(): void {
    for (let waiter = this.waiters[0]; waiter !== undefined; waiter = this.waiters[0]) {
      const inTime = waiter.deadlineMs > this.clock.nowMs();
      const slot = inTime ? this.take() : null;
      if (inTime && slot === null) return;
      this.waiters.shift();
      this.bytes -= waiter.bytes;
      waiter.resolve(slot);
    }
  }
}
