/**
 * The node as the code around it sees it: what the local endpoint (agent/endpoint) and the
 * agent's assembly (agent.ts) call, and nothing else. The endpoint depends on this interface, not
 * on the RaftNodeImpl class, which implements it together with the reference's RaftNode.
 *
 * The part the reference defines (lifecycle, leadership, status) is taken from RaftNode in
 * contracts/raft-node.ts, so each of those methods is declared and documented once; the rest is
 * what the product adds: requests that run on the leader wherever they are made (forwarded
 * over the peer transport from a follower), stale local reads, signed administration, and the
 * state the assembly needs.
 */
import type { ClusterConfiguration, LogIndex } from '../../contracts/log.js';
import type { RaftNode } from '../../contracts/raft-node.js';
import type { AdminResult } from './admin.js';

/** What the local endpoint and the agent's assembly call on the node. */
export interface NodeApi extends Pick<
  RaftNode,
  'start' | 'stop' | 'isRunning' | 'isLeader' | 'getNodeId' | 'getStatus' | 'transferLeadership'
> {
  /**
   * Runs a write on the leader, forwarding it there from a follower, and resolves with the state
   * machine's result once it is applied on the leader. Errors as RaftNode.submitCommand; a
   * forward that failed leaves the outcome unknown (TimeoutError). `retryUnknown`: the command
   * carries an identity the state machine deduplicates (a session, as the endpoint's writes do),
   * so it is sent again after an attempt whose outcome is unknown. Default false. `what`: the
   * write as an error message names it (default "the write"), e.g. "the keepalive of lease 5".
   */
  submitAnywhere(command: Uint8Array, timeoutMs: number, retryUnknown?: boolean, what?: string): Promise<Uint8Array>;
  /** Runs a linearizable read on the leader, forwarding it there from a follower. */
  readAnywhere(query: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Answers a query from this node's state machine without any check (a stale read). */
  readLocal(query: Uint8Array): Uint8Array;
  /**
   * Runs a signed administration command on the leader, forwarding it there from a follower; ForbiddenError when it is
   * not authorized.
   */
  adminAnywhere(envelope: Uint8Array, timeoutMs: number): Promise<AdminResult>;
  /** Takes a snapshot on this node on the authority of a signed snapshot command naming it; resolves with its index. */
  snapshotSigned(envelope: Uint8Array): Promise<LogIndex>;
  /**
   * The configuration in force: the latest in the log, committed or not. Throws StoppedError before the node started.
   */
  getConfiguration(): ClusterConfiguration;
  /**
   * True when this node is a witness: it stores no values, so the endpoint serves it no
   * key-value request (DESIGN.md, "Witness members").
   */
  isWitness(): boolean;
  /** The fatal error that stopped the node, if any (null otherwise). */
  getFatalError(): unknown;
}
