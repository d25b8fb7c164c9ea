/**
 * The contracts of coraft: one TypeScript interface for every concept of the reference design
 * (RpcSerializer, NetworkClient, NetworkServer, PersistenceEngine, DiagnosticLogger, Metrics,
 * MembershipManager, RaftNode, RaftConfiguration) plus the StateMachine the node drives and the
 * Clock/Timers/Prng it is given. Components in codec/, transport/ and storage/ implement these
 * and import nothing else from agent/ but this file, which also re-exports the data types and
 * the error classes.
 *
 * The reference's templates become constructor injection, its futures become Promises, and its
 * per-message method families become one generic method over the message union, as listed on
 * each interface.
 */
import type {
  ClusterConfiguration,
  HardState,
  LogEntry,
  LogIndex,
  NodeId,
  RequestMessage,
  ResponseFor,
  ResponseMessage,
  RpcMessage,
  RpcMessageType,
  MessageOfType,
  ServerState,
  Snapshot,
  SnapshotMeta,
  Term,
} from './core/types.js';

export type * from './core/types.js';
export { RPC_MESSAGE_TYPES, RPC_OF_REQUEST, NODE_ID_LENGTH_MAX, claimedSender, isRequest } from './core/types.js';
export * from './errors.js';
export type { RaftConfiguration } from './raft-configuration.js';
export { DEFAULT_RAFT_CONFIGURATION, validateRaftConfiguration } from './raft-configuration.js';

// ---------------------------------------------------------------------------------------------
// RpcSerializer (reference concept `rpc_serializer`)
// ---------------------------------------------------------------------------------------------

/** Limits a decoder enforces; exceeding one is a `SerializationError` with code CODEC_LIMIT. */
export interface CodecLimits {
  /** Largest encoded message accepted, in bytes. Default 8 MiB. */
  readonly messageBytesMax: number;
  /** Most entries in one AppendEntries. Default 10,000. */
  readonly entriesPerMessageMax: number;
  /** Largest command of one entry, in bytes. Default 1 MiB. */
  readonly entryBytesMax: number;
  /** Largest snapshot chunk, in bytes. Default 4 MiB. */
  readonly chunkBytesMax: number;
}

/**
 * Turns RPC messages into bytes and back (reference `rpc_serializer`). The reference's
 * `serialize(request_vote_req)` family is `encode(message)`; its
 * `deserialize_request_vote_request(data)` family is `decodeAs('RequestVoteRequest', data)`.
 * Decoding is strict and throws `SerializationError` for anything that is not a valid message.
 */
export interface RpcSerializer {
  /** The configuration name of this codec: 'cbor', 'json' or 'protobuf'. */
  readonly name: string;
  /** The CoAP Content-Format number of the encoding (RFC 7252 §12.3). */
  readonly contentFormat: number;
  /** The media type of the encoding, for HTTP. */
  readonly mediaType: string;
  encode(message: RpcMessage): Uint8Array;
  decode(bytes: Uint8Array): RpcMessage;
  decodeAs<T extends RpcMessageType>(type: T, bytes: Uint8Array): MessageOfType<T>;
}

// ---------------------------------------------------------------------------------------------
// NetworkClient and NetworkServer (reference concepts `network_client`, `network_server`)
// ---------------------------------------------------------------------------------------------

/**
 * Sends RPCs to peers (reference `network_client`). The reference's `send_request_vote`,
 * `send_append_entries` and `send_install_snapshot` are `send(target, request, timeoutMs)`,
 * whose result type follows the request's type. Many requests to one peer may be outstanding
 * at once. A failure rejects with `NetworkError` (NET_UNREACHABLE, NET_TIMEOUT, NET_REJECTED,
 * NET_AUTH, NET_TOO_LARGE); the client never retries on its own beyond its transport's
 * retransmission: retrying is the caller's (Raft's) decision.
 */
export interface NetworkClient {
  send<R extends RequestMessage>(target: NodeId, request: R, timeoutMs: number): Promise<ResponseFor<R>>;
  /** Replaces the address book; called when the cluster configuration changes. */
  setPeers(members: readonly { readonly id: NodeId; readonly address: string }[]): void;
  /** Aborts outstanding requests and releases sockets and sessions. */
  close(): Promise<void>;
}

