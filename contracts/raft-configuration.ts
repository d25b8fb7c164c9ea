/**
 * RaftConfiguration (reference concept `raft_configuration`): timing and limits of a node, with
 * the reference's names (camelCase, unit last) and defaults, and coraft's additional limits.
 * `validateRaftConfiguration` checks every field once, at startup, and reports every bad field
 * by name with its limit.
 */

/** Timing and limits of one node. Every field states its unit, default and limit. */
export interface RaftConfiguration {
  /** Lower bound of the randomized election timeout, ms. Default 150 (reference). Limit: >= 2 × heartbeatIntervalMs. */
  readonly electionTimeoutMinMs: number;
  /**
   * Upper bound (exclusive) of the randomized election timeout, ms. Default 300 (reference). Limit: >
   * electionTimeoutMinMs.
   */
  readonly electionTimeoutMaxMs: number;
  /** Interval between leader heartbeats, ms. Default 50 (reference). Limit: >= tickIntervalMs. */
  readonly heartbeatIntervalMs: number;
  /** Deadline of one peer RPC, ms. Default 100 (reference). Limit: 1 to 60,000. */
  readonly rpcTimeoutMs: number;
  /** Most entries in one AppendEntries. Default 100 (reference). Limit: 1 to 10,000. */
  readonly maxEntriesPerAppend: number;
  /** Log bytes since the last snapshot that trigger a new one. Default 10,000,000 (reference). Limit: >= 1,024. */
  readonly snapshotThresholdBytes: number;
  /**
   * How far the snapshot trigger may grow with the store, bytes. A snapshot encodes and writes the whole
   * store, so with a store larger than snapshotThresholdBytes a fixed trigger writes more snapshot than
   * log: the trigger is the larger of snapshotThresholdBytes and {@link SNAPSHOT_GROWTH_FACTOR} times the
   * last snapshot's size (Raft thesis §5.1.3), at most this. The log between snapshots is on disk (the
   * core keeps payloads only for a window, logResidentBytes), and a restart checks every stored record
   * of it as the store opens, so the trigger costs disk and restart time (config/memory-budget.ts).
   * Default 64 MiB. At or below snapshotThresholdBytes the trigger is fixed at snapshotThresholdBytes.
   * Limit: >= 0.
   */
  readonly snapshotThresholdBytesMax: number;
  /**
   * Bytes of snapshot per InstallSnapshot chunk (reference `snapshot_chunk_size`). Default 1,000,000. Limit: 512 to 4
   * MiB.
   */
  readonly snapshotChunkBytes: number;
  /** Length of one core tick, ms: the resolution of every timeout. Default 10. Limit: 1 to 1,000. */
  readonly tickIntervalMs: number;
  /** Ask for pre-votes before a real election (thesis §9.6). Default true. */
  readonly preVote: boolean;
  /** A leader that has not heard from a quorum within an election timeout steps down (thesis §6.2). Default true. */
  readonly checkQuorum: boolean;
  /** Most AppendEntries in flight to one follower. Default 64. Limit: 1 to 1,024. */
  readonly inflightCountMax: number;
  /** Most entry bytes in flight to one follower. Default 8 MiB. Limit: >= appendBytesMax. */
  readonly inflightBytesMax: number;
  /** Most entry bytes in one AppendEntries (one entry is always allowed). Default 1 MiB. Limit: >= 1,024. */
  readonly appendBytesMax: number;
  /**
   * Most bytes of uncommitted entries a leader holds before refusing proposals. Default 32 MiB. Limit: >=
   * commandBytesMax.
   */
  readonly uncommittedBytesMax: number;
  /** Largest command accepted by submitCommand, bytes. Default 1 MiB. Limit: 1 to appendBytesMax. */
  readonly commandBytesMax: number;
  /** Most proposals and reads waiting for their result on one node. Default 8,192. Limit: 1 to 1,000,000. */
  readonly pendingRequestsMax: number;
  /**
   * A learner counts as caught up when its match index is within this many entries of the leader's last index. Default
   * 100. Limit: >= 0.
   */
  readonly learnerCatchUpEntries: number;
  /**
   * How long addServer waits for a learner to catch up before it fails, ms. Default 60,000. Limit: >=
   * electionTimeoutMaxMs.
   */
  readonly learnerCatchUpTimeoutMs: number;
  /**
   * Entries kept behind a new snapshot when the log is compacted, for followers that lag a little (etcd's
   * SnapshotCatchUpEntries). Default 5,000. Limit: 0 to logRetainEntriesMax. logRetainBytesMax caps it.
   */
  readonly logRetainEntries: number;
  /**
   * Most entries a leader keeps behind a new snapshot for a follower that is replicating but lags further than
   * logRetainEntries; a follower further behind gets the snapshot. Default 50,000. Limit: >= logRetainEntries.
   */
  readonly logRetainEntriesMax: number;
  /**
   * Most entry bytes kept behind a new snapshot, whatever logRetainEntries and the followers ask for: the disk the
   * compacted log may still hold (the core reads them back when a follower needs them; it keeps only their terms and
   * sizes in memory). Default 32 MiB, under any heap limit. Limit: >= 0.
   */
  readonly logRetainBytesMax: number;
  /**
   * Entry bytes of applied, durable entries whose payloads the core keeps in memory, for followers a little behind;
   * older entries (those kept behind a snapshot included) stay on disk and are read back when a follower needs them
   * (agent/core/log-window.ts). Entries not yet durable or applied are kept whatever this says. Default 8 MiB.
   * Limit: >= 0.
   */
  readonly logResidentBytes: number;
}

