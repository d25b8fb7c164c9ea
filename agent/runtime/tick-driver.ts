/**
 * The core's logical clock, driven by deadlines instead of a fixed timer (issue 17: CPU at
 * rest). A fixed 20 ms tick woke an idle agent 50 times a second although almost every tick
 * only counts: a follower's election timer, a leader's heartbeat interval. Here the timer is
 * armed only for the next tick that may do something (RaftCore.ticksUntilDue: an election
 * timeout, a heartbeat round, check-quorum), and the ticks that only count are applied, from the
 * clock, just before the core is next used (`catchUp`, which the node runs before every input
 * and query). So the core sees the same ticks before each input as under the fixed timer, and
 * an idle leader wakes once per heartbeat interval, an idle follower only for its leader's
 * heartbeats.
 *
 * Ticks sit on a grid, one every `tickIntervalMs` from the start. A catch-up applies the ticks
 * that passed, but at most up to the first due one: after a stall (a long GC pause, a loaded
 * machine) the ticks beyond it are dropped, as the fixed timer, which ticked once per wake-up,
 * dropped them; the node's time stretches instead of several timeouts firing at once.
 *
 * After such a stall the due tick waits one turn of the event loop. Node runs expired timers
 * before it reads the sockets, so the timer of a stalled process fires before the datagrams that
 * arrived during the stall are read: a leader whose followers all answered would find none of
 * them heard from and step down (check-quorum), a follower whose leader kept sending would start
 * an election. So when the due tick is overdue by a whole tick or more, the ticks before it are
 * applied and the due one is deferred to a fresh timer, which fires after the sockets were read
 * (an input's catch-up meanwhile applies only the ticks before it). Deferring a tick is always
 * safe: ticks only drive timeouts.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';

/**
 * Added to each timer's delay, ms: a Node.js timer counts from the event loop's cached time,
 * which can lag the monotonic clock by a little, so a timer set for the exact due time could
 * fire just before it and need a second wake-up.
 */
const TIMER_SLACK_MS = 1;

/** What the driver needs of the core. */
export interface TickedCore {
  tick(): void;
  /** The fewest ticks after which a tick may do more than count; at least 1. */
  ticksUntilDue(): number;
}

/** Drives a core's ticks by deadlines; see the module comment. */
export class TickDriver {
  private timer: TimerHandle | null = null;
  /** When the armed timer fires, ms on the timers' clock; Infinity when none is armed. */
  private timerAtMs = Number.POSITIVE_INFINITY;
  /** The grid time of the last tick applied (or dropped), ms. Invariant: never after now. */
  private lastTickAtMs = 0;
  private running = false;
  /** The timer found its tick overdue and deferred it once: the next firing applies it. */
  private deferredOnce = false;
  /** The timer's callback, made once (not a closure per timer armed). */
  private readonly onTimer = (): void => this.fire();

  constructor(
    private readonly timers: Timers,
    private readonly tickIntervalMs: number,
    private readonly core: TickedCore,
    /** Called after ticks were applied (they may have left work for the Ready loop). */
    private readonly onTicked: () => void,
  ) {
    assert(tickIntervalMs > 0, 'the tick interval is positive');
  }

  /** Starts the clock now: the first tick is one interval away. */
  start(): void {
    this.running = true;
    this.deferredOnce = false;
    this.lastTickAtMs = this.timers.nowMs();
    this.rearm();
  }

  /** Stops the clock; no tick is applied after this. */
  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    this.timerAtMs = Number.POSITIVE_INFINITY;
  }

  /**
   * Applies the ticks that have passed since the last one, at most up to the first due one
   * (the rest are dropped, see the module comment). After a stall only those before the due one:
   * the due tick is the timer's, which lets the loop read the sockets first. Returns how many were
   * applied.
   */
  catchUp(): number {
    return this.overdue() ? this.applyBeforeDue() : this.apply();
  }

  /** True when the due tick is a whole tick or more in the past: the process stalled. */
  private overdue(): boolean {
    if (!this.running) return false;
    const passed = Math.floor((this.timers.nowMs() - this.lastTickAtMs) / this.tickIntervalMs);
    return passed > this.core.ticksUntilDue();
  }

  /** Applies the passed ticks up to the first due one and drops the rest. */
  private apply(): number {
    if (!this.running) return 0;
    const passed = Math.floor((this.timers.nowMs() - this.lastTickAtMs) / this.tickIntervalMs);
    if (passed <= 0) return 0;
    const due = this.core.ticksUntilDue();
    assert(due >= 1, 'a due tick is at least one tick away');
    const count = Math.min(passed, due);
    this.lastTickAtMs += passed * this.tickIntervalMs;
    for (let i = 0; i < count; i += 1) this.core.tick();
    this.onTicked();
    return count;
  }

  /** Applies the ticks before the due one, which stays due (the process stalled past it). */
  private applyBeforeDue(): number {
    const count = this.core.ticksUntilDue() - 1;
    this.lastTickAtMs += count * this.tickIntervalMs;
    for (let i = 0; i < count; i += 1) this.core.tick();
    if (count > 0) this.onTicked();
    return count;
  }

  /** Arms the timer for the next due tick, unless one is armed already for that time or earlier. */
  rearm(): void {
    if (!this.running) return;
    const dueAtMs = this.lastTickAtMs + this.core.ticksUntilDue() * this.tickIntervalMs;
    if (this.timer !== null && this.timerAtMs <= dueAtMs) return;
    this.timer?.cancel();
    this.timerAtMs = dueAtMs;
    const delayMs = Math.max(0, dueAtMs - this.timers.nowMs()) + TIMER_SLACK_MS;
    this.timer = this.timers.setTimer(delayMs, this.onTimer);
  }

  private fire(): void {
    this.timer = null;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    if (!this.running) return;
    if (this.overdue() && !this.deferredOnce) {
      // Woken late: let the loop read what arrived during the stall before the due tick.
      this.deferredOnce = true;
      this.applyBeforeDue();
      this.timerAtMs = this.timers.nowMs();
      this.timer = this.timers.setTimer(TIMER_SLACK_MS, this.onTimer);
      return;
    }
    this.deferredOnce = false;
    this.apply();
    this.rearm();
  }
}