/** What the server knows of the sender of a request. */
export interface InboundContext {
  /**
   * The identity the transport authenticated (the DTLS PSK identity), or null when the
   * transport does not authenticate peers (`coap`, `http`).
   */
  readonly peerIdentity: NodeId | null;
  /** The sender's address as "host:port", for logs. */
  readonly remoteAddress: string;
}

/** Handles one inbound request; resolves with the response to send back. */
export type RpcHandler = (request: RequestMessage, context: InboundContext) => Promise<ResponseMessage>;

/**
 * Receives RPCs from peers (reference `network_server`). The reference registers one handler
 * per RPC; here one handler receives the request union and switches on its `type`.
 */
export interface NetworkServer {
  setHandler(handler: RpcHandler): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): boolean;
}

// ---------------------------------------------------------------------------------------------
// PersistenceEngine (reference concept `persistence_engine`)
// ---------------------------------------------------------------------------------------------

/**
 * One atomic, durable write: what the runtime persists for one Ready. The engine applies the
 * parts in this order — snapshot, truncateFrom, entries, compactBefore, hardState — in one
 * transaction with one sync, and the promise resolves only when all of it is on disk.
 */
export interface PersistBatch {
  /** Replaces the stored snapshot. */
  readonly snapshot: Snapshot | null;
  /** Deletes every entry with index >= truncateFrom. */
  readonly truncateFrom: LogIndex | null;
  /** Appends these entries; they must follow the last stored entry contiguously. */
  readonly entries: readonly LogEntry[];
  /** Deletes every entry with index < compactBefore (log compaction after a snapshot). */
  readonly compactBefore: LogIndex | null;
  /** Replaces term and vote. */
  readonly hardState: HardState | null;
}

/** Everything a node restores from disk when it starts. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** The stored entries, contiguous, after the snapshot (if any). */
  readonly entries: readonly LogEntry[];
}

/**
 * Durable storage of Raft state (reference `persistence_engine`), narrowed to what the runtime
 * uses: one `load` when the node starts, one `persist` per Ready (and per snapshot taken), one
 * `close` when it stops. A write resolves only once it is durable; any failure rejects with
 * `PersistenceError` (or `InvariantError` for a batch that would break the log), which the node
 * treats as fatal.
 *
 * The reference's per-field methods map onto these two as follows; a run of them becomes one
 * batch, written atomically with one sync instead of one sync each:
 *
 * - `save_current_term(t)` and `save_voted_for(n)`: `persist({ hardState })` with the whole
 *   hard state, `{ currentTerm: t, votedFor }` or `{ currentTerm, votedFor: n }`.
 * - `append_log_entry(e)`: `persist({ entries: [e] })`; a batch carries any number of entries.
 * - `truncate_log(i)`: `persist({ truncateFrom: i })`, i at or after the first stored index.
 * - `save_snapshot(s)`: `persist({ snapshot: s })`.
 * - `delete_log_entries_before(i)`: `persist({ compactBefore: i })`.
 * - `load_current_term()`, `load_voted_for()`: `load().hardState`.
 * - `load_snapshot()`: `load().snapshot`.
 * - `get_log_entry(i)`, `get_log_entries(a, b)`, `get_last_log_index()`: `load().entries`,
 *   the stored log after the snapshot (the last index is the snapshot's when it is empty).
 *
 * The hard state is one record, so a new term or vote is written together with the other
 * half, which the caller holds. Reads after start are the core's job: it keeps the log it
 * loaded in memory (agent/core/log.ts), so an engine never serves a read while it runs. The
 * test harness rebuilds the per-field methods over this port (test/storage/reference-fields.ts).
 */
