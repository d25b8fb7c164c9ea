/**
 * Client requests waiting for the core: proposals waiting to be applied and reads waiting for
 * their read index. Every wait has a deadline and the total is bounded by
 * `pendingRequestsMax`: past it a request is refused at once (RAFT_BUSY), never queued.
 *
 * One timer serves every deadline, not one per request: it is armed at the earliest deadline
 * it knows of, expires every wait then due, and re-arms at the earliest left. Requests usually
 * share one timeout, so deadlines arrive in order and a request costs no timer at all; a wait
 * that ends early leaves the timer be (it fires, finds less to do, and re-arms).
 */
import { withoutKey } from '../../contracts/young-map.js';
import { OUTCOME_UNKNOWN, ProposalError, TimeoutError } from '../../contracts/errors.js';
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import type { LogEntry, LogIndex, Term } from '../../contracts/log.js';
import { assert } from '../../contracts/assert.js';

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
  /** When the wait times out, by the timers' clock. */
  readonly deadlineMs: number;
  readonly timeoutMs: number;
}

interface PendingProposal extends Waiter<Uint8Array> {
  readonly term: Term;
  readonly startedMs: number;
}

interface PendingRead extends Waiter<LogIndex> {
  /** The read index once the core has confirmed leadership; null until then. */
  index: LogIndex | null;
}

/** What the node's pending requests look like, for metrics and status. */
export interface PendingCounts {
  readonly proposals: number;
  readonly reads: number;
}

export class PendingRequests {
  private proposals = new Map<LogIndex, PendingProposal>();
  private readonly reads = new Map<number, PendingRead>();
  private nextToken = 1;
  /** The one deadline timer; null when none is armed. Invariant: armed at or before every deadline waiting. */
  private timer: TimerHandle | null = null;
  private timerDueMs = Number.POSITIVE_INFINITY;

  constructor(
    private readonly timers: Timers,
    private readonly requestsMax: number,
  ) {
    assert(requestsMax > 0, 'pending request limit is positive');
  }

  counts(): PendingCounts {
    return { proposals: this.proposals.size, reads: this.reads.size };
  }

  /** Throws RAFT_BUSY when no more requests may wait. */
  checkRoom(): void {
    if (this.proposals.size + this.reads.size >= this.requestsMax) {
      throw new ProposalError('RAFT_BUSY', `too many requests pending (limit ${this.requestsMax}); retry later`);
    }
  }

  /** Waits for the entry proposed at (index, term) to be applied; resolves with its result. */
  waitForApply(index: LogIndex, term: Term, timeoutMs: number): Promise<Uint8Array> {
    // A proposal of an earlier term at this index was cut from the log: this node lost the lead,
    // its uncommitted tail was overwritten, and it leads again and appends at that index anew.
    const earlier = this.proposals.get(index);
    if (earlier !== undefined) {
      assert(earlier.term < term, `one proposal waits per index and term (${index}, ${term})`);
      this.proposals.delete(index);
      earlier.reject(
        new ProposalError(
          'RAFT_PROPOSAL_DROPPED',
          `the command at index ${index} was overwritten by a new leader and not applied`,
        ),
      );
    }
    const startedMs = this.timers.nowMs();
    const deadlineMs = startedMs + timeoutMs;
    return new Promise((resolve, reject) => {
      this.proposals.set(index, { term, resolve, reject, deadlineMs, timeoutMs, startedMs });
      this.arm(deadlineMs);
    });
  }

  /** Whether a proposal of this node waits for the entry at `index`. */
  waits(index: LogIndex): boolean {
    return this.proposals.has(index);
  }

  /**
   * Settles the proposal at `entry.index`: resolved with `result` when the applied entry is
   * the one proposed, rejected when another entry took its place (it was never committed).
   * Returns the proposal's latency in ms, or null when none waited.
   */
  applied(entry: LogEntry, result: Uint8Array): number | null {
    const waiter = this.proposals.get(entry.index);
    if (waiter === undefined) return null;
    this.proposals = withoutKey(this.proposals, entry.index);
    if (waiter.term === entry.term) {
      waiter.resolve(result);
    } else {
      waiter.reject(
        new ProposalError(
          'RAFT_PROPOSAL_DROPPED',
          `the command at index ${entry.index} was overwritten by a new leader and not applied`,
        ),
      );
    }
    return this.timers.nowMs() - waiter.startedMs;
  }

