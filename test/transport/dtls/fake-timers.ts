// A virtual clock and timers for DTLS tests: time moves only when a test calls advance().
import type { TimerHandle, Timers } from '../../../contracts/clock.js';

interface Pending {
  readonly atMs: number;
  readonly id: number;
  readonly callback: () => void;
}

/** Timers on a virtual clock. */
export class ManualTimers implements Timers {
  private now = 0;
  private nextId = 0;
  private pending: Pending[] = [];

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const entry = { atMs: this.now + delayMs, id: this.nextId++, callback };
    this.pending.push(entry);
    return {
      cancel: () => {
        this.pending = this.pending.filter((p) => p !== entry);
      },
    };
  }

  /** Moves the clock forward, running every timer that falls due, in order. */
  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      const due = this.pending.filter((p) => p.atMs <= target).sort((a, b) => a.atMs - b.atMs || a.id - b.id)[0];
      if (due === undefined) break;
      this.pending = this.pending.filter((p) => p !== due);
      this.now = due.atMs;
      due.callback();
    }
    this.now = target;
  }

  pendingCount(): number {
    return this.pending.length;
  }
}