/**
 * The snapshot trigger is this many times the last snapshot's size (within snapshotThresholdBytes and
 * snapshotThresholdBytesMax): writing snapshots then costs at most half as many bytes as the log they replace.
 */
export const SNAPSHOT_GROWTH_FACTOR = 2;

/**
 * Entry bytes applied since the last snapshot, of `lastSnapshotBytes` bytes, that trigger the next one under `config`
 * (see snapshotThresholdBytesMax).
 */
export function snapshotTriggerBytes(
  config: Pick<RaftConfiguration, 'snapshotThresholdBytes' | 'snapshotThresholdBytesMax'>,
  lastSnapshotBytes: number,
): number {
  const grown = Math.min(SNAPSHOT_GROWTH_FACTOR * lastSnapshotBytes, config.snapshotThresholdBytesMax);
  return Math.max(config.snapshotThresholdBytes, grown);
}

/** The defaults: the reference's values and coraft's limits. */
export const DEFAULT_RAFT_CONFIGURATION: RaftConfiguration = {
  electionTimeoutMinMs: 150,
  electionTimeoutMaxMs: 300,
  heartbeatIntervalMs: 50,
  rpcTimeoutMs: 100,
  maxEntriesPerAppend: 100,
  snapshotThresholdBytes: 10_000_000,
  snapshotThresholdBytesMax: 64 * 1024 * 1024,
  snapshotChunkBytes: 1_000_000,
  tickIntervalMs: 10,
  preVote: true,
  checkQuorum: true,
  inflightCountMax: 64,
  inflightBytesMax: 8 * 1024 * 1024,
  appendBytesMax: 1024 * 1024,
  uncommittedBytesMax: 32 * 1024 * 1024,
  commandBytesMax: 1024 * 1024,
  pendingRequestsMax: 8192,
  learnerCatchUpEntries: 100,
  learnerCatchUpTimeoutMs: 60_000,
  logRetainEntries: 5000,
  logRetainEntriesMax: 50_000,
  logRetainBytesMax: 32 * 1024 * 1024,
  logResidentBytes: 8 * 1024 * 1024,
};

function checkInteger(
  problems: string[],
  config: RaftConfiguration,
  field: keyof RaftConfiguration,
  min: number,
  max: number,
): void {
  const value = config[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${field}: expected an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/**
 * Checks every field of `config` and returns one line per problem (empty when valid). Each line
 * names the field and its limit.
 */
export function validateRaftConfiguration(config: RaftConfiguration): string[] {
  const problems: string[] = [];
  const big = Number.MAX_SAFE_INTEGER;
  checkInteger(problems, config, 'tickIntervalMs', 1, 1000);
  checkInteger(problems, config, 'heartbeatIntervalMs', config.tickIntervalMs, 60_000);
  checkInteger(problems, config, 'electionTimeoutMinMs', 2 * config.heartbeatIntervalMs, 600_000);
  checkInteger(
    problems,
    config,
    'electionTimeoutMaxMs',
    config.electionTimeoutMinMs + config.tickIntervalMs,
    1_200_000,
  );
  checkInteger(problems, config, 'rpcTimeoutMs', 1, 60_000);
  checkInteger(problems, config, 'maxEntriesPerAppend', 1, 10_000);
  checkInteger(problems, config, 'snapshotThresholdBytes', 1024, big);
  checkInteger(problems, config, 'snapshotThresholdBytesMax', 0, big);
  checkInteger(problems, config, 'snapshotChunkBytes', 512, 4 * 1024 * 1024);
  checkInteger(problems, config, 'inflightCountMax', 1, 1024);
  checkInteger(problems, config, 'appendBytesMax', 1024, 64 * 1024 * 1024);
  checkInteger(problems, config, 'inflightBytesMax', config.appendBytesMax, big);
  checkInteger(problems, config, 'commandBytesMax', 1, config.appendBytesMax);
  checkInteger(problems, config, 'uncommittedBytesMax', config.commandBytesMax, big);
  checkInteger(problems, config, 'pendingRequestsMax', 1, 1_000_000);
  checkInteger(problems, config, 'learnerCatchUpEntries', 0, big);
  checkInteger(problems, config, 'learnerCatchUpTimeoutMs', config.electionTimeoutMaxMs, big);
  checkInteger(problems, config, 'logRetainEntriesMax', 0, big);
  checkInteger(problems, config, 'logRetainEntries', 0, config.logRetainEntriesMax);
  checkInteger(problems, config, 'logRetainBytesMax', 0, big);
  checkInteger(problems, config, 'logResidentBytes', 0, big);
  if (typeof config.preVote !== 'boolean') problems.push(`preVote: expected a boolean, got ${String(config.preVote)}`);
  if (typeof config.checkQuorum !== 'boolean')
    problems.push(`checkQuorum: expected a boolean, got ${String(config.checkQuorum)}`);
  return problems;
}
