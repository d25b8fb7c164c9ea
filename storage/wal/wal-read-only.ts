/**
 * Reading a data folder without writing to it (`coraft recover`'s dry run): the state an engine's
 * open would load, LMDB's and the log records past its checkpoint, and what that open would write
 * first, reported instead of done: a format upgrade (wal-store.ts, WAL_FORMAT_VERSION), the torn
 * last frame of the log zeroed (wal-recover.ts), the records replayed into LMDB.
 *
 * Refused as the open refuses: STORAGE_LOCKED while another process holds the folder (the agent),
 * STORAGE_VERSION for a newer format, STORAGE_CORRUPT for damage. LMDB is opened read-only, so
 * nothing is created in data.mdb; the folder's lock file is created and removed again.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PersistenceError } from '../../contracts/errors.js';
import type { HardState, LogEntry } from '../../contracts/log.js';
import type { PersistedState } from '../../contracts/persistence.js';
import { acquireDirectoryLock } from '../dir-lock.js';
import { checkBatch, checkLoadedLog } from '../log-checks.js';
import { MemoryDisk } from '../memory.js';
import { toPersistenceError } from '../lmdb/lmdb-errors.js';
import { checkDataFile } from '../lmdb/lmdb-header.js';
import { forEachLogRecord } from '../lmdb/lmdb-log-read.js';
import { checkStoredFormat, openHandlesReadOnly, type ReadOnlyHandles } from '../lmdb/lmdb-open.js';
import type { ResolvedLmdbOptions } from '../lmdb/lmdb-options.js';
import { META_KEYS, decodeEntry, parseFormat, parseHardState } from '../lmdb/lmdb-records.js';
import { readStoredSnapshot } from '../lmdb/lmdb-snapshot.js';
import { recoverWal } from './wal-recover.js';
import { readCheckpoint } from './wal-store.js';

/** What {@link readFolder} found. */
export interface FolderReading {
  /** What the engine's `load()` would give after its open. */
  readonly state: PersistedState;
  /** The format the folder holds; null: none yet (an open writes the engine's). */
  readonly format: number | null;
  /** Log records past the checkpoint, which an open replays into LMDB. */
  readonly replayedRecords: number;
  /** Bytes of a torn last log frame, which an open zeroes (its records were never acknowledged). */
  readonly tornBytes: number;
}

const NO_HARD_STATE: HardState = { currentTerm: 0, votedFor: null };

/**
 * Reads the folder of `options.path` as an engine of format `formatVersion` would open it, with
 * its write-ahead log when `withLog` (the `wal` engine), writing nothing. See the file comment.
 */
export async function readFolder(
  options: ResolvedLmdbOptions,
  formatVersion: number,
  withLog: boolean,
): Promise<FolderReading> {
  const path = options.path;
  try {
    if (!statSync(path).isDirectory()) throw new PersistenceError('STORAGE_IO', `${path} is not a directory`);
  } catch (error) {
    throw toPersistenceError(error, `data directory ${path} is not usable`);
  }
  const lock = acquireDirectoryLock(path);
  try {
    await Promise.resolve();
    let stored: Omit<FolderReading, 'replayedRecords' | 'tornBytes'> = {
      state: { hardState: NO_HARD_STATE, snapshot: null, entries: [] },
      format: null,
    };
    let appliedSeq = 0;
    if (existsSync(join(path, 'data.mdb'))) {
      checkDataFile(path);
      let handles: ReadOnlyHandles;
      try {
        handles = openHandlesReadOnly(options);
      } catch (error) {
        throw toPersistenceError(error, `cannot open the LMDB environment in ${path}`);
      }
      try {
        stored = readStore(handles, path, formatVersion);
        if (withLog && handles.meta !== null) appliedSeq = readCheckpoint({ meta: handles.meta }, path);
      } finally {
        await handles.env.close();
      }
    }
    if (!withLog) return { ...stored, replayedRecords: 0, tornBytes: 0 };
    const recovered = recoverWal(path, appliedSeq, false);
    // Replayed into the reference model the engines follow (storage/memory.ts), as the open replays them into LMDB.
    const disk = new MemoryDisk();
    disk.hardState = stored.state.hardState;
    disk.snapshot = stored.state.snapshot;
    disk.entries = [...stored.state.entries];
    for (const { seq, batch } of recovered.records) {
      try {
        checkBatch(disk.shape(), batch);
      } catch (error) {
        throw new PersistenceError('STORAGE_CORRUPT', `${path}: log record ${seq} does not follow the stored log`, {
          cause: error,
        });
      }
      disk.apply(batch);
    }
    const { hardState, snapshot, entries } = disk;
    checkLoadedLog(entries, snapshot);
    return {
      state: { hardState, snapshot, entries },
      format: stored.format,
      replayedRecords: recovered.records.length,
      tornBytes: recovered.tornBytes,
    };
  } finally {
    lock.release();
  }
}

/** LMDB's format, hard state, snapshot and entries, each record checked as the open checks it. */
function readStore(
  handles: ReadOnlyHandles,
  path: string,
  formatVersion: number,
): Omit<FolderReading, 'replayedRecords' | 'tornBytes'> {
  const { log, meta } = handles;
  const formatRecord = meta?.get(META_KEYS.format);
  const format = formatRecord === undefined ? null : parseFormat(formatRecord);
  checkStoredFormat(format, handles, path, formatVersion);
  const hardStateRecord = meta?.get(META_KEYS.hardState);
  const hardState = hardStateRecord === undefined ? NO_HARD_STATE : parseHardState(hardStateRecord);
  const snapshot = meta === null ? null : readStoredSnapshot(meta);
  const entries: LogEntry[] = [];
  if (log !== null) forEachLogRecord(log, {}, (index, value) => entries.push(decodeEntry(index, value)), path);
  return { state: { hardState, snapshot, entries }, format };
}
