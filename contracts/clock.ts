/**
 * Time as the components and the runtime are given it: a monotonic clock and timers, real in
 * production and virtual in simulation (the core has neither: it takes ticks).
 */

/** A monotonic clock. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never decreases. */
  nowMs(): number;
}

/** A cancellable timer. */
export interface TimerHandle {
  cancel(): void;
}

/** Timers on a clock: real ones in production, virtual ones in simulation. */
export interface Timers extends Clock {
  /** Runs `callback` once after `delayMs` milliseconds. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
}
