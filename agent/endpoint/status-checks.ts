/**
 * The /status notifications of the local endpoint (RFC 7641): every statusNotifyIntervalMs,
 * the status is compared with the last one sent and its observers are notified of a change.
 * The checks run only while /status has an observer: an agent nobody observes sets no timer
 * for them (issue 17, CPU at rest); the next registration starts them again.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';

/** What the checks read and call. */
export interface StatusChecksHost {
  /** The endpoint and its node run (the checks stop when they do not). */
  isServing(): boolean;
  /** /status has an observer. */
  isObserved(): boolean;
  /** The node's status now (the body of GET /status). */
  status(): unknown;
  /** Sends `body` to the observers of /status. */
  notify(body: unknown): void;
}

/** The periodic /status checks; see the module comment. */
export class StatusChecks {
  private timer: TimerHandle | null = null;
  /** The status last sent, as JSON. */
  private last = '';

  constructor(
    private readonly host: StatusChecksHost,
    private readonly timers: Timers,
    private readonly intervalMs: number,
  ) {
    assert(intervalMs > 0, 'the status check interval is positive');
  }

  /** An observer registered: the checks run (no-op while they do). */
  observed(): void {
    if (this.timer !== null || !this.host.isServing()) return;
    this.timer = this.timers.setTimer(this.intervalMs, () => {
      this.timer = null;
      if (!this.host.isServing() || !this.host.isObserved()) return;
      this.notifyIfChanged();
      this.observed();
    });
  }

  /** Stops the checks. */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private notifyIfChanged(): void {
    const body = this.host.status();
    const text = JSON.stringify(body);
    if (text === this.last) return;
    this.last = text;
    this.host.notify(body);
  }
}
