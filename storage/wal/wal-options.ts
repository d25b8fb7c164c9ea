/**
 * Options of the WAL persistence engine: every option of the LMDB engine (the store behind the
 * log) plus the write-ahead log's own, each with its unit, default and limit. They are checked
 * once, when the engine opens, and every bad field is reported by name (ConfigError).
 */
import { ConfigError } from '../../contracts/errors.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { TornTail } from './wal-frame.js';
import { resolveLmdbOptions } from '../lmdb/lmdb-options.js';
import type { LmdbPersistenceOptions, ResolvedLmdbOptions } from '../lmdb/lmdb-options.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** How the log file is synced. */
export type WalSyncMode = 'auto' | 'background' | 'inline';

/** Dependencies of the WalPersistenceEngine. */
export interface WalPersistenceDeps {
  /** Receives storage_commits_total, _commit_writes, _checkpoints_total, _log_scans_total, _errors_total. */
  readonly metrics?: Metrics;
  /** Told once the open upgraded the directory from format `from` to `to` (WAL_FORMAT_VERSION): a one-way step. */
  readonly onFormatUpgrade?: (from: number, to: number, path: string) => void;
  /** Told when the open dropped a torn last frame of the log (wal-recover.ts): never silently. */
  readonly onTornTail?: (torn: TornTail) => void;
}

/** Options of {@link WalPersistenceEngine.open}. */
export interface WalPersistenceOptions extends LmdbPersistenceOptions {
  /**
   * Largest size of one log segment file, bytes. A segment is created with 64 KiB of zeros and
   * grows in zero-filled steps (doubling up to 1 MiB) ahead of the appends, so that an append
   * never changes the file's size and fdatasync flushes data only (wal-prealloc.ts); once a
   * segment is below the checkpoint, the next one is made of its file instead (recycled, no zero
   * fill; wal-segments.ts), so the log keeps one spare segment on disk. Default 16 MiB. Limit:
   * 1 MiB to 256 MiB (recovery reads a segment whole).
   */
  readonly walSegmentBytes?: number;
  /**
   * Largest frame (the records of one group of writes synced together), bytes. A single batch
   * whose record is larger (a long run of entries) bypasses the log and is written to LMDB
   * directly, like a snapshot. Default 4 MiB. Limit: 4 KiB to walSegmentBytes / 2.
   */
  readonly walFrameBytesMax?: number;
  /** Log bytes not yet in LMDB that start a checkpoint. Default 3 MiB. Limit: 1 KiB to 1 GiB. */
  readonly walCheckpointBytes?: number;
  /**
   * Log bytes not yet in LMDB beyond which new writes wait for the checkpoint (this also bounds
   * the memory that holds those entries for reads). Default 6 MiB (2 × walCheckpointBytes, the
   * least allowed): the entries wait in memory as objects, which cost about as much again as their
   * bytes, so 32 MiB (the former default) could hold some 64 MiB, two thirds of the heap a
   * 256 MB gateway's unit allows (deploy/README.md); a checkpoint that falls that far behind
   * holds writes back instead. Limit: 2 × walCheckpointBytes to 4 GiB.
   */
  readonly walPendingBytesMax?: number;
  /**
   * Log bytes a checkpoint applies in one LMDB transaction (one event-loop turn). Default 1 MiB. Limit: 1 KiB to 256
   * MiB.
   */
  readonly walCheckpointTxnBytesMax?: number;
  /**
   * Most log entries one checkpoint transaction deletes for a compaction: a larger compaction is
   * deleted ahead of its record in transactions of this many, one event-loop turn each
   * (wal-checkpoint-compaction.ts). Default 2048 (about 10 ms of deletes on the machine measured;
   * 19,903 in one transaction held the event loop for 100-180 ms). Limit: 1 to 1,000,000.
   */
  readonly walCheckpointDeletesPerTxnMax?: number;
  /**
   * How a frame is synced. `background` runs fdatasync on libuv's thread pool, so the event loop
   * keeps serving the network while the disk syncs, at the cost of a hand-off to a pool thread
   * and back (tens of microseconds, a third of a fast disk's sync); `inline` calls fdatasyncSync
   * on the event loop, which stands still for as long as the disk takes (long on an SD card);
   * `auto` (default) syncs a frame of a single write inline while recent inline syncs took under
   * 1 ms on average (else one in 16 such frames, to measure the disk again; wal-sync-policy.ts),
   * and in the background otherwise (several writes in a frame: the event loop prepares
   * the next frame meanwhile; a write whose caller overlaps work with it, PersistOptions.overlap:
   * the Ready loop sends and applies meanwhile).
   */
  readonly walSyncMode?: WalSyncMode;
  /**
   * Checkpoint in a worker thread: the main thread only hands over the records' bytes, and the
   * worker encodes LMDB's records and runs the transactions (about 40% of the CPU time of a
   * write on the main thread otherwise). Default false: on the 2-core machine it was measured
   * on, the gain was within the noise (the worker spends more CPU in all, and there is no idle
   * core to give it), while it costs a V8 isolate (about 10 MB) and 50-150 ms at open.
   */
  readonly walCheckpointWorker?: boolean;
}

