/**
 * A node's status as the reference's `raft_node` reports it (server state, term, leader,
 * indexes, members with their replication progress), computed from what the core exposes.
 * Pure functions: they read the core through {@link StatusCore} and change nothing.
 */
import { addressOf, allMembers, isWitness } from '../core/configuration.js';
import type { RaftCore } from '../core/raft.js';
import type { ClusterConfiguration, NodeId, ServerState } from '../../contracts/log.js';
import type { MemberStatus, NodeStatus, SnapshotCounts } from '../../contracts/raft-node.js';

/** What the status reads of the core. */
export type StatusCore = Pick<
  RaftCore,
  | 'getRole'
  | 'getTerm'
  | 'getLeaderId'
  | 'getConfiguration'
  | 'getProgress'
  | 'getCommitIndex'
  | 'getAppliedIndex'
  | 'getLastIndex'
  | 'getSnapshotIndex'
  | 'getLogMemory'
>;

/**
 * The reference's server state of node `nodeId`: a pre-candidate counts as a candidate, and a
 * follower that is a learner in the configuration in force as a learner. A node whose core does
 * not exist yet (not started) is a follower.
 */
export function serverStateOf(core: StatusCore | null, nodeId: NodeId): ServerState {
  if (core === null) return 'follower';
  const role = core.getRole();
  if (role === 'leader') return 'leader';
  if (role === 'candidate' || role === 'precandidate') return 'candidate';
  return core.getConfiguration().learners.includes(nodeId) ? 'learner' : 'follower';
}

/** `{ witness: true }` for a witness member, nothing otherwise (MemberStatus.witness). */
function witnessFlag(config: ClusterConfiguration, id: NodeId): { witness?: true } {
  return isWitness(config, id) ? { witness: true } : {};
}

/** What the node's RPC traffic knows of its peers, for the status (peer-rpcs.ts). */
export interface PeerView {
  /** See NodeStatus.keysRefused; null when some peer accepts this node's keys. */
  readonly keysRefused: { readonly forMs: number; readonly advice: string } | null;
  /** The members this node reaches elsewhere than the configuration says, where (peer-reach.ts). */
  readonly reachedAt: readonly { readonly id: NodeId; readonly address: string }[];
}

const NO_PEER_VIEW: PeerView = { keysRefused: null, reachedAt: [] };

/**
 * The status of node `nodeId`. Match indexes are known only on a leader: there each member's is
 * its replication progress, and the leader's own is its last log index; elsewhere they are null.
 * `snapshots` are the node's snapshot counters (snapshots.ts); `peers`, what its RPCs learnt of its peers.
 */
export function nodeStatusOf(
  core: StatusCore,
  nodeId: NodeId,
  snapshots: SnapshotCounts,
  peers: PeerView = NO_PEER_VIEW,
): NodeStatus {
  const config = core.getConfiguration();
  const leading = core.getRole() === 'leader';
  const progress = new Map(core.getProgress().map((p) => [p.id, p.match]));
  const reached = new Map(peers.reachedAt.map((m) => [m.id, m.address]));
  const members: MemberStatus[] = allMembers(config).map((id) => {
    const address = addressOf(config, id);
    const reachedAt = reached.get(id);
    return {
      id,
      address,
      role: config.learners.includes(id) ? 'learner' : 'voter',
      ...witnessFlag(config, id),
      matchIndex: !leading ? null : id === nodeId ? core.getLastIndex() : (progress.get(id) ?? 0),
      ...(reachedAt === undefined || reachedAt === address ? {} : { reachedAt }),
    };
  });
  return {
    nodeId,
    state: serverStateOf(core, nodeId),
    term: core.getTerm(),
    leaderId: core.getLeaderId(),
    commitIndex: core.getCommitIndex(),
    lastApplied: core.getAppliedIndex(),
    lastLogIndex: core.getLastIndex(),
    snapshotIndex: core.getSnapshotIndex(),
    configuration: config,
    members,
    snapshots,
    log: core.getLogMemory(),
    ...(peers.keysRefused === null ? {} : { keysRefused: peers.keysRefused }),
  };
}
