/**
 * What a core is built from: its options (in ticks and bytes), its one dependency (randomness)
 * and the state it starts from. The runtime derives the options from RaftConfiguration and the
 * start state from what the node persisted.
 */
import type { Prng } from '../../contracts/prng.js';
import type { WitnessView } from './witness.js';
import type { ClusterConfiguration, HardState, LogEntry, NodeId, Snapshot } from '../../contracts/log.js';

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
   * This node was set up as a witness (agent.json marks it so). A witness never campaigns and
   * strips what it stores whatever the configuration says, so a witness whose configuration
   * lost track of its role still never leads and never keeps a value. Default false.
   */
  readonly witness?: boolean;
}

/** Dependencies of the core: randomness, and what witnesses may see. */
export interface CoreDeps {
  readonly prng: Prng;
  /** What a witness is sent and stores (witness.ts). Default STRIPPED_WITNESS_VIEW. */
  readonly witnessView?: WitnessView;
}

/** What a core starts from: what the node persisted, and the cluster to bootstrap without a log. */
export interface CoreStartState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly LogEntry[];
  /** The configuration in force when neither the snapshot nor the log holds one. */
  readonly bootstrap: ClusterConfiguration;
}
