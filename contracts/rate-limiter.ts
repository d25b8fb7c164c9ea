/** Allows at most `perSecond` events in each one-second window of the clock. */
export class RateLimiter {
  private windowStartMs = -Infinity;
  private used = 0;

  constructor(
    private readonly clock: { nowMs(): number },
    private readonly perSecond: number,
  ) {}

  /** Whether one more event is allowed now (and counts it if so). */
  take(): boolean {
    const now = this.clock.nowMs();
    if (now - this.windowStartMs >= 1000) {
      this.windowStartMs = now;
      this.used = 0;
    }
    if (this.used >= this.perSecond) return false;
    this.used += 1;
    return true;
  }
}

/**
 * A log line's rate limit that counts what it leaves out: at most `perSecond` lines in each
 * one-second window of the clock, and the next line let through says how many were dropped
 * before it, so that a flood's log stays bounded and still tells its size.
 */
export class LogThrottle {
  private readonly limiter: RateLimiter;
  private suppressed = 0;

  constructor(clock: { nowMs(): number }, perSecond: number) {
    if (!Number.isInteger(perSecond) || perSecond < 1) throw new RangeError('perSecond must be a positive integer');
    this.limiter = new RateLimiter(clock, perSecond);
  }

  /** Null when this line is to be left out (it is counted); else how many were left out since the last line. */
  take(): number | null {
    if (!this.limiter.take()) {
      this.suppressed += 1;
      return null;
    }
    const suppressed = this.suppressed;
    this.suppressed = 0;
    return suppressed;
  }
}
