/**
 * The lease countdown (runtime state, never replicated and never read by apply): every node
 * counts each lease's TTL down from the moment it saw the lease's refresh index change (a grant
 * or a keepalive applied here) or saw a new leader, whichever is later; the leader proposes the
 * expiry of a lease whose countdown ran out, as a `lease-expire` command naming the refresh
 * index it counted from (so a keepalive ordered before the expiry in the log cancels it at
 * apply, leases.ts).
 *
 * - A new leader (a change of term or leader, seen by any node) restarts every countdown at the
 *   full TTL, so no lease expires early because of a failover: the old leader's countdown is
 *   lost with it, and the new one cannot know how much of it had run.
 * - The countdown starts when this node sees the change (after it applied it), so never before
 *   the keepalive was sent. Its reply may reach the client much later than that (a deposed
 *   leader that proposed it answers once it learns the entry committed), so `keepAlive`
 *   acknowledges a keepalive only when its answer came within KEEPALIVE_ACK_WINDOW_MS of its
 *   sending, and the leader waits LEASE_EXPIRY_GRACE_MS (as long) past the TTL before it
 *   proposes the expiry: a keepalive acknowledged at t keeps its lease until at least t + TTL.
 *   The expiry is proposed within TTL + grace + one check interval of the last keepalive, so a
 *   lease left alone expires within TTL + 1 s while a leader exists and commits.
 * - On a follower the countdown only answers `remainingMs` (GET /lease/L), an estimate.
 *
 * Bounded: the countdowns follow the state machine's leases (at most kv.leaseCountMax), and at
 * most EXPIRIES_IN_FLIGHT_MAX expiries are proposed at a time.
 */
import { assert } from '../../contracts/assert.js';
import type { Clock, TimerHandle, Timers } from '../../contracts/clock.js';
import { TimeoutError } from '../../contracts/errors.js';
import type { Metrics } from '../../contracts/metrics.js';
import { decodeKvResult, encodeKvCommand } from './encoding.js';
import type { KvLease } from './leases.js';
import type { KvResult } from './types.js';

/** How long the leader waits past a lease's TTL before it proposes the expiry, ms; see the module comment. */
export const LEASE_EXPIRY_GRACE_MS = 500;
/** Longest a keepalive may take, from sending to answer, to be acknowledged, ms: at most the grace. */
export const KEEPALIVE_ACK_WINDOW_MS = LEASE_EXPIRY_GRACE_MS;
/** How often the countdowns are checked, ms. */
export const LEASE_CHECK_INTERVAL_MS = 100;
/** Most expiries proposed and not yet answered. */
export const EXPIRIES_IN_FLIGHT_MAX = 16;
/** How long one proposed expiry may take before it is proposed again, ms. */
export const EXPIRY_TIMEOUT_MS = 5000;

// The grace and one check interval must leave the commit room within the 1 s past TTL the issue allows.
assert(LEASE_EXPIRY_GRACE_MS + LEASE_CHECK_INTERVAL_MS <= 600, 'the expiry delay leaves 400 ms to commit');
assert(KEEPALIVE_ACK_WINDOW_MS <= LEASE_EXPIRY_GRACE_MS, 'an acknowledged keepalive is covered by the grace');

/**
 * Sends a keepalive of lease `id` through `submit` (without a session: a keepalive run twice only
 * keeps the lease longer) and returns the state machine's result. A `lease` result that came
 * later than KEEPALIVE_ACK_WINDOW_MS after sending is not an acknowledgement: TimeoutError (the
 * lease was kept alive, but its countdown may have started well before this answer; send another).
 */
export async function keepAlive(
  submit: (command: Uint8Array, timeoutMs: number) => Promise<Uint8Array>,
  clock: Clock,
  id: number,
  timeoutMs: number,
): Promise<KvResult> {
  const sentMs = clock.nowMs();
  const command = encodeKvCommand({ op: 'lease-keepalive', id, session: null, timeMs: 0 });
  const result = decodeKvResult(await submit(command, Math.min(timeoutMs, KEEPALIVE_ACK_WINDOW_MS)));
  const tookMs = Math.round(clock.nowMs() - sentMs);
  if (result.type === 'lease' && tookMs > KEEPALIVE_ACK_WINDOW_MS)
    throw new TimeoutError(
      `the keepalive of lease ${id} was answered after ${tookMs} ms, past ${KEEPALIVE_ACK_WINDOW_MS} ms: ` +
        'the lease may have less than its TTL left; send another',
    );
  return result;
}

/** What the keeper reads of the state machine. */
export interface LeaseSource {
  /** Every lease granted, by increasing id. */
  leases(): readonly KvLease[];
  /** Changes whenever a lease is granted, kept alive or ended (runtime only). */
  readonly leaseVersion: number;
  /** The log clock, ms: the expiry commands carry it, so that they do not move it. */
  readonly clockMs: number;
  /** Calls `listener` after every lease change at apply or restore; returns its removal. */
  onLeaseChange(listener: () => void): () => void;
}

