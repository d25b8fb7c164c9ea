/**
 * The leader's pending ReadIndex reads (Raft thesis §6.4; read-index.ts drives them): each read
 * records the commit index when it arrived and waits until a quorum has answered requests sent
 * after it arrived.
 *
 * Requests carry increasing sequence numbers, so a read needs no per-read set of
 * acknowledgements: it is confirmed when a quorum's highest acknowledged sequence number is at
 * least the first sequence number issued after the read arrived.
 */
import { assert } from '../../contracts/assert.js';
import type { LogIndex } from '../../contracts/log.js';

interface PendingRead {
  readonly token: number;
  /** The leader's commit index when the read arrived. */
  readonly index: LogIndex;
  /** Responses to requests with seq >= this confirm leadership for the read. */
  readonly seq: number;
}

export class ReadIndexQueue {
  /** Reads in arrival order; their seq never decreases. Invariant: length <= pendingMax. */
  private readonly pending: PendingRead[] = [];
  /** Reads that arrived before the leader committed an entry of its term (thesis §6.4 step 1). */
  private readonly waitingForCommit: { readonly token: number }[] = [];

  constructor(private readonly pendingMax: number) {
    assert(pendingMax > 0, 'pending read limit is positive');
  }

  size(): number {
    return this.pending.length + this.waitingForCommit.length;
  }

  isFull(): boolean {
    return this.size() >= this.pendingMax;
  }

  /** Adds a read that waits until the leader has committed an entry of its own term. */
  addWaiting(token: number): void {
    assert(!this.isFull(), 'no read is added past the limit');
    this.waitingForCommit.push({ token });
  }

  /** Adds a read at `index` confirmed by acknowledgements of requests with seq >= `seq`. */
  add(token: number, index: LogIndex, seq: number): void {
    assert(!this.isFull(), 'no read is added past the limit');
    const last = this.pending[this.pending.length - 1];
    assert(last === undefined || last.seq <= seq, 'read sequence numbers never decrease');
    this.pending.push({ token, index, seq });
  }

  /** Moves the reads waiting for the leader's first commit to `index` at `seq`. */
  releaseWaiting(index: LogIndex, seq: number): number {
    const count = this.waitingForCommit.length;
    for (const read of this.waitingForCommit.splice(0)) this.pending.push({ token: read.token, index, seq });
    return count;
  }

  /** True when some read waits for its leadership check (not for the leader's first commit). */
  hasPending(): boolean {
    return this.pending.length > 0;
  }

  hasWaiting(): boolean {
    return this.waitingForCommit.length > 0;
  }

  /** Removes and returns the reads that `confirmed(seq)` says a quorum has acknowledged. */
  takeConfirmed(confirmed: (seq: number) => boolean): { token: number; index: LogIndex }[] {
    // Reads are ordered by seq, so the confirmed ones form a prefix.
    let count = 0;
    while (count < this.pending.length) {
      const read = this.pending[count];
      assert(read !== undefined, 'read in range');
      if (!confirmed(read.seq)) break;
      count += 1;
    }
    return this.pending.splice(0, count).map((read) => ({ token: read.token, index: read.index }));
  }

  /** Removes every read (leadership lost); returns their tokens. */
  abortAll(): number[] {
    const tokens = [...this.waitingForCommit, ...this.pending].map((read) => read.token);
    this.waitingForCommit.length = 0;
    this.pending.length = 0;
    return tokens;
  }
}
