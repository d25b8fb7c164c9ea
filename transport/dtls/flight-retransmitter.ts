/**
 * The last handshake flight of one side and its retransmission (RFC 6347 §4.2.4): sent again
 * when its timer fires, the timer doubling up to `retransmitMaxMs`, until
 * `retransmitCountMax` retransmissions; also sent again at once when the peer repeats its
 * own previous flight, which shows ours was lost. A final flight (the server's Finished) has
 * no timer and is only sent again on the peer's repeat.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import type { ResolvedSessionOptions } from './options.js';
import type { FlightItem } from './record-layer.js';
import type { StatsCounters } from './stats.js';

/** What the retransmitter needs from its session. */
export interface RetransmitterDeps {
  readonly options: ResolvedSessionOptions;
  readonly timers: Timers;
  readonly stats: StatsCounters;
  readonly randomBytes: (count: number) => Uint8Array;
  /** Encodes and sends a flight (fresh record sequence numbers each time). */
  transmit(items: readonly FlightItem[]): void;
  /** Called when the last retransmission went unanswered. */
  giveUp(retransmissions: number): void;
  /** Runs a timer callback, containing errors. */
  contain(action: () => void): void;
}

/** Keeps one flight and retransmits it. */
export class FlightRetransmitter {
  // Invariant: timer is null whenever flight is null.
  private flight: readonly FlightItem[] | null = null;
  private timer: TimerHandle | null = null;
  private count = 0;
  private delayMs: number;

  constructor(private readonly deps: RetransmitterDeps) {
    this.delayMs = deps.options.retransmitInitialMs;
  }

  /** Sends a new flight, replacing the previous one; with a timer unless it is final. */
  send(items: readonly FlightItem[], withTimer: boolean): void {
    this.clear();
    this.flight = items;
    this.count = 0;
    this.delayMs = this.deps.options.retransmitInitialMs;
    this.deps.transmit(items);
    if (withTimer) this.arm();
  }

  /** Sends the kept flight again because the peer repeated its own; false if none is kept. */
  repeat(): boolean {
    if (this.flight === null) return false;
    this.deps.stats.retransmissions += 1;
    this.deps.transmit(this.flight);
    return true;
  }

  /** Forgets the flight and stops the timer. */
  clear(): void {
    this.timer?.cancel();
    this.timer = null;
    this.flight = null;
  }

  private arm(): void {
    assert(this.flight !== null, 'a flight exists to retransmit');
    // Up to 1/8 of jitter, so that peers that lost the same datagram do not retry in step.
    const jitterMs = Math.floor((this.delayMs * (this.deps.randomBytes(1)[0] ?? 0)) / 2048);
    this.timer = this.deps.timers.setTimer(this.delayMs + jitterMs, () => this.deps.contain(() => this.fire()));
  }

  private fire(): void {
    this.timer = null;
    if (this.flight === null) return;
    if (this.count >= this.deps.options.retransmitCountMax) {
      const count = this.count;
      this.clear();
      this.deps.giveUp(count);
      return;
    }
    this.count += 1;
    this.delayMs = Math.min(2 * this.delayMs, this.deps.options.retransmitMaxMs);
    this.repeat();
    this.arm();
  }
}
