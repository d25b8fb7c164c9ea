/**
 * Linearizable reads without log entries: ReadIndex (Raft thesis §6.4). The leader records its
 * commit index when a read arrives, then confirms that it still leads by hearing from a quorum
 * in answer to requests sent after the read arrived; the ReadState it then hands out may be
 * served once the state machine has applied the recorded index. The pending reads themselves
 * are kept by read-queue.ts.
 */
import { assert } from '../../contracts/assert.js';
import { quorumVoters } from './configuration.js';
import { hasQuorum } from './quorum.js';
import type { RequestResult } from './ready.js';
import type { CoreState } from './state.js';

/** Registers the read `token` on the leader; its ReadState comes out in a later Ready. */
export function requestRead(core: CoreState, token: number): RequestResult {
  if (core.role !== 'leader') return { ok: false, reason: 'not-leader', message: 'reads are served by the leader' };
  if (core.reads.isFull())
    return { ok: false, reason: 'busy', message: `more than ${core.options.pendingReadsMax} reads pending` };
  if (core.log.term(core.log.commitIndex) !== core.currentTerm) {
    // Thesis §6.4 step 1: the leader must first commit an entry of its own term.
    core.reads.addWaiting(token);
    return { ok: true };
  }
  core.reads.add(token, core.log.commitIndex, core.nextSeq);
  core.heartbeatNeeded = true;
  maybeConfirmReads(core);
  return { ok: true };
}

/** Confirms the reads whose leadership check a quorum has acknowledged. */
export function maybeConfirmReads(core: CoreState): void {
  // Called on every acknowledgement: with no read pending there is nothing to count (nor allocate).
  if (!core.reads.hasPending()) return;
  const voters = quorumVoters(core.configs.current());
  const confirmed = core.reads.takeConfirmed((seq) =>
    hasQuorum(voters, (id) => id === core.id || (core.ackedSeq.get(id) ?? 0) >= seq),
  );
  for (const read of confirmed) core.readStates.push(read);
}

/**
 * Once the leader has committed an entry of its own term, starts the leadership check of the
 * reads that waited for it, at the commit index (thesis §6.4 step 1), and confirms them at once
 * when the leader alone is a quorum.
 */
export function releaseWaitingReads(core: CoreState): void {
  assert(core.role === 'leader', 'only a leader holds reads');
  if (core.reads.hasWaiting() && core.log.term(core.log.commitIndex) === core.currentTerm) {
    core.reads.releaseWaiting(core.log.commitIndex, core.nextSeq);
    core.heartbeatNeeded = true;
    // A single voter is its own quorum: no acknowledgement will come to confirm these reads.
    maybeConfirmReads(core);
  }
}