  /** Registers a read; returns its token and a promise of its read index. */
  addRead(timeoutMs: number): { token: number; index: Promise<LogIndex> } {
    const token = this.nextToken;
    this.nextToken += 1;
    const deadlineMs = this.timers.nowMs() + timeoutMs;
    const index = new Promise<LogIndex>((resolve, reject) => {
      this.reads.set(token, { resolve, reject, deadlineMs, timeoutMs, index: null });
      this.arm(deadlineMs);
    });
    return { token, index };
  }

  /** The core confirmed (index) or aborted (null) the read `token`. */
  readConfirmed(token: number, index: LogIndex | null, abort: () => unknown): void {
    const waiter = this.reads.get(token);
    if (waiter === undefined) return;
    if (index === null) {
      this.reads.delete(token);
      waiter.reject(abort());
      return;
    }
    waiter.index = index;
  }

  /** Resolves every confirmed read whose index the state machine has reached. */
  readsApplied(appliedIndex: LogIndex): void {
    for (const [token, waiter] of this.reads) {
      if (waiter.index === null || waiter.index > appliedIndex) continue;
      this.reads.delete(token);
      waiter.resolve(waiter.index);
    }
  }

  /** Drops a read the core refused. */
  dropRead(token: number, error: unknown): void {
    const waiter = this.reads.get(token);
    if (waiter === undefined) return;
    this.reads.delete(token);
    waiter.reject(error);
  }

  /**
   * Rejects everything (the node stopped). Reads get `error()`. A proposal is already in the log
   * and another leader may still commit it, so it gets a TimeoutError (outcome unknown), never
   * `error()`: a StoppedError would tell the client that nothing was done, and a client that
   * believed it would record a write that happened as one that did not.
   */
  rejectAll(error: () => unknown): void {
    this.disarm();
    for (const [index, waiter] of this.proposals) {
      waiter.reject(
        new TimeoutError(
          `the node stopped before the outcome of the command at index ${index} was known; ${OUTCOME_UNKNOWN}`,
        ),
      );
    }
    for (const waiter of this.reads.values()) waiter.reject(error());
    this.proposals.clear();
    this.reads.clear();
  }

  /** Makes sure the timer fires by `deadlineMs`. */
  private arm(deadlineMs: number): void {
    if (this.timer !== null && this.timerDueMs <= deadlineMs) return;
    this.timer?.cancel();
    this.timerDueMs = deadlineMs;
    this.timer = this.timers.setTimer(deadlineMs - this.timers.nowMs(), () => this.expire());
  }

  private disarm(): void {
    this.timer?.cancel();
    this.timer = null;
    this.timerDueMs = Number.POSITIVE_INFINITY;
  }

  /** Times out every wait whose deadline has come, and re-arms for the earliest left. */
  private expire(): void {
    this.timer = null;
    this.timerDueMs = Number.POSITIVE_INFINITY;
    const nowMs = this.timers.nowMs();
    let nextMs = Number.POSITIVE_INFINITY;
    for (const [index, waiter] of this.proposals) {
      if (waiter.deadlineMs > nowMs) {
        nextMs = Math.min(nextMs, waiter.deadlineMs);
        continue;
      }
      this.proposals.delete(index);
      const within = waiter.timeoutMs;
      waiter.reject(
        new TimeoutError(
          `the outcome of the command at index ${index} was not known within ${within} ms; ${OUTCOME_UNKNOWN}`,
        ),
      );
    }
    for (const [token, waiter] of this.reads) {
      if (waiter.deadlineMs > nowMs) {
        nextMs = Math.min(nextMs, waiter.deadlineMs);
        continue;
      }
      this.reads.delete(token);
      waiter.reject(new TimeoutError(`read not confirmed within ${waiter.timeoutMs} ms`));
    }
    if (nextMs !== Number.POSITIVE_INFINITY) this.arm(nextMs);
    assert(this.timer !== null || this.proposals.size + this.reads.size === 0, 'a wait always has a timer');
  }
}