export interface PersistenceEngine {
  /** Applies one batch atomically with one sync; see {@link PersistBatch}. */
  persist(batch: PersistBatch): Promise<void>;
  /** Loads everything a restarting node needs, checking it for consistency. */
  load(): Promise<PersistedState>;
  /** Refuses every write not yet durable with STORAGE_CLOSED and releases the store. Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// DiagnosticLogger (reference concept `diagnostic_logger`)
// ---------------------------------------------------------------------------------------------

/** Log levels of the reference, `warning` and `critical` included. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical';

/** Structured key-value context of one log record. */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/** Structured logging (reference `diagnostic_logger`). */
export interface DiagnosticLogger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
  trace(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warning(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  critical(message: string, fields?: LogFields): void;
}

// ---------------------------------------------------------------------------------------------
// Metrics (reference concept `metrics`)
// ---------------------------------------------------------------------------------------------

/** Dimensions (labels) of one metric sample. */
export type MetricDimensions = Readonly<Record<string, string>>;

/**
 * Metrics recording (reference `metrics`). The reference's stateful builder
 * (`set_metric_name`, `add_dimension`, then `add_one` / `add_count` / `add_duration` /
 * `add_value`, then `emit`) becomes one call per sample naming the metric and its dimensions:
 * `increment` is add_one/add_count, `observeDurationMs` is add_duration, `setGauge` and
 * `observe` are add_value for levels and distributions, and `flush` is emit.
 */
export interface Metrics {
  increment(name: string, count?: number, dimensions?: MetricDimensions): void;
  setGauge(name: string, value: number, dimensions?: MetricDimensions): void;
  observe(name: string, value: number, dimensions?: MetricDimensions): void;
  observeDurationMs(name: string, durationMs: number, dimensions?: MetricDimensions): void;
  flush(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// MembershipManager (reference concept `membership_manager`)
// ---------------------------------------------------------------------------------------------

/** The outcome of validating a node that is to join. */
export type NodeValidation = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Decides who may join and who a peer is (reference `membership_manager`). */
export interface MembershipManager {
  /** Called before a membership change starts. */
  validateNewNode(node: NodeId, address: string): NodeValidation;
  /** Called on every peer RPC: does the authenticated identity match the id the request claims? */
  authenticateNode(claimedId: NodeId, context: InboundContext): boolean;
  /** Builds C_old,new from the current configuration and the target one. */
  createJointConfiguration(current: ClusterConfiguration, next: ClusterConfiguration): ClusterConfiguration;
  isNodeInConfiguration(node: NodeId, configuration: ClusterConfiguration): boolean;
  /** Called once a configuration without `node` is committed. */
  handleNodeRemoval(node: NodeId): void;
}

// ---------------------------------------------------------------------------------------------
// StateMachine
// ---------------------------------------------------------------------------------------------

/**
 * The replicated state machine the node applies committed commands to. Every method is
 * synchronous and deterministic: the same entries applied in the same order give the same
 * results and the same snapshot on every replica.
 */
export interface StateMachine {
  /** Applies the command of a committed entry and returns its result. */
  apply(entry: LogEntry): Uint8Array;
  /** Answers a read-only query from the current state. */
  query(query: Uint8Array): Uint8Array;
  /** Serializes the whole state (sessions included). */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(meta: SnapshotMeta, data: Uint8Array): void;
}

// ---------------------------------------------------------------------------------------------
// Time and randomness
// ---------------------------------------------------------------------------------------------

/** A monotonic clock. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never decreases. */
  nowMs(): number;
}

/** A cancellable timer. */
export interface TimerHandle {
  cancel(): void;
}

/** Timers on a clock: real ones in production, virtual ones in simulation. */
export interface Timers extends Clock {
  /** Runs `callback` once after `delayMs` milliseconds. */
  setTimer(delayMs: number, callback: () => void): TimerHandle;
}

export type { Prng } from './core/prng.js';

// ---------------------------------------------------------------------------------------------
// RaftNode (reference concept `raft_node`)
// ---------------------------------------------------------------------------------------------

/** Options of {@link RaftNode.addServer}. */
export interface AddServerOptions {
  /** Keep the node a non-voting learner instead of promoting it once it has caught up. */
  readonly learner?: boolean;
}

/** A node's view of one member, for status displays. */
export interface MemberStatus {
  readonly id: NodeId;
  readonly address: string;
  readonly role: 'voter' | 'learner';
  /** On the leader: the highest index known replicated on the member; otherwise null. */
  readonly matchIndex: LogIndex | null;
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
