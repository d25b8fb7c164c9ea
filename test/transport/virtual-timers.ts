// Virtual time for transport tests: timers fire only when the test advances the clock, in
// due order, so retransmission and deadline behaviour is checked exactly and never flakes.
import type { TimerHandle, Timers } from '../../contracts/clock.js';

interface Pending {
  readonly dueMs: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

export class VirtualTimers implements Timers {
  private now = 0;
  private seq = 0;
  private pending: Pending[] = [];

  nowMs(): number {
    return this.now;
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const entry: Pending = { dueMs: this.now + delayMs, seq: this.seq++, callback, cancelled: false };
    this.pending.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Live timers. */
  get pendingCount(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }

  /** Moves time forward by `ms`, firing due timers in order and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      await settle();
      if (!this.fireNext(target)) break;
    }
    this.now = target;
    await settle();
  }

  /** Moves time to `ms`, firing due timers in order, without settling promises (code that awaits nothing). */
  advanceToSync(ms: number): void {
    while (this.fireNext(ms));
    this.now = Math.max(this.now, ms);
  }

  /** Fires the next live timer due by `target`; false when there is none. */
  private fireNext(target: number): boolean {
    this.pending = this.pending.filter((p) => !p.cancelled);
    this.pending.sort((a, b) => a.dueMs - b.dueMs || a.seq - b.seq);
    const next = this.pending[0];
    if (next === undefined || next.dueMs > target) return false;
    this.pending.shift();
    this.now = Math.max(this.now, next.dueMs);
    next.callback();
    return true;
  }
}

/** Lets every queued promise continuation and immediate run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}
