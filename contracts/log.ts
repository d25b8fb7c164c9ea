/**
 * The data of the replicated log: identifiers, log entries, cluster configurations, snapshots
 * and the hard state. Plain readonly values shared by the core, the runtime and every component
 * (codecs encode them, transports carry them, storage keeps them); the peer RPC messages that
 * carry them are in messages.ts.
 *
 * Mapping to the reference design: each reference struct becomes an interface with the same
 * fields in camelCase; `std::optional<T>` becomes `T | null` (always present, so strict
 * decoders can require every field); `std::vector<std::byte>` becomes `Uint8Array`.
 *
 * Terms and indexes are non-negative safe integers and node ids are non-empty strings. They
 * are plain aliases rather than branded types: the core does index arithmetic on nearly every
 * line, and the codecs and storage validate these values at every trust boundary instead.
 */
/** A node identifier: non-empty, at most {@link NODE_ID_LENGTH_MAX} UTF-16 units, printable. */
export type NodeId = string;
/** A Raft term (reference `term_id`): a non-negative safe integer. */
export type Term = number;
/** A log index (reference `log_index`): 1-based, 0 means "before the first entry". */
export type LogIndex = number;

/** The longest node id accepted anywhere. */
export const NODE_ID_LENGTH_MAX = 64;

/**
 * What a log entry carries. `command` entries hold state machine commands; `noop` is what a new
 * leader appends to commit entries of earlier terms (Raft §8); `config` holds an encoded
 * {@link ClusterConfiguration} (Raft §6).
 */
export type EntryType = 'command' | 'noop' | 'config';

/** A log entry (reference `log_entry`). For `config` entries `command` is the encoded configuration. */
export interface LogEntry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly type: EntryType;
  readonly command: Uint8Array;
}

/** A member's peer address, as "host:port" (empty in simulation). */
export interface ClusterMember {
  readonly id: NodeId;
  readonly address: string;
}

/**
 * A cluster configuration (reference `cluster_configuration`). `voters` is the reference's
 * `nodes()`; `oldVoters` is its `old_nodes()` and is non-null exactly while the configuration
 * is joint (C_old,new, Raft §6), when elections and commitment need majorities of both.
 * Learners receive the log but never vote or count toward a quorum. `members` gives the
 * address of every node named in the other three lists.
 *
 * `witnesses` names the members that are witnesses (DESIGN.md, "Witness members"): a witness
 * votes and counts toward commitment like any voter (or waits as a learner until it is
 * promoted) but keeps only each entry's term and index, never campaigns and never leads. The
 * field is absent when the configuration has no witness and never an empty list, so a
 * configuration without witnesses encodes exactly as before witnesses existed.
 */
export interface ClusterConfiguration {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly oldVoters: readonly NodeId[] | null;
  readonly members: readonly ClusterMember[];
  readonly witnesses?: readonly NodeId[];
}

/** What identifies a snapshot: the last entry it covers and the configuration as of that entry. */
export interface SnapshotMeta {
  readonly lastIncludedIndex: LogIndex;
  readonly lastIncludedTerm: Term;
  readonly configuration: ClusterConfiguration;
}

/** A stored snapshot without its image: its metadata and the image's size (PersistenceEngine.loadShape). */
export interface SnapshotHeader extends SnapshotMeta {
  /** The size of the image, bytes. */
  readonly dataBytes: number;
}

/** A snapshot (reference `snapshot`): its metadata plus the state machine's image. */
export interface Snapshot extends SnapshotMeta {
  /** The state machine's serialized state (reference `state_machine_state`). */
  readonly data: Uint8Array;
}

/** The state a node must persist before it answers an RPC (Raft Figure 2). */
export interface HardState {
  readonly currentTerm: Term;
  readonly votedFor: NodeId | null;
}

/** The roles of a server (reference `server_state`, plus `learner` for non-voting members). */
export type ServerState = 'follower' | 'candidate' | 'leader' | 'learner';
