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

/**
 * Lines about one thing that repeats for as long as its cause lasts (a member left out by a
 * recovery retries its handshakes every few hundred ms, for hours): the first line of each key is
 * let through, then at most one every `periodMs`, which says how many of that key were left out
 * since the one before. At most `keysMax` keys are remembered; past it the memory starts over (a
 * key's next line then comes at once).
 */
export class RepeatThrottle {
  // Invariant: last.size <= keysMax.
  private readonly last = new Map<string, { atMs: number; repeats: number }>();

  constructor(
    private readonly clock: { nowMs(): number },
    private readonly periodMs: number,
    private readonly keysMax = 256,
  ) {
    if (!(periodMs > 0) || !Number.isInteger(keysMax) || keysMax < 1)
      throw new RangeError('periodMs must be positive and keysMax a positive integer');
  }

  /** Null when this line of `key` is to be left out (it is counted); else how many of `key` were left out before it. */
  take(key: string): number | null {
    const now = this.clock.nowMs();
    const seen = this.last.get(key);
    if (seen !== undefined && now - seen.atMs < this.periodMs) {
      seen.repeats += 1;
      return null;
    }
    if (seen === undefined && this.last.size >= this.keysMax) this.last.clear();
    this.last.set(key, { atMs: now, repeats: 0 });
    return seen?.repeats ?? 0;
  }
}
