/**
 * When the observers of a key hear of its changes: once per turn of the event loop, with the
 * value the key has then, however many applied entries changed it meanwhile. The node applies
 * a Ready's committed entries in one synchronous loop (a follower catching up, a leader's
 * batch: hundreds of entries), and a notification per entry would build observers × entries
 * messages before any of them could leave: 1,024 observers of a key written 50 times in one
 * batch were 51,200 notifications of 1 KiB in flight at once, past a 64 MiB heap. Coalesced, a
 * turn sends each registration at most one notification (at most observersMax in all), and an
 * observer still ends at the key's latest value, which is what Observe promises (RFC 7641 §3.3:
 * eventual consistency; a client cannot count on seeing every intermediate state: /watch gives
 * every change).
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';

/** Collects changed keys and tells their observers on the next turn; see the module comment. */
export class KeyNotifications {
  /** Observed keys changed since the last flush, in the order they first changed. */
  // Invariant: at most observersMax keys (a full set is flushed at once).
  private readonly changed = new Set<string>();
  private timer: TimerHandle | null = null;

  constructor(
    private readonly timers: Timers,
    private readonly observersMax: number,
    /** Tells the observers of `key` its current value (or ends them when it is gone). */
    private readonly notifyKey: (key: string) => void,
  ) {
    assert(Number.isInteger(observersMax) && observersMax >= 1, 'observersMax is a positive integer');
  }

  /** Notes that `key`, which has observers, changed; they hear of it on the next turn. */
  keyChanged(key: string): void {
    this.changed.add(key);
    // Each key has an observer, so observersMax keys are as many as there can be at once;
    // more only under churn of the registrations: tell those now rather than hold more.
    if (this.changed.size >= this.observersMax) this.flush();
    else this.timer ??= this.timers.setTimer(0, () => this.flush());
    assert(this.changed.size < this.observersMax, 'at most observersMax changed keys wait');
  }

  /** Drops what is pending (the endpoint stops). */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
    this.changed.clear();
  }

  private flush(): void {
    this.timer?.cancel();
    this.timer = null;
    const keys = [...this.changed];
    this.changed.clear();
    for (const key of keys) this.notifyKey(key);
  }
}