/** {@link WalPersistenceOptions} with every default filled in. */
export type ResolvedWalOptions = ResolvedLmdbOptions &
  Required<Omit<WalPersistenceOptions, keyof LmdbPersistenceOptions>>;

/** The defaults of the log's own fields. */
export const DEFAULT_WAL_OPTIONS: Required<Omit<WalPersistenceOptions, keyof LmdbPersistenceOptions>> = {
  walSegmentBytes: 16 * MIB,
  walFrameBytesMax: 4 * MIB,
  walCheckpointBytes: 3 * MIB,
  walPendingBytesMax: 6 * MIB,
  walCheckpointTxnBytesMax: 1 * MIB,
  walCheckpointDeletesPerTxnMax: 2048,
  walSyncMode: 'auto',
  walCheckpointWorker: false,
};

function checkInteger(problems: string[], value: unknown, field: string, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${field}: expected an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Fills in defaults and checks every field; throws ConfigError naming every bad one. */
export function resolveWalOptions(options: WalPersistenceOptions): ResolvedWalOptions {
  const problems: string[] = [];
  let lmdb: ResolvedLmdbOptions | null = null;
  try {
    lmdb = resolveLmdbOptions(options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const wal = { ...DEFAULT_WAL_OPTIONS, ...options };
  checkInteger(problems, wal.walSegmentBytes, 'walSegmentBytes', MIB, 256 * MIB);
  checkInteger(problems, wal.walFrameBytesMax, 'walFrameBytesMax', 4 * KIB, Math.floor(wal.walSegmentBytes / 2));
  checkInteger(problems, wal.walCheckpointBytes, 'walCheckpointBytes', KIB, GIB);
  checkInteger(problems, wal.walPendingBytesMax, 'walPendingBytesMax', 2 * wal.walCheckpointBytes, 4 * GIB);
  checkInteger(problems, wal.walCheckpointTxnBytesMax, 'walCheckpointTxnBytesMax', KIB, 256 * MIB);
  checkInteger(problems, wal.walCheckpointDeletesPerTxnMax, 'walCheckpointDeletesPerTxnMax', 1, 1_000_000);
  if (!['auto', 'background', 'inline'].includes(wal.walSyncMode))
    problems.push(`walSyncMode: expected 'auto', 'background' or 'inline', got ${String(wal.walSyncMode)}`);
  if (typeof wal.walCheckpointWorker !== 'boolean') problems.push('walCheckpointWorker: expected a boolean');
  if (problems.length > 0 || lmdb === null) throw new ConfigError(problems);
  return {
    ...lmdb,
    walSegmentBytes: wal.walSegmentBytes,
    walFrameBytesMax: wal.walFrameBytesMax,
    walCheckpointBytes: wal.walCheckpointBytes,
    walPendingBytesMax: wal.walPendingBytesMax,
    walCheckpointTxnBytesMax: wal.walCheckpointTxnBytesMax,
    walCheckpointDeletesPerTxnMax: wal.walCheckpointDeletesPerTxnMax,
    walSyncMode: wal.walSyncMode,
    walCheckpointWorker: wal.walCheckpointWorker,
  };
}
