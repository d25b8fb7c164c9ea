/**
 * The leader's view of one follower's replication (Raft Figure 2's nextIndex and matchIndex,
 * with etcd-io/raft's flow-control states from tracker/progress.go):
 * - probe: the leader does not know where the follower's log matches; it sends one append at
 *   a time and waits for the answer (or the next heartbeat) before sending another;
 * - replicate: the logs match up to `match`; appends are pipelined up to the in-flight window;
 * - snapshot: the follower needs a snapshot; the leader streams it and sends no appends.
 */
import { assert } from '../../contracts/assert.js';
import { Inflights } from './inflights.js';
import type { LogIndex } from '../../contracts/log.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known replicated on the follower. Invariant: match < next. */
  match: LogIndex = 0;
  /** Next index to send. */
  next: LogIndex;
  state: ProgressState = 'probe';
  /** In probe: an append was sent and not yet answered. */
  probeSent = false;
  /** In snapshot: the index of the snapshot being sent. */
  pendingSnapshot: LogIndex = 0;
  /** In snapshot: the byte offset of the next chunk to send. */
  snapshotOffset = 0;
  /** In snapshot: a chunk was sent and not yet answered. */
  snapshotChunkSent = false;
  /** Set on any response in the current check-quorum period (thesis §6.2). */
  recentActive = false;
  /**
   * Leader ticks the follower spent behind the leader's last index without its match advancing;
   * 0 while it is caught up. Log retention reads it (retention.ts).
   */
  stalledTicks = 0;
  /** Leader ticks since the follower last answered (heardFrom); log retention reads it (retention.ts). */
  silentTicks = 0;
  /** Requests to this follower that failed in a row (unreachable or timed out). */
  failures = 0;
  /** Its log was reported to end below its match (replication.ts, reportLostLog): said once per leadership. */
  lostLogReported = false;
  /** Heartbeat rounds still to skip before contacting this follower again (backoff). */
  backoffRounds = 0;
  /**
   * The leader's heartbeatElapsed when it last sent this follower entries in the current
   * heartbeat interval; null when it sent none since the last heartbeat round.
   */
  appendElapsed: number | null = null;
  readonly inflights: Inflights;

  constructor(next: LogIndex, inflightCountMax: number, inflightBytesMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightCountMax, inflightBytesMax);
  }

  becomeProbe(): void {
    // After a snapshot, probing starts right after it.
    const next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState('probe');
    this.next = next;
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotOffset = 0;
    this.snapshotChunkSent = false;
    this.inflights.reset();
  }

  /** A leader tick: the ticks the follower spent stalled and silent age (retention.ts reads both). */
  tick(lastIndex: LogIndex): void {
    this.stalledTicks = this.match >= lastIndex ? 0 : this.stalledTicks + 1;
    this.silentTicks += 1;
  }

  /** Any answer from the follower ends the backoff. */
  heardFrom(): void {
    this.recentActive = true;
    this.silentTicks = 0;
    this.failures = 0;
    this.backoffRounds = 0;
  }

  /**
   * A request failed: back off exponentially, in heartbeat rounds, up to `roundsMax`, with
   * `jitter` (0 to 1) spreading the retries (the reference's error strategy for network errors).
   */
  failed(roundsMax: number, jitter: number): void {
    this.failures += 1;
    const base = Math.min(roundsMax, 2 ** Math.min(this.failures - 1, 16));
    this.backoffRounds = Math.min(roundsMax, Math.floor(base * (0.5 + jitter)));
  }

  /** Records an acknowledged match; returns whether match advanced. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      this.stalledTicks = 0;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    this.checkInvariants();
    return updated;
  }

  /**
   * Handles a rejected append that was sent with prevLogIndex `rejected`; `hintNext` is where the
   * follower's hint says to try next. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: LogIndex, hintNext: LogIndex): boolean {
    if (this.state === 'replicate') {
      // Rejections of entries at or below match are stale: the logs match there.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe, only the rejection of the last probe counts.
    if (this.next - 1 !== rejected) return false;
    // A probe at match can only fail on a follower that lost entries it acknowledged (a wiped data
    // folder): next cannot go below match + 1, so probing again at once would send the same
    // append for ever, as fast as the follower answers. The next heartbeat round probes again.
    if (rejected <= this.match) return false;
    this.next = Math.max(Math.min(rejected, hintNext), this.match + 1);
    this.probeSent = false;
    this.checkInvariants();
    return true;
  }

  /** Records that an append ending at `lastIndex` of `bytes` was sent. */
  sentEntries(lastIndex: LogIndex, count: number, bytes: number): void {
    switch (this.state) {
      case 'replicate':
        if (count > 0) {
          this.next = lastIndex + 1;
          this.inflights.add(lastIndex, bytes);
        }
        break;
      case 'probe':
        this.probeSent = true;
        break;
      case 'snapshot':
        assert(false, 'no appends are sent in snapshot state');
    }
  }

  /** True when the leader must not send another append now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  checkInvariants(): void {
    assert(this.match < this.next, `match ${this.match} < next ${this.next}`);
  }
}
