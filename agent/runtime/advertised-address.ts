/**
 * Where this node's peer server is reached, as its RPCs tell peers and as a leader records
 * itself in the configuration (membership-driver.ts): its own entry in agent.json's `members`.
 */
import type { AgentConfig } from '../config/agent-config.js';
import { formatAddress } from '../../transport/rpc-routes.js';

/**
 * Where this node's peer server is reached, as its RPCs tell peers (CoapTransportOptions
 * .advertisedAddress): its own entry in `members`, else its listen address unless that is a
 * wildcard. A member that restarts on a new address with only its own agent.json changed says
 * so with every RPC, and the leader records it through the log once the session authenticated it.
 */
export function advertisedPeerAddress(config: AgentConfig): string | null {
  const own = config.members.find((m) => m.id === config.nodeId);
  if (own !== undefined) return own.address;
  const { host, port } = config.listenPeer;
  return host === '0.0.0.0' || host === '::' ? null : formatAddress(host, port);
}
