/** Allows at most `perWindow` events in each window of the clock (`windowMs`, one second by default). */
export class RateLimiter {
  private windowStartMs = -Infinity;
  private used = 0;

  constructor(
    private readonly clock: { nowMs(): number },
    private readonly perWindow: number,
    private readonly windowMs = 1000,
  ) {}

  /** Whether one more event would be allowed now (counts nothing). */
  hasRoom(): boolean {
    this.roll();
    return this.used < this.perWindow;
  }

  /** Whether one more event is allowed now (and counts it if so). */
  take(): boolean {
    this.roll();
    if (this.used >= this.perWindow) return false;
    this.used += 1;
    return true;
  }

  /** Starts a new window when the current one is over. */
  private roll(): void {
    const now = this.clock.nowMs();
    if (now - this.windowStartMs >= this.windowMs) {
      this.windowStartMs = now;
      this.used = 0;
    }
  }
}

/** Of a {@link LogThrottle}'s `perSecond`, the lines it lets through in a minute and in an hour. */
export const LOG_LINES_PER_MINUTE_PER_SECOND = 3;
export const LOG_LINES_PER_HOUR_PER_SECOND = 12;

/**
 * A log line's rate limit that counts what it leaves out: at most `perSecond` lines in each
 * one-second window of the clock, 3 × `perSecond` in each minute and 12 × `perSecond` in each
 * hour, and the next line let through says how many were dropped before it, so that a flood's log
 * stays bounded and still tells its size. A burst is logged line by line; a flood that lasts is
 * logged at the hour's rate (at 10 lines a second: 120 lines an hour, about 17 KB, where the
 * second's rate alone would write 36,000).
 */
export class LogThrottle {
  private readonly limiters: readonly RateLimiter[];
  private suppressed = 0;

  constructor(clock: { nowMs(): number }, perSecond: number) {
    if (!Number.isInteger(perSecond) || perSecond < 1) throw new RangeError('perSecond must be a positive integer');
    this.limiters = [
      new RateLimiter(clock, perSecond),
      new RateLimiter(clock, LOG_LINES_PER_MINUTE_PER_SECOND * perSecond, 60_000),
      new RateLimiter(clock, LOG_LINES_PER_HOUR_PER_SECOND * perSecond, 3_600_000),
    ];
  }

  /** Null when this line is to be left out (it is counted); else how many were left out since the last line. */
  take(): number | null {
    // Every window must have room; a window is charged only when the line goes out.
    if (!this.limiters.every((limiter) => limiter.hasRoom())) {
      this.suppressed += 1;
      return null;
    }
    for (const limiter of this.limiters) limiter.take();
    const suppressed = this.suppressed;
    this.suppressed = 0;
    return suppressed;
  }
}
