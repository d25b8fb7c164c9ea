/**
 * Real time for production: a monotonic clock from `performance.now()` and timers from
 * `setTimeout`. The simulator supplies virtual time through the same `Timers` interface.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';

/**
 * A pending setTimeout. A class, not an object literal with a closure: the tick driver arms one
 * per heartbeat interval at rest, and the bundle names every closure it creates (esbuild's
 * keepNames: a defineProperty call per timer).
 */
class RealTimer implements TimerHandle {
  constructor(private readonly timeout: NodeJS.Timeout) {}

  cancel(): void {
    clearTimeout(this.timeout);
  }
}

/** Timers on the process's monotonic clock. */
export class RealTimers implements Timers {
  nowMs(): number {
    return performance.now();
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    return new RealTimer(setTimeout(callback, Math.max(0, delayMs)));
  }
}