/** What the keeper needs of its node. */
export interface LeaseKeeperHost {
  isRunning(): boolean;
  isLeader(): boolean;
  /** Who leads, in which term: any change restarts the countdowns. */
  leadership(): { readonly term: number; readonly leaderId: string | null };
  /** Proposes `command` on this node (the leader) and resolves once it is applied here. */
  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** The node as the keeper's host needs it (RaftNode has these). */
export interface LeaseKeeperNode {
  isRunning(): boolean;
  isLeader(): boolean;
  getCurrentTerm(): number;
  getLeaderId(): string | null;
  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** The keeper's host over a node. */
export function leaseKeeperHostOf(node: LeaseKeeperNode): LeaseKeeperHost {
  return {
    isRunning: () => node.isRunning(),
    isLeader: () => node.isLeader(),
    leadership: () => ({ term: node.getCurrentTerm(), leaderId: node.getLeaderId() }),
    submitCommand: (command, timeoutMs) => node.submitCommand(command, timeoutMs),
  };
}

/** The keeper's edges. */
export interface LeaseKeeperDeps {
  readonly timers: Timers;
  readonly source: LeaseSource;
  readonly host: LeaseKeeperHost;
  /** Counts proposed expiries; null for none. */
  readonly metrics: Metrics | null;
}

interface Countdown {
  readonly ttlMs: number;
  readonly refreshIndex: number;
  readonly deadlineMs: number;
}

/** The countdowns of one node; see the module comment. */
export class LeaseKeeper {
  /** Invariant: one per lease of the source as of `seenVersion` (after the last check). */
  private countdowns = new Map<number, Countdown>();
  /** Expiries proposed and not answered: lease id to the time they were proposed. */
  private readonly inFlight = new Map<number, number>();
  private seenVersion = -1;
  private seenLeadership = '';
  private timer: TimerHandle | null = null;
  private started = false;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /**
   * Starts the keeper. It checks every LEASE_CHECK_INTERVAL_MS while this node counts down a
   * lease (or has an expiry in flight) and sleeps while there is none, so an idle agent without
   * leases has no lease timer. The source tells it of every lease change (at apply or at a
   * snapshot restore), which wakes it at once (on a timer, never inside the apply), so a new
   * lease's countdown starts when it applied.
   */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.deps.source.onLeaseChange(() => {
      if (this.started && this.timer === null) this.arm(0);
    });
    this.arm(0);
  }

  /** Stops the check; the countdowns are forgotten (a restart counts from the full TTL). */
  stop(): void {
    this.started = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.timer?.cancel();
    this.timer = null;
    this.countdowns.clear();
    this.seenVersion = -1;
    this.seenLeadership = '';
  }

  private arm(delayMs: number): void {
    this.timer = this.deps.timers.setTimer(delayMs, () => {
      this.timer = null;
      if (this.started) this.check();
    });
  }

  /** The time left on lease `id` by this node's countdown, ms (0 when run out); null when this node counts none. */
  remainingMs(id: number): number | null {
    this.check();
    const countdown = this.countdowns.get(id);
    if (countdown === undefined) return null;
    return Math.max(0, countdown.deadlineMs - this.deps.timers.nowMs());
  }

  /** Follows the state machine and the leadership, and proposes the expiries due (on the leader). */
  check(): void {
    const { host, source, timers } = this.deps;
    if (!host.isRunning()) return;
    const nowMs = timers.nowMs();
    const leadership = host.leadership();
    const leadershipKey = `${leadership.term}/${leadership.leaderId ?? ''}`;
    if (leadershipKey !== this.seenLeadership) {
      // A new leader (or none): every countdown restarts at the full TTL.
      this.seenLeadership = leadershipKey;
      this.countdowns.clear();
      this.inFlight.clear();
      this.seenVersion = -1;
    }
    if (source.leaseVersion !== this.seenVersion) this.follow(source.leases(), nowMs);
    if (host.isLeader()) this.proposeDue(nowMs);
    const counting = this.countdowns.size > 0 || this.inFlight.size > 0;
    if (this.started && this.timer === null && counting) this.arm(LEASE_CHECK_INTERVAL_MS);
  }

  private follow(leases: readonly KvLease[], nowMs: number): void {
    const next = new Map<number, Countdown>();
    for (const lease of leases) {
      const known = this.countdowns.get(lease.id);
      next.set(
        lease.id,
        known !== undefined && known.refreshIndex === lease.refreshIndex
          ? known
          : { ttlMs: lease.ttlMs, refreshIndex: lease.refreshIndex, deadlineMs: nowMs + lease.ttlMs },
      );
    }
    for (const id of this.inFlight.keys()) if (!next.has(id)) this.inFlight.delete(id);
    this.countdowns = next;
    this.seenVersion = this.deps.source.leaseVersion;
  }

  private proposeDue(nowMs: number): void {
    for (const [id, sinceMs] of this.inFlight) if (nowMs - sinceMs > EXPIRY_TIMEOUT_MS) this.inFlight.delete(id);
    for (const [id, countdown] of this.countdowns) {
      if (this.inFlight.size >= EXPIRIES_IN_FLIGHT_MAX) return;
      if (nowMs < countdown.deadlineMs + LEASE_EXPIRY_GRACE_MS || this.inFlight.has(id)) continue;
      this.inFlight.set(id, nowMs);
      this.deps.metrics?.increment('kv_lease_expiries_proposed_total');
      const command = encodeKvCommand({
        op: 'lease-expire',
        id,
        refreshIndex: countdown.refreshIndex,
        session: null,
        timeMs: this.deps.source.clockMs,
      });
      // Whatever the outcome, the next check looks again: an expiry applied removed the lease;
      // one lost with a leadership change is dropped with the countdowns; a refused one is retried.
      this.deps.host.submitCommand(command, EXPIRY_TIMEOUT_MS).then(
        () => this.inFlight.delete(id),
        () => this.inFlight.delete(id),
      );
    }
  }
}
