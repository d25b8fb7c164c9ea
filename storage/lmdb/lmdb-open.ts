/**
 * Opening a data directory for the LMDB engine: check the directory, take its exclusive lock,
 * open the LMDB environment with explicit options, check the format version, and rebuild the
 * projection of the log from what is stored, refusing a log that is not consistent.
 *
 * LMDB options and why they are safe (every one is passed explicitly; defaults drift):
 * - `overlappingSync: false`. With lmdb-js's default (true) a write resolves when its
 *   transaction is committed and visible, before it is on disk (durability then needs
 *   `await db.flushed`), and recovery after a power loss relies on the boot id to fall back to
 *   the last flushed transaction. With it off, each commit runs LMDB's own protocol before the
 *   promise resolves: data pages written and fdatasync'ed, then the meta page written through
 *   an O_DSYNC descriptor. A resolved write is therefore on disk, readers never see a write
 *   that is not durable, and a crash at any point leaves the previous or the new meta page,
 *   each pointing to pages already on disk. Overlapping sync would not be faster here: a
 *   durable commit takes two device syncs either way, and writers waiting for durability
 *   cannot start the next transaction early (measured on lmdb-js alone: 2,500 vs 2,450
 *   commits/s of one entry, 2,050 vs 1,880 of 64 entries, without vs with).
 * - `noSync: false`, `noMetaSync: false` (and `mapAsync` left off): skipping the meta sync
 *   loses the last acknowledged commit on power loss; skipping the data sync can leave a meta
 *   page pointing at pages that never reached the disk, a corrupt environment.
 * - `useWritemap: false`: pages are written with pwrite, so a stray write into the map cannot
 *   corrupt the file, and child transactions (used to make each commit all-or-nothing) work.
 * - `eventTurnBatching: false`, `commitDelay: 0`: this engine groups writes itself (one LMDB
 *   transaction per group); lmdb-js's event-turn batch would add an internal commit promise
 *   that no one awaits and that becomes an unhandled rejection when a commit fails.
 * - `cache: false`, `compression: false`, `encoding: 'binary'`: records are encoded here.
 * - `mapSize`, `pageSize`, `maxDbs: 4`, `maxReaders` from the options; `remapChunks: false`.
 * - `permissionsMode: 0o600`: data.mdb and lock.mdb are created private (lmdb-js's default is 0664).
 */
import { mkdirSync, statSync } from 'node:fs';
import { open } from 'lmdb';
import type { Database, RootDatabase, RootDatabaseOptionsWithPath } from 'lmdb';
import { PersistenceError } from '../../contracts/errors.js';
import type { HardState, Term } from '../../contracts/log.js';
import { acquireDirectoryLock } from '../dir-lock.js';
import type { DirectoryLock } from '../dir-lock.js';
import { toPersistenceError } from './lmdb-errors.js';
import { checkDataFile } from './lmdb-header.js';
import type { ResolvedLmdbOptions } from './lmdb-options.js';
import {
  ENTRY_HEADER_BYTES,
  FORMAT_VERSION,
  META_KEYS,
  checkEntryRecord,
  decodeEntry,
  encodeFormat,
  parseFormat,
  parseHardState,
} from './lmdb-records.js';
import type { StoredSnapshotMeta } from './lmdb-records.js';
import { LogProjection } from '../log-projection.js';
import type { StoredLog } from '../../contracts/persistence.js';
import { StoredLogBuilder, checkStoredLog } from '../stored-log.js';
import { forEachLogRecord } from './lmdb-log-read.js';
import { addShapes, readLogShapes, rewriteShapes, shapesOfStoredLog } from './lmdb-log-shape.js';
import type { ShapeRecord } from './lmdb-log-shape.js';
import { checkSnapshotImage, readSnapshotMeta } from './lmdb-snapshot.js';

/** The open environment and its three databases. */
export interface LmdbHandles {
  readonly env: RootDatabase<Uint8Array, string>;
  /** Log entries under 8-byte big-endian index keys. */
  readonly log: Database<Uint8Array, Uint8Array>;
  /** Format, hard state and snapshot records under string keys. */
  readonly meta: Database<Uint8Array, string>;
  /** The log's shape records under the key of their first index (lmdb-log-shape.ts; the WAL engine's). */
  readonly shapes: Database<Uint8Array, Uint8Array>;
}

