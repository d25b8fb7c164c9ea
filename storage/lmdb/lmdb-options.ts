/**
 * Options of the LMDB persistence engine, their defaults and their validation. Every option
 * states its unit, default and limit; `resolveLmdbOptions` checks them all once, when the
 * engine opens, and reports every bad field by name with its limit (ConfigError).
 */
import { ConfigError } from '../../contracts/errors.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/** Options of {@link LmdbPersistenceEngine.open}. */
export interface LmdbPersistenceOptions {
  /** The data directory. It must exist unless `createDirectory` is true. */
  readonly path: string;
  /**
   * Create `path` (mode 0700, parents included) when it is missing. Default false: a missing directory is STORAGE_IO.
   */
  readonly createDirectory?: boolean;
  /** LMDB map size when the environment opens, bytes. Default 8 MiB. Limit: 64 KiB to mapSizeMaxBytes. */
  readonly mapSizeInitialBytes?: number;
  /**
   * Largest size the data file may reach, bytes. LMDB grows the map on demand; a commit that
   * would take the pages in use beyond this fails with STORAGE_FULL. Default 512 MiB.
   * Limit: 1 MiB to 64 GiB, and at least 2 × snapshotBytesMax + 1 MiB.
   */
  readonly mapSizeMaxBytes?: number;
  /**
   * LMDB page size of a new environment, bytes (an existing one keeps its own). Default 4,096. Limit: a power of two
   * from 4,096 to 65,536.
   */
  readonly pageSizeBytes?: number;
  /** LMDB reader slots (concurrent read transactions of all processes). Default 126. Limit: 8 to 4,096. */
  readonly readersMax?: number;
  /** Largest command of one stored entry, bytes. Default 1 MiB. Limit: 1 to 64 MiB. */
  readonly entryBytesMax?: number;
  /** Largest snapshot image, bytes. Default 64 MiB. Limit: 0 to 4 GiB − 1 (LMDB's largest value). */
  readonly snapshotBytesMax?: number;
  /** Most writes (batches) waiting for a commit; one more is STORAGE_FULL. Default 16,384. Limit: 1 to 1,000,000. */
  readonly pendingWritesMax?: number;
  /** Most bytes of writes waiting for a commit; more is STORAGE_FULL. Default 64 MiB. Limit: 1 MiB to 4 GiB. */
  readonly pendingBytesMax?: number;
  /** Most writes coalesced into one commit (group commit). Default 4,096. Limit: 1 to 1,000,000. */
  readonly writesPerCommitMax?: number;
  /**
   * Most bytes coalesced into one commit; a single larger write still commits alone. Default 16 MiB. Limit: 64 KiB to 1
   * GiB.
   */
  readonly bytesPerCommitMax?: number;
}

/** {@link LmdbPersistenceOptions} with every default filled in. */
export type ResolvedLmdbOptions = Required<LmdbPersistenceOptions>;

/** The defaults of every optional field. */
export const DEFAULT_LMDB_OPTIONS: Omit<ResolvedLmdbOptions, 'path'> = {
  createDirectory: false,
  mapSizeInitialBytes: 8 * MIB,
  mapSizeMaxBytes: 512 * MIB,
  pageSizeBytes: 4096,
  readersMax: 126,
  entryBytesMax: 1 * MIB,
  snapshotBytesMax: 64 * MIB,
  pendingWritesMax: 16_384,
  pendingBytesMax: 64 * MIB,
  writesPerCommitMax: 4096,
  bytesPerCommitMax: 16 * MIB,
};

type NumericOption = {
  [K in keyof ResolvedLmdbOptions]: ResolvedLmdbOptions[K] extends number ? K : never;
}[keyof ResolvedLmdbOptions];

function checkInteger(
  problems: string[],
  options: ResolvedLmdbOptions,
  field: NumericOption,
  min: number,
  max: number,
): void {
  const value: unknown = options[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${field}: expected an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Fills in defaults and checks every field; throws ConfigError naming every bad one. */
export function resolveLmdbOptions(options: LmdbPersistenceOptions): ResolvedLmdbOptions {
  const resolved: ResolvedLmdbOptions = { ...DEFAULT_LMDB_OPTIONS, ...options };
  const problems: string[] = [];
  if (typeof resolved.path !== 'string' || resolved.path.length === 0)
    problems.push('path: expected a non-empty directory path');
  if (typeof resolved.createDirectory !== 'boolean') problems.push('createDirectory: expected a boolean');
  checkInteger(problems, resolved, 'mapSizeMaxBytes', MIB, 64 * GIB);
  checkInteger(problems, resolved, 'mapSizeInitialBytes', 64 * KIB, resolved.mapSizeMaxBytes);
  checkInteger(problems, resolved, 'pageSizeBytes', 4096, 65_536);
  if ((resolved.pageSizeBytes & (resolved.pageSizeBytes - 1)) !== 0)
    problems.push(`pageSizeBytes: expected a power of two, got ${resolved.pageSizeBytes}`);
  checkInteger(problems, resolved, 'readersMax', 8, 4096);
  checkInteger(problems, resolved, 'entryBytesMax', 1, 64 * MIB);
  checkInteger(problems, resolved, 'snapshotBytesMax', 0, 4 * GIB - 1);
  checkInteger(problems, resolved, 'pendingWritesMax', 1, 1_000_000);
  checkInteger(problems, resolved, 'pendingBytesMax', MIB, 4 * GIB);
  checkInteger(problems, resolved, 'writesPerCommitMax', 1, 1_000_000);
  checkInteger(problems, resolved, 'bytesPerCommitMax', 64 * KIB, GIB);
  if (resolved.snapshotBytesMax * 2 + MIB > resolved.mapSizeMaxBytes) {
    // A snapshot is replaced copy-on-write: old and new images coexist until the commit.
    problems.push(
      `mapSizeMaxBytes: expected at least 2 × snapshotBytesMax + 1 MiB = ${resolved.snapshotBytesMax * 2 + MIB}, ` +
        `got ${resolved.mapSizeMaxBytes}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return resolved;
}
