/**
 * Which refusals of peers get a log line. A gateway that keeps trying (a removed one still running
 * campaigns every election timeout, a rekeyed one retries its old key) is refused the same way
 * again and again: a line each would bury the log, so each distinct refusal (the same who, the same
 * reason) is logged once, and again at most once per REFUSAL_REPEAT_LOG_MS with how many were left
 * out meanwhile. Distinct refusals share a rate limit as well (a flood of made-up identities).
 * Every refusal is still counted in the metrics by the caller.
 */
import { LogThrottle } from '../../contracts/rate-limiter.js';

/** A refusal repeated within this many ms of its last line is left out (counted in the next line). */
export const REFUSAL_REPEAT_LOG_MS = 60_000;

/** Most distinct refusals remembered; past it the oldest is forgotten (its next repeat is logged). */
export const REFUSAL_KINDS_MAX = 256;

export class RefusalLog {
  private readonly throttle: LogThrottle;
  /** Per distinct refusal: when it was last logged and how many of it were left out since; oldest first. */
  private readonly seen = new Map<string, { atMs: number; leftOut: number }>();

  constructor(
    private readonly nowMs: () => number,
    linesPerSecondMax: number,
    private readonly repeatMs = REFUSAL_REPEAT_LOG_MS,
  ) {
    this.throttle = new LogThrottle({ nowMs }, linesPerSecondMax);
  }

  /**
   * Null when the refusal `key` is to be left out (a repeat within repeatMs of its last line, or
   * past the rate); else how many refusals were left out since its last line (of it, or any over the rate).
   */
  take(key: string): number | null {
    const now = this.nowMs();
    const last = this.seen.get(key);
    if (last !== undefined && now - last.atMs < this.repeatMs) {
      last.leftOut += 1;
      return null;
    }
    const overRate = this.throttle.take();
    if (overRate === null) {
      if (last !== undefined) last.leftOut += 1;
      return null;
    }
    this.seen.delete(key);
    if (this.seen.size >= REFUSAL_KINDS_MAX) {
      const oldest = this.seen.keys().next();
      if (oldest.done !== true) this.seen.delete(oldest.value);
    }
    this.seen.set(key, { atMs: now, leftOut: 0 });
    return overRate + (last?.leftOut ?? 0);
  }
}