/** An opened data directory: its lock, its databases and the projection of what is stored. */
export interface OpenedDirectory {
  readonly lock: DirectoryLock;
  readonly handles: LmdbHandles;
  readonly projection: LogProjection;
  /**
   * The stored log's shape as the scan at open found it (contracts/persistence.ts, StoredLog), so
   * that a restart's loadShape needs no second scan while nothing was written since (issue 17).
   */
  readonly storedLog: StoredLog;
  /**
   * The metadata of the snapshot whose image the open checked whole (every record and the image's
   * CRC-32), or null (no snapshot): a restart reads that image in place without checking it a
   * second time while nothing was written since (issue 17; lmdb-snapshot.ts, readStoredImage).
   */
  readonly checkedSnapshot: StoredSnapshotMeta | null;
  /** Where the open read the log's shape: its shape records, or every record (lmdb-log-shape.ts). */
  readonly logShapeSource: 'shapes' | 'scan';
  /** The format the directory held when this open upgraded it (one way: an earlier build refuses it now), else null. */
  readonly formatUpgradedFrom: number | null;
}

/** The mode of every file the engine creates: the log holds the cluster's data, readable by the agent's user only. */
export const DATA_FILE_MODE = 0o600;

function checkDirectory(options: ResolvedLmdbOptions): void {
  const path = options.path;
  try {
    if (options.createDirectory) mkdirSync(path, { recursive: true, mode: 0o700 });
    if (!statSync(path).isDirectory())
      throw new PersistenceError('STORAGE_IO', `data directory ${path} is not a directory`);
  } catch (error) {
    throw toPersistenceError(error, `data directory ${path} is not usable`);
  }
}

const LOG_DB = { name: 'log', encoding: 'binary', keyEncoding: 'binary', cache: false, compression: false } as const;
const META_DB = {
  name: 'meta',
  encoding: 'binary',
  keyEncoding: 'ordered-binary',
  cache: false,
  compression: false,
} as const;
const SHAPES_DB = { ...LOG_DB, name: 'log-shape' } as const;

/**
 * Opens the LMDB environment of `options.path` and its two databases (also used by the WAL engine's checkpoint worker).
 */
export function openHandles(options: ResolvedLmdbOptions): LmdbHandles {
  const env = open<Uint8Array, string>(rootOptionsOf(options, false));
  try {
    const log = env.openDB<Uint8Array, Uint8Array>(LOG_DB);
    const meta = env.openDB<Uint8Array, string>(META_DB);
    const shapes = env.openDB<Uint8Array, Uint8Array>(SHAPES_DB);
    // Reader slots left by a killed process would pin old pages and grow the file.
    env.readerCheck();
    return { env, log, meta, shapes };
  } catch (error) {
    void env.close();
    throw error;
  }
}

/** The environment's log and meta databases opened read-only; either is null where the environment has none. */
export interface ReadOnlyHandles {
  readonly env: RootDatabase<Uint8Array, string>;
  readonly log: Database<Uint8Array, Uint8Array> | null;
  readonly meta: Database<Uint8Array, string> | null;
}

/**
 * Opens the LMDB environment of `options.path` read-only (LMDB's MDB_RDONLY): nothing is created
 * or written in data.mdb, not even a database that is missing (lmdb-js then gives undefined).
 */
export function openHandlesReadOnly(options: ResolvedLmdbOptions): ReadOnlyHandles {
  const env = open<Uint8Array, string>(rootOptionsOf(options, true));
  try {
    const log = env.openDB<Uint8Array, Uint8Array>(LOG_DB) as Database<Uint8Array, Uint8Array> | undefined;
    const meta = env.openDB<Uint8Array, string>(META_DB) as Database<Uint8Array, string> | undefined;
    return { env, log: log ?? null, meta: meta ?? null };
  } catch (error) {
    void env.close();
    throw error;
  }
}

