/**
 * Real time for production: a monotonic clock from `performance.now()` and timers from
 * `setTimeout`. The simulator supplies virtual time through the same `Timers` interface.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';

/** Timers on the process's monotonic clock. */
export class RealTimers implements Timers {
  nowMs(): number {
    return performance.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const handle = setTimeout(callback, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  }
}
