/**
 * What a RaftNode is built from: its injected dependencies, its plain-data options, the
 * optional observer the simulator and the trace file listen with, and the translation of the
 * millisecond RaftConfiguration into the core's tick-based options.
 */
import { RaftCore } from '../core/raft.js';
import { snapshotRef } from '../core/ready.js';
import type { AdvertisedAddresses } from './peer-reach.js';
import type { SendPacing } from './send-pacer.js';
import type { WriteGate } from './disk-guard.js';
import type { CoreOptions, LogRetention } from '../core/raft.js';
import type { Timers } from '../../contracts/clock.js';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, SnapshotMeta, Term } from '../../contracts/log.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { MembershipManager } from '../../contracts/membership.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { NetworkClient, NetworkServer } from '../../contracts/network.js';
import type { PersistedShape, PersistenceEngine } from '../../contracts/persistence.js';
import type { Prng } from '../../contracts/prng.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import type { StateMachine } from '../../contracts/state-machine.js';
import type { AdminAuthority } from './admin.js';
import type { WitnessView } from '../core/witness.js';
import type { LatencyProbe } from '../observability/latency-probe.js';

/** Callbacks for the simulator's checks and the agent's trace file; all optional. */
export interface NodeObserver {
  /**
   * Called once per start, before anything else: the node (re)starts from its disk, where it
   * restored `snapshot` (null when there was none). It re-applies the entries after the
   * snapshot (or from index 1), which it may have applied before it stopped.
   */
  onRestart?(snapshot: SnapshotMeta | null): void;
  onLeader?(term: Term): void;
  onApply?(entry: LogEntry): void;
  onSnapshotRestore?(meta: SnapshotMeta): void;
  onConfiguration?(index: LogIndex, configuration: ClusterConfiguration): void;
  onProtocolViolation?(peer: NodeId, reason: string): void;
  onFatal?(error: unknown): void;
}

/** Dependencies of a RaftNode: every one an interface. */
export interface RaftNodeDeps {
  readonly timers: Timers;
  readonly prng: Prng;
  readonly client: NetworkClient;
  readonly server: NetworkServer;
  readonly storage: PersistenceEngine;
  readonly stateMachine: StateMachine;
  readonly logger: DiagnosticLogger;
  readonly metrics: Metrics;
  readonly membership: MembershipManager;
  readonly observer?: NodeObserver;
  /** Verifies signed admin commands (the replicated admin key and nonces); absent: every admin command is refused. */
  readonly admin?: AdminAuthority;
  /** What witnesses are sent and store (agent/core/witness.ts). Default: configurations only. */
  readonly witnessView?: WitnessView;
  /**
   * Decides whether client writes may be proposed (the full-disk guard, disk-guard.ts): a write
   * made here or forwarded here is refused with STORAGE_FULL while it says so. Absent: always.
   */
  readonly writeGate?: WriteGate;
  /** Marks each entry's stages for the bench's latency breakdown (observability/latency-probe.ts). Absent: none. */
  readonly latencyProbe?: LatencyProbe;
  /**
   * Runs the Ready loop's next turn soon after an input asked for it. Absent: queueMicrotask,
   * right after the input's own callback, which the simulator's virtual time relies on. The agent
   * passes setImmediate: a turn then comes after the event loop has read every datagram that was
   * waiting, so the proposals and appends they carry go to storage as one write and one sync,
   * not one each (on an idle machine, 64 clients' writes otherwise each got their own sync).
   */
  readonly deferReady?: (run: () => void) => void;
  /** Paces outbound peer requests over the event loop's turns (send-pacer.ts). Absent: each goes at once. */
  readonly paceSends?: SendPacing;
  /**
   * Hears the address each member's authenticated RPCs advertise, so this node reaches it there
   * before a leader records it (peer-reach.ts: the agent's client). Absent: the configuration's only.
   */
  readonly advertisedAddresses?: AdvertisedAddresses;
}

/** Default of {@link RaftNodeOptions.snapshotBytesMax}: 1 GiB. */
export const SNAPSHOT_BYTES_MAX_DEFAULT = 1024 * 1024 * 1024;

/** Plain-data options of a RaftNode. */
export interface RaftNodeOptions {
  readonly nodeId: NodeId;
  readonly raft: RaftConfiguration;
  /** The cluster to start with when storage holds no configuration. */
  readonly bootstrap: ClusterConfiguration;
  /** Removed: replaced by RaftConfiguration's logRetainEntries (with logRetainEntriesMax and logRetainBytesMax). */
  readonly logRetainEntries?: never;
  /** Largest snapshot accepted from a leader, bytes. Default 1 GiB. */
  readonly snapshotBytesMax?: number;
  /**
   * This node is a witness (agent.json marks it so): it stores terms and indexes only, never
   * campaigns, applies no key-value entry and serves no key-value request. Default false.
   */
  readonly witness?: boolean;
  /**
   * Where this node's peer server is reached, as its own entry in agent.json says (what its RPCs
   * advertise): as leader it records it in the configuration when that lists it elsewhere
   * (membership-driver.ts). Absent: nothing to record.
   */
  readonly advertisedAddress?: string | undefined;
}

/**
 * Bytes of an encoded AppendEntries besides its entries (type, term, leader id of up to 64
 * characters, indexes, framing), kept free when appends are sized to the transport's datagram.
 */