function rootOptionsOf(
  options: ResolvedLmdbOptions,
  readOnly: boolean,
): RootDatabaseOptionsWithPath & { readonly permissionsMode: number } {
  return {
    path: options.path,
    readOnly,
    noSubdir: false,
    mapSize: options.mapSizeInitialBytes,
    pageSize: options.pageSizeBytes,
    maxDbs: 4,
    maxReaders: options.readersMax,
    overlappingSync: false,
    noSync: false,
    noMetaSync: false,
    useWritemap: false,
    remapChunks: false,
    eventTurnBatching: false,
    commitDelay: 0,
    cache: false,
    compression: false,
    encoding: 'binary',
    keyEncoding: 'ordered-binary',
    // The mode LMDB creates data.mdb and lock.mdb with (lmdb-js reads it, its typings omit it).
    permissionsMode: DATA_FILE_MODE,
  };
}

/**
 * Opens `options.path`: STORAGE_IO for a missing or unusable directory, STORAGE_LOCKED when
 * another live process has it, STORAGE_VERSION for a newer format, STORAGE_CORRUPT for a
 * data file that is not a whole LMDB environment or an inconsistent log. The lock is released again on any failure.
 */
export async function openDirectory(
  options: ResolvedLmdbOptions,
  formatVersion: number = FORMAT_VERSION,
  keepShapes = false,
): Promise<OpenedDirectory> {
  checkDirectory(options);
  const lock = acquireDirectoryLock(options.path);
  let handles: LmdbHandles | null = null;
  try {
    checkDataFile(options.path);
    try {
      handles = openHandles(options);
    } catch (error) {
      throw toPersistenceError(error, `cannot open the LMDB environment in ${options.path}`);
    }
    const stored = await checkFormat(handles, options.path, formatVersion);
    // Shapes are trusted (once checked) only in a directory this format wrote: an earlier one's
    // writers did not keep them (lmdb-log-shape.ts).
    const shapes = !keepShapes ? 'none' : stored === null || stored === formatVersion ? 'check' : 'rebuild';
    const recovered = await recoverProjection(handles, options.path, shapes);
    const formatUpgradedFrom = stored !== null && stored < formatVersion ? stored : null;
    return { lock, handles, ...recovered, formatUpgradedFrom };
  } catch (error) {
    if (handles !== null) await handles.env.close();
    lock.release();
    throw error;
  }
}

/**
 * Checks the format record against `formatVersion`, the engine's: a newer one is refused, an
 * older one is upgraded (the write-ahead-log engine writes 2, so that this engine, which
 * writes 1 and would not see the log, refuses its directories instead of losing writes).
 * Returns the version the directory held (null: a new directory).
 */
async function checkFormat(handles: LmdbHandles, path: string, formatVersion: number): Promise<number | null> {
  const storedRecord = handles.meta.get(META_KEYS.format);
  const stored = storedRecord === undefined ? null : parseFormat(storedRecord);
  checkStoredFormat(stored, handles, path, formatVersion);
  if (stored === formatVersion) return stored;
  try {
    await handles.env.transaction(() => handles.meta.putSync(META_KEYS.format, encodeFormat(formatVersion)));
  } catch (error) {
    throw toPersistenceError(error, `cannot initialise ${path}`, path);
  }
  return stored;
}

/**
 * Refuses a format record newer than `formatVersion` (STORAGE_VERSION), and a directory with data
 * but no format record (STORAGE_CORRUPT); an older format is the caller's to upgrade.
 */
export function checkStoredFormat(
  stored: number | null,
  handles: {
    readonly log: Database<Uint8Array, Uint8Array> | null;
    readonly meta: Database<Uint8Array, string> | null;
  },
  path: string,
  formatVersion: number,
): void {
  if (stored !== null && stored > formatVersion)
    throw new PersistenceError(
      'STORAGE_VERSION',
      `${path} holds format version ${stored}; this build reads up to ${formatVersion}`,
    );
  if (stored !== null) return;
  const hasLog = (handles.log?.getKeysCount({ limit: 1 }) ?? 0) > 0;
  const hasMeta = (handles.meta?.getKeysCount({ limit: 1 }) ?? 0) > 0;
  if (hasLog || hasMeta) throw new PersistenceError('STORAGE_CORRUPT', `${path} holds data but no format record`);
}

