/**
 * Client requests waiting for the core: proposals waiting to be applied and reads waiting for
 * their read index. Every wait has a deadline and the total is bounded by
 * `pendingRequestsMax`: past it a request is refused at once (RAFT_BUSY), never queued.
 */
import { ProposalError, TimeoutError } from '../../contracts/errors.js';
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import type { LogEntry, LogIndex, Term } from '../../contracts/log.js';
import { assert } from '../../contracts/assert.js';

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: TimerHandle;
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
  private readonly proposals = new Map<LogIndex, PendingProposal>();
  private readonly reads = new Map<number, PendingRead>();
  private nextToken = 1;

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
    assert(!this.proposals.has(index), `one proposal waits per index (${index})`);
    return new Promise((resolve, reject) => {
      const timer = this.timers.setTimer(timeoutMs, () => {
        this.proposals.delete(index);
        reject(
          new TimeoutError(
            `command at index ${index} not applied within ${timeoutMs} ms; it may still be applied later`,
          ),
        );
      });
      this.proposals.set(index, { term, resolve, reject, timer, startedMs: this.timers.nowMs() });
    });
  }

  /**
   * Settles the proposal at `entry.index`: resolved with `result` when the applied entry is
   * the one proposed, rejected when another entry took its place (it was never committed).
   * Returns the proposal's latency in ms, or null when none waited.
   */
  applied(entry: LogEntry, result: Uint8Array): number | null {
    const waiter = this.proposals.get(entry.index);
    if (waiter === undefined) return null;
    this.proposals.delete(entry.index);
    waiter.timer.cancel();
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
    const index = new Promise<LogIndex>((resolve, reject) => {
      const timer = this.timers.setTimer(timeoutMs, () => {
        this.reads.delete(token);
        reject(new TimeoutError(`read not confirmed within ${timeoutMs} ms`));
      });
      this.reads.set(token, { resolve, reject, timer, index: null });
    });
    return { token, index };
  }

  /** The core confirmed (index) or aborted (null) the read `token`. */
  readConfirmed(token: number, index: LogIndex | null, abort: () => unknown): void {
    const waiter = this.reads.get(token);
    if (waiter === undefined) return;
    if (index === null) {
      this.reads.delete(token);
      waiter.timer.cancel();
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
      waiter.timer.cancel();
      waiter.resolve(waiter.index);
    }
  }

  /** Drops a read the core refused. */
  dropRead(token: number, error: unknown): void {
    const waiter = this.reads.get(token);
    if (waiter === undefined) return;
    this.reads.delete(token);
    waiter.timer.cancel();
    waiter.reject(error);
  }

  /**
   * Rejects everything (the node stopped). Reads get `error()`. A proposal is already in the log
   * and another leader may still commit it, so it gets a TimeoutError (outcome unknown), never
   * `error()`: a StoppedError would tell the client that nothing was done, and a client that
   * believed it would record a write that happened as one that did not.
   */
  rejectAll(error: () => unknown): void {
    for (const [index, waiter] of this.proposals) {
      waiter.timer.cancel();
      waiter.reject(
        new TimeoutError(`the node stopped before the command at index ${index} was applied; it may still be applied`),
      );
    }
    for (const waiter of this.reads.values()) {
      waiter.timer.cancel();
      waiter.reject(error());
    }
    this.proposals.clear();
    this.reads.clear();
  }
}
