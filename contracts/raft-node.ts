/**
 * The RaftNode interface (reference concept `raft_node`) and the status a node reports.
 */
import type { ClusterConfiguration, LogIndex, NodeId, ServerState, Term } from './log.js';

/** Options of {@link RaftNode.addServer}. */
export interface AddServerOptions {
  /** Keep the node a non-voting learner instead of promoting it once it has caught up. */
  readonly learner?: boolean;
  /** Add the node as a witness: it votes but stores only terms and indexes, and never leads. Default false. */
  readonly witness?: boolean;
}

/** A node's view of one member, for status displays. */
export interface MemberStatus {
  readonly id: NodeId;
  readonly address: string;
  readonly role: 'voter' | 'learner';
  /** Present (true) when the member is a witness: it votes (or will, as a learner) but stores no values. */
  readonly witness?: true;
  /** On the leader: the highest index known replicated on the member; otherwise null. */
  readonly matchIndex: LogIndex | null;
  /**
   * Present when this node reaches the member elsewhere than `address`: where the member's own
   * authenticated RPCs said it listens, until the configuration records that address.
   */
  readonly reachedAt?: string;
}

/**
 * Snapshot activity of a node since it started (counters that start at 0 with the process), for
 * `/status` and the benches: how often this node snapshotted its state machine, and how often,
 * as leader, it had to send a follower a whole snapshot because the log it needed was compacted.
 */
export interface SnapshotCounts {
  /** Snapshots this node took of its state machine (each one compacts its log). */
  readonly taken: number;
  /** Snapshots received from a leader and restored. */
  readonly restored: number;
  /** InstallSnapshot transfers this node started as leader. */
  readonly sendsStarted: number;
  /** Transfers that ended with the follower holding the whole snapshot. */
  readonly sendsCompleted: number;
  /** Transfers that ended unfinished: superseded by a newer snapshot, or abandoned (leadership or membership lost). */
  readonly sendsFailed: number;
}

/**
 * What a node's Raft log holds in memory (issues 16, 17): terms and sizes of every entry from
 * `firstIndex`, payloads only from `residentFromIndex` (entries not yet durable or applied, and up
 * to raft.logResidentBytes of applied ones); older entries a follower needs are read back from
 * storage, `entriesReadBack` counting them since the node started.
 */
export interface LogMemory {
  /** The oldest entry the log knows (behind the snapshot: those kept for lagging followers). */
  readonly firstIndex: LogIndex;
  /** The oldest entry whose payload is in memory (lastLogIndex + 1 when none is). */
  readonly residentFromIndex: LogIndex;
  /** Entry bytes in memory (command bytes plus a fixed overhead per entry). */
  readonly residentBytes: number;
  /** Entries read back from storage since the node started. */
  readonly entriesReadBack: number;
}

/** A snapshot of a node's state, for `/status` and the CLI. */
export interface NodeStatus {
  readonly nodeId: NodeId;
  readonly state: ServerState;
  readonly term: Term;
  readonly leaderId: NodeId | null;
  readonly commitIndex: LogIndex;
  readonly lastApplied: LogIndex;
  readonly lastLogIndex: LogIndex;
  readonly snapshotIndex: LogIndex;
  readonly configuration: ClusterConfiguration;
  readonly members: readonly MemberStatus[];
  readonly snapshots: SnapshotCounts;
  readonly log: LogMemory;
  /**
   * Present when every peer this node sent to has refused its handshakes (NET_AUTH) for 30 s or
   * more and none answered: no peer accepts its keys (a gateway removed or rekeyed while it kept
   * running). `forMs`: how long; `advice`: what to do.
   */
  readonly keysRefused?: { readonly forMs: number; readonly advice: string };
}

/**
 * A Raft node (reference `raft_node`). Futures become Promises; durations are milliseconds.
 */
export interface RaftNode {
  /**
   * Replicates `command` and resolves with the state machine's result once it is committed and
   * applied on this node. Rejects with NotLeaderError (with the leader hint), TimeoutError
   * (outcome unknown), ProposalError (definitely not applied) or StoppedError.
   */
  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Answers `query` from a state at least as new as any write acknowledged before the call (ReadIndex). */
  readState(query: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): boolean;
  getNodeId(): NodeId;
  getCurrentTerm(): Term;
  getState(): ServerState;
  isLeader(): boolean;
  getLeaderId(): NodeId | null;
  getStatus(): NodeStatus;
  /** Adds a server through joint consensus; resolves true once the new configuration is committed. */
  addServer(node: NodeId, address: string, options?: AddServerOptions): Promise<boolean>;
  /** Removes a server through joint consensus; resolves true once the new configuration is committed. */
  removeServer(node: NodeId): Promise<boolean>;
  /** Hands leadership to `to` (or the most up-to-date follower) and resolves once it leads. */
  transferLeadership(to: NodeId | null, timeoutMs: number): Promise<NodeId>;
}
