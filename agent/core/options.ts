/**
 * What a core is built from: its options (in ticks and bytes), its one dependency (randomness)
 * and the state it starts from. The runtime derives the options from RaftConfiguration and the
 * start state from what the node persisted.
 */
import type { LogReader, StoredLog } from '../../contracts/persistence.js';
import type { Prng } from '../../contracts/prng.js';
import type { WitnessView } from './witness.js';
import type { ClusterConfiguration, HardState, LogEntry, NodeId } from '../../contracts/log.js';
import type { SnapshotRef } from './ready.js';

/** Options of the core, in ticks and bytes. The runtime derives them from RaftConfiguration. */
export interface CoreOptions {
  readonly id: NodeId;
  /** Lower bound of the randomized election timeout, ticks; also the leader's check-quorum period. */
  readonly electionTimeoutMinTicks: number;
  /** Upper bound (exclusive) of the randomized election timeout, ticks. */
  readonly electionTimeoutMaxTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxEntriesPerAppend: number;
  readonly appendBytesMax: number;
  readonly inflightCountMax: number;
  readonly inflightBytesMax: number;
  readonly uncommittedBytesMax: number;
  readonly pendingReadsMax: number;
  readonly snapshotChunkBytes: number;
  /** Largest snapshot accepted from a leader, bytes. */
  readonly snapshotBytesMax: number;
  /** Most committed-entry bytes handed out to apply in one Ready (at least one entry). */
  readonly applyBytesMax: number;
  /**
   * Entry bytes of applied, durable entries whose payloads stay in memory (log-window.ts); older
   * ones are read from CoreDeps.logReader when a follower needs them. Used only with a reader.
   * Default: unbounded.
   */
  readonly residentLogBytesMax?: number;
  /**
   * This node was set up as a witness (agent.json marks it so). A witness never campaigns and
   * strips what it stores whatever the configuration says, so a witness whose configuration
   * lost track of its role still never leads and never keeps a value. Default false.
   */
  readonly witness?: boolean;
  /**
   * A brand-new cluster elects its first leader early: while the node has no term, no vote, no
   * log and no snapshot, and is the voter with the lowest id of its configuration, its election
   * timeout is one heartbeat interval (`heartbeatTicks`) instead of a randomized one, so it
   * (pre-)campaigns soon after it starts and retries as soon if its peers were not up yet. Once
   * any term begins, every timeout is randomized as usual. Timeouts only pace elections; safety
   * does not rest on them (Raft §5.2, §5.4), and only one node of a fresh cluster (the same one
   * on every node, by id) shortens its timeout, so the first election is not split. Default false.
   */
  readonly earlyFirstCampaign?: boolean;
}

/** Dependencies of the core: randomness, what witnesses may see, and the durable log. */
export interface CoreDeps {
  readonly prng: Prng;
  /**
   * Reads durable entries back (storage): with it the core keeps only a window of payloads in
   * memory (CoreOptions.residentLogBytesMax); without it, every entry since the compaction point.
   */
  readonly logReader?: LogReader;
  /** What a witness is sent and stores (witness.ts). Default STRIPPED_WITNESS_VIEW. */
  readonly witnessView?: WitnessView;
}

/** What a core starts from: what the node persisted, and the cluster to bootstrap without a log. */
export interface CoreStartState {
  readonly hardState: HardState;
  /** The persisted snapshot (its metadata and size; the image stays on disk). */
  readonly snapshot: SnapshotRef | null;
  /** The stored entries, all in memory; empty when `storedLog` is given. */
  readonly entries: readonly LogEntry[];
  /**
   * The stored entries without their payloads (contracts/persistence.ts, StoredLog), which the
   * core then reads back through CoreDeps.logReader (required with it) as it applies or sends them:
   * how a node restarts on its data (issue 17). Default: `entries`.
   */
  readonly storedLog?: StoredLog;
  /** The configuration in force when neither the snapshot nor the log holds one. */
  readonly bootstrap: ClusterConfiguration;
}