function recoverSnapshot(handles: LmdbHandles): StoredSnapshotMeta | null {
  const meta = readSnapshotMeta(handles.meta);
  if (meta === null) return null;
  // The image is checked once at open, without a copy; the engine then reads it only in chunks, or whole at load.
  checkSnapshotImage(handles.meta, meta);
  return meta;
}

/**
 * Rebuilds the projection and the log's shape (StoredLog): from the shape records when `shapes` is
 * 'check' and they pass their checks (lmdb-log-shape.ts), else by scanning every record, after
 * which the shape records are written again unless `shapes` is 'none' (an engine that keeps none).
 */
async function recoverProjection(
  handles: LmdbHandles,
  path: string,
  shapes: 'none' | 'check' | 'rebuild',
): Promise<Omit<OpenedDirectory, 'lock' | 'handles' | 'formatUpgradedFrom'>> {
  const storedHardState = handles.meta.get(META_KEYS.hardState);
  const hardState: HardState =
    storedHardState === undefined ? { currentTerm: 0, votedFor: null } : parseHardState(storedHardState);
  const snapshot = recoverSnapshot(handles);
  const read = shapes === 'check' ? readLogShapes(handles.shapes, handles.log) : null;
  let storedLog: StoredLog;
  if (read !== null) {
    const builder = new StoredLogBuilder(read[0]?.firstIndex ?? (snapshot?.lastIncludedIndex ?? 0) + 1, path);
    addShapes(read, handles.log, { from: 0, to: Number.MAX_SAFE_INTEGER }, builder);
    storedLog = builder.build();
  } else {
    const scanned = scanLog(handles, path, snapshot);
    storedLog = scanned.storedLog;
    if (shapes !== 'none') {
      try {
        await handles.env.transaction(() => rewriteShapes(handles.shapes, scanned.shapes));
      } catch (error) {
        throw toPersistenceError(error, `cannot write the log's shape records in ${path}`, path);
      }
    }
  }
  checkStoredLog(storedLog, snapshot, path);
  const count = storedLog.commandBytes.length;
  const first = count === 0 ? 0 : storedLog.firstIndex;
  return {
    projection: new LogProjection(hardState, snapshot, first, termsOf(storedLog)),
    storedLog,
    checkedSnapshot: snapshot,
    logShapeSource: read === null ? 'scan' : 'shapes',
  };
}

/** The term of each entry of `log`, in order. */
function termsOf(log: StoredLog): Term[] {
  const terms: Term[] = new Array<Term>(log.commandBytes.length);
  const runs = log.termRuns;
  for (let r = 0; r < runs.length; r += 1) {
    const run = runs[r];
    if (run === undefined) continue;
    const end = (runs[r + 1]?.from ?? log.firstIndex + terms.length) - log.firstIndex;
    terms.fill(run.term, run.from - log.firstIndex, end);
  }
  return terms;
}

/** Entries per shape record written by a scan. */
const SCAN_SHAPE_ENTRIES = 8192;

/** Scans the whole log once, checking every record: the log's shape, and its shape records. */
function scanLog(
  handles: LmdbHandles,
  path: string,
  snapshot: StoredSnapshotMeta | null,
): { readonly storedLog: StoredLog; readonly shapes: ShapeRecord[] } {
  let builder: StoredLogBuilder | null = null;
  forEachLogRecord(
    handles.log,
    {},
    (index, value) => {
      // The record is checked whole (its checksum too), but its command is not copied: only its
      // term and size are kept (and a configuration entry whole).
      const entry = checkEntryRecord(index, value);
      builder ??= new StoredLogBuilder(index, path);
      // The builder refuses a gap and a term that goes backwards.
      builder.add(
        index,
        entry.term,
        entry.type,
        entry.record.byteLength - ENTRY_HEADER_BYTES,
        entry.type === 'config' ? decodeEntry(index, value) : null,
      );
    },
    path,
  );
  const storedLog = (builder ?? new StoredLogBuilder((snapshot?.lastIncludedIndex ?? 0) + 1, path)).build();
  return { storedLog, shapes: shapesOfStoredLog(storedLog, SCAN_SHAPE_ENTRIES) };
}
