/**
 * Leadership transfer (Raft thesis §3.10), driven from the leader: the core brings the target
 * up to date and sends it TimeoutNow, and proposals are refused meanwhile (RAFT_TRANSFER); this
 * module picks the target when none is named (the most up-to-date voter) and waits, with a
 * deadline, until another node leads.
 */
import { quorumVoters } from '../core/configuration.js';
import type { RaftCore } from '../core/raft.js';
import { NotLeaderError, ProposalError, StoppedError, TimeoutError } from '../../contracts/errors.js';
import type { Timers } from '../../contracts/clock.js';
import type { NodeId } from '../../contracts/log.js';

/** What a transfer needs of the node. */
export interface LeadershipHost {
  isRunning(): boolean;
  requireCore(): LeadershipCore;
  scheduleReady(): void;
}

/** What a transfer reads and calls of the core. */
export type LeadershipCore = Pick<
  RaftCore,
  'getRole' | 'getLeaderId' | 'getConfiguration' | 'getProgress' | 'transferLeadership'
>;

/** Plain-data options of a transfer. */
export interface LeadershipOptions {
  readonly nodeId: NodeId;
  /** How often the wait looks at who leads, ms (the tick interval). */
  readonly pollIntervalMs: number;
}

/**
 * Hands leadership to `to` (or the most up-to-date follower) and resolves with the new leader
 * once another node leads; TimeoutError when none does within `timeoutMs`.
 */
export async function transferLeadership(
  host: LeadershipHost,
  timers: Timers,
  options: LeadershipOptions,
  to: NodeId | null,
  timeoutMs: number,
): Promise<NodeId> {
  if (!host.isRunning()) throw new StoppedError();
  const core = host.requireCore();
  if (core.getRole() !== 'leader') throw new NotLeaderError(core.getLeaderId());
  const target = to ?? mostUpToDateFollower(core);
  if (target === null) throw new ProposalError('RAFT_TRANSFER', 'no other voter to transfer leadership to');
  const result = core.transferLeadership(target);
  if (!result.ok)
    throw result.reason === 'not-leader'
      ? new NotLeaderError(core.getLeaderId())
      : new ProposalError('RAFT_TRANSFER', result.message);
  host.scheduleReady();
  const deadline = timers.nowMs() + timeoutMs;
  while (host.isRunning()) {
    const leader = core.getLeaderId();
    if (leader !== null && leader !== options.nodeId) return leader;
    const left = deadline - timers.nowMs();
    if (left <= 0) break;
    await new Promise<void>((resolve) => timers.setTimer(Math.min(left, options.pollIntervalMs), resolve));
  }
  throw new TimeoutError(`leadership did not move to ${target} within ${timeoutMs} ms`);
}

/** The voter (other than the leader itself, which has no progress entry) with the highest match index. */
function mostUpToDateFollower(core: LeadershipCore): NodeId | null {
  const voters = new Set(quorumVoters(core.getConfiguration()).incoming);
  let best: { id: NodeId; match: number } | null = null;
  for (const progress of core.getProgress()) {
    if (!voters.has(progress.id)) continue;
    if (best === null || progress.match > best.match) best = { id: progress.id, match: progress.match };
  }
  return best?.id ?? null;
}
