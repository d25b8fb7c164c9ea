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