export const APPEND_ENVELOPE_BYTES = 512;

/**
 * The byte limit of one AppendEntries: the configured appendBytesMax, lowered so that an append
 * travels whole in one datagram when the transport says how much one carries
 * (NetworkClient.wholeRequestBytesMax). The core counts an entry as its command plus
 * ENTRY_OVERHEAD_BYTES, which bounds the cbor and protobuf encodings; an entry larger than the
 * limit still goes alone, and the transport splits it.
 */
export function appendBytesFor(appendBytesMax: number, wholeRequestBytesMax: number | undefined): number {
  if (wholeRequestBytesMax === undefined) return appendBytesMax;
  return Math.max(1, Math.min(appendBytesMax, wholeRequestBytesMax - APPEND_ENVELOPE_BYTES));
}

/**
 * Bytes of an encoded InstallSnapshot besides its data (the fields of an append, the offsets
 * and the snapshot's configuration: its members' ids and addresses).
 */
export const SNAPSHOT_ENVELOPE_BYTES = 4096;

/**
 * The size of one snapshot chunk: the configured snapshotChunkBytes, lowered so that a chunk
 * travels whole in one datagram when the transport says how much one carries. Chunks go one at
 * a time, so a whole chunk costs one round trip where a block-wise one costs one per KiB.
 */
export function snapshotChunkBytesFor(snapshotChunkBytes: number, wholeRequestBytesMax: number | undefined): number {
  if (wholeRequestBytesMax === undefined) return snapshotChunkBytes;
  return Math.max(1, Math.min(snapshotChunkBytes, wholeRequestBytesMax - SNAPSHOT_ENVELOPE_BYTES));
}

/**
 * Derives the core's tick-based options from a RaftConfiguration; `wholeRequestBytesMax` is the
 * transport's (NetworkClient.wholeRequestBytesMax), when it has one.
 */
export function coreOptionsFor(
  nodeId: NodeId,
  raft: RaftConfiguration,
  snapshotBytesMax: number,
  wholeRequestBytesMax?: number,
): CoreOptions {
  const ticks = (ms: number): number => Math.max(1, Math.round(ms / raft.tickIntervalMs));
  return {
    id: nodeId,
    electionTimeoutMinTicks: ticks(raft.electionTimeoutMinMs),
    electionTimeoutMaxTicks: Math.max(ticks(raft.electionTimeoutMinMs) + 1, ticks(raft.electionTimeoutMaxMs)),
    heartbeatTicks: ticks(raft.heartbeatIntervalMs),
    preVote: raft.preVote,
    checkQuorum: raft.checkQuorum,
    maxEntriesPerAppend: raft.maxEntriesPerAppend,
    appendBytesMax: appendBytesFor(raft.appendBytesMax, wholeRequestBytesMax),
    inflightCountMax: raft.inflightCountMax,
    inflightBytesMax: raft.inflightBytesMax,
    uncommittedBytesMax: raft.uncommittedBytesMax,
    pendingReadsMax: raft.pendingRequestsMax,
    snapshotChunkBytes: snapshotChunkBytesFor(raft.snapshotChunkBytes, wholeRequestBytesMax),
    snapshotBytesMax,
    applyBytesMax: Math.max(raft.appendBytesMax, 4 * 1024 * 1024),
    residentLogBytesMax: raft.logResidentBytes,
    // A fresh cluster's lowest-id voter campaigns after one heartbeat interval (issue 17: a fresh
    // cluster serves within a second, not after a randomized election timeout).
    earlyFirstCampaign: true,
  };
}

/** The core of a node that starts from what it persisted (`persisted`, as its storage loaded it). */
export function coreFromDisk(
  deps: Pick<RaftNodeDeps, 'prng' | 'witnessView' | 'client' | 'storage'>,
  options: RaftNodeOptions,
  persisted: PersistedShape,
): RaftCore {
  const snapshotBytesMax = options.snapshotBytesMax ?? SNAPSHOT_BYTES_MAX_DEFAULT;
  const coreOptions = coreOptionsFor(options.nodeId, options.raft, snapshotBytesMax, deps.client.wholeRequestBytesMax);
  const witnessView = deps.witnessView;
  return new RaftCore(
    // The core reads entries older than its window back from storage (contracts/persistence.ts, LogReader).
    { prng: deps.prng, logReader: deps.storage, ...(witnessView === undefined ? {} : { witnessView }) },
    { ...coreOptions, ...(options.witness === true ? { witness: true } : {}) },
    {
      hardState: persisted.hardState,
      // The core keeps the snapshot's metadata and size; the image stays on disk.
      snapshot: persisted.snapshot === null ? null : snapshotRef(persisted.snapshot, persisted.snapshot.dataBytes),
      // No payload is read at start: the core reads its entries back as it applies or sends them (issue 17).
      entries: [],
      storedLog: persisted.log,
      bootstrap: options.bootstrap,
    },
  );
}

/** What compaction keeps behind a snapshot, from a RaftConfiguration (agent/core/retention.ts). */
export function logRetentionOf(raft: RaftConfiguration): LogRetention {
  return { entries: raft.logRetainEntries, entriesMax: raft.logRetainEntriesMax, bytesMax: raft.logRetainBytesMax };
}
