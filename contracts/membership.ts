/**
 * The MembershipManager port (reference concept `membership_manager`): who may join and who a
 * peer is. Implemented by agent/membership/ (PSK admission).
 */
import type { ClusterConfiguration, NodeId } from './log.js';
import type { InboundContext } from './network.js';

/** The outcome of validating a node that is to join. */
export type NodeValidation = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Decides who may join and who a peer is (reference `membership_manager`). */
export interface MembershipManager {
  /** Called before a membership change starts. */
  validateNewNode(node: NodeId, address: string): NodeValidation;
  /**
   * Called on every peer RPC: does the authenticated identity match the id the request claims? `requestType`, the
   * RPC's type, is for the manager's log line when it logs its refusals (`logsRefusals`).
   */
  authenticateNode(claimedId: NodeId, context: InboundContext, requestType?: string): boolean;
  /** True when the manager logs why it refused a peer (once per peer and reason); else the caller logs it. */
  readonly logsRefusals?: boolean;
  /** Builds C_old,new from the current configuration and the target one. */
  createJointConfiguration(current: ClusterConfiguration, next: ClusterConfiguration): ClusterConfiguration;
  isNodeInConfiguration(node: NodeId, configuration: ClusterConfiguration): boolean;
  /** Called once a configuration without `node` is committed. */
  handleNodeRemoval(node: NodeId): void;
}
