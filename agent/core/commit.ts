/**
 * Commitment (Raft §5.3, §5.4.2): how the leader advances its commit index by counting the
 * replicas of entries of its own term, and what follows when the commit index advances on any
 * node: the committed configuration moves on, a committed joint configuration is left for
 * C_new (Raft §6), a leader that the committed configuration removed steps down, and reads that
 * waited for the leader's first commit start their leadership check.
 */
import { assert } from '../../contracts/assert.js';
import { encodeConfiguration, isVoter } from './configuration.js';
import { jointCommitted } from './quorum.js';
import { releaseWaitingReads } from './read-index.js';
import type { CoreState } from './state.js';

/** Advances the leader's commit index to what a quorum holds, if that entry is of the current term. */
export function maybeCommit(core: CoreState): void {
  if (core.role !== 'leader') return;
  const config = core.configs.current();
  const index = jointCommitted(config.voters, config.oldVoters, core.matchIndexOf);
  // Raft §5.4.2: only entries of the current term are committed by counting replicas.
  if (index > core.log.commitIndex && core.log.term(index) === core.currentTerm) {
    core.log.commitTo(index);
    onCommitAdvanced(core);
  }
}

/** Called whenever the commit index advances, on a leader or a follower. */
export function onCommitAdvanced(core: CoreState): void {
  core.configs.commitTo(core.log.commitIndex);
  if (core.role !== 'leader') return;
  releaseWaitingReads(core);
  const config = core.configs.current();
  if (core.configs.hasUncommitted(core.log.commitIndex)) return;
  if (config.oldVoters !== null) {
    // The joint configuration is committed: move on to C_new (Raft §6), during a transfer too.
    const left = core.appendEntry('config', encodeConfiguration(core.configs.leaveJointConfiguration()), true);
    assert(left.ok, 'a leader leaves a committed joint configuration at once');
    return;
  }
  if (!isVoter(config, core.id)) {
    core.becomeFollower(core.currentTerm, null, 'removed from the configuration, which is now committed');
  }
}
