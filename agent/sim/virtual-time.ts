/**
 * Virtual time for the simulator: a clock that only moves when the simulator says so, and a
 * timer queue ordered by (due time, creation order), so that a run is exactly reproducible.
 * After each timer fires, every promise continuation it caused runs before the next timer
 * (`drain`), as if each event took no time at all.
 */
import { assert } from '../../contracts/assert.js';
import type { TimerHandle, Timers } from '../../contracts/clock.js';

interface Scheduled {
  readonly dueMs: number;
  readonly order: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/** Runs every pending promise continuation (microtasks run before a macrotask). */
function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class VirtualTimers implements Timers {
  private now = 0;
  private nextOrder = 0;
  /** A binary min-heap on (dueMs, order). */
  private readonly heap: Scheduled[] = [];
  /** Timers fired since creation, for statistics. */
  firedCount = 0;

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    assert(Number.isFinite(delayMs), 'timer delay is finite');
    const item: Scheduled = {
      dueMs: this.now + Math.max(0, delayMs),
      order: this.nextOrder,
      callback,
      cancelled: false,
    };
    this.nextOrder += 1;
    this.push(item);
    return {
      cancel: () => {
        item.cancelled = true;
      },
    };
  }

  /** Pending timers (cancelled ones included until they come due). */
  pendingCount(): number {
    return this.heap.length;
  }

  /**
   * Runs virtual time in steps of 100 ms until `stopping` settles (at most 1,000 steps, then waits
   * for it): what stops clients that need time to give up. `afterEach` runs after every instant; its
   * answer does not end the run (a violation it records fails the run at its end).
   */
  async runWhile(stopping: Promise<void>, afterEach: () => void = () => undefined): Promise<void> {
    let stopped = false;
    const done = stopping.then(() => {
      stopped = true;
    });
    const checked = (): boolean => {
      afterEach();
      return true;
    };
    for (let i = 0; i < 1000 && !stopped; i += 1) await this.runUntil(this.now + 100, checked);
    await done;
  }

  /**
   * Fires every timer due at or before `untilMs`, in order, draining promise continuations
   * after each instant, then sets the clock to `untilMs`. `afterEach` runs after every instant
   * at which timers fired; when it returns false the run stops there.
   */
  async runUntil(untilMs: number, afterEach: () => boolean = () => true): Promise<boolean> {
    assert(untilMs >= this.now, 'virtual time never goes backwards');
    await drain();
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.dueMs > untilMs) break;
      // Every timer due at this same instant fires before their continuations run: one drain
      // per instant rather than per timer (the tick timers of all nodes line up).
      this.now = top.dueMs;
      let fired = 0;
      for (;;) {
        const next = this.heap[0];
        if (next === undefined || next.dueMs !== this.now) break;
        this.pop();
        if (next.cancelled) continue;
        fired += 1;
        next.callback();
      }
      if (fired === 0) continue;
      this.firedCount += fired;
      await drain();
      if (!afterEach()) return false;
    }
    this.now = untilMs;
    return true;
  }

  private push(item: Scheduled): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent];
      assert(p !== undefined, 'heap parent exists');
      if (!before(item, p)) break;
      heap[i] = p;
      heap[parent] = item;
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      const l = heap[left];
      const r = heap[right];
      const s = heap[smallest];
      assert(s !== undefined, 'heap node exists');
      if (l !== undefined && before(l, heap[smallest] ?? s)) smallest = left;
      if (r !== undefined && before(r, heap[smallest] ?? s)) smallest = right;
      if (smallest === i) return;
      const child = heap[smallest];
      assert(child !== undefined, 'heap child exists');
      heap[smallest] = s;
      heap[i] = child;
      i = smallest;
    }
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.order < b.order);
}
