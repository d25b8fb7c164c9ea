/**
 * The default MembershipManager (reference `default_membership_manager`): any well-formed node
 * id may join, and a peer is who it claims to be unless the transport authenticated it as
 * someone else. The PSK-authenticated manager (fleet issue) adds credentials.
 */
import { isMember, isValidNodeId, withWitnesses, witnessesOf } from '../core/configuration.js';
import type { ClusterConfiguration, NodeId } from '../../contracts/log.js';
import type { MembershipManager, NodeValidation } from '../../contracts/membership.js';
import type { InboundContext } from '../../contracts/network.js';

export class DefaultMembershipManager implements MembershipManager {
  validateNewNode(node: NodeId, address: string): NodeValidation {
    if (!isValidNodeId(node))
      return { ok: false, reason: `invalid node id ${JSON.stringify(node)}: 1 to 64 printable ASCII characters` };
    if (address.length > 255) return { ok: false, reason: 'address longer than 255 characters' };
    return { ok: true };
  }

  authenticateNode(claimedId: NodeId, context: InboundContext): boolean {
    return context.peerIdentity === null || context.peerIdentity === claimedId;
  }

  createJointConfiguration(current: ClusterConfiguration, next: ClusterConfiguration): ClusterConfiguration {
    const members = new Map(current.members.map((m) => [m.id, m]));
    for (const m of next.members) members.set(m.id, m);
    const joint = {
      voters: next.voters,
      learners: next.learners,
      oldVoters: current.voters,
      members: [...members.values()],
    };
    // Witnesses keep their role through the change (a member never changes it in place).
    return withWitnesses(
      joint,
      [...witnessesOf(current), ...witnessesOf(next)].filter((id) => isMember(joint, id)),
    );
  }

  isNodeInConfiguration(node: NodeId, configuration: ClusterConfiguration): boolean {
    return isMember(configuration, node);
  }

  handleNodeRemoval(_node: NodeId): void {}
}
