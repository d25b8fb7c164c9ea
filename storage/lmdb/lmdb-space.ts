/**
 * The map size limit. lmdb-js grows LMDB's map on demand without bound, so the engine checks
 * before each commit that the pages it may need fit under `mapSizeMaxBytes`, and refuses the
 * commit with STORAGE_FULL otherwise (before anything is written, so nothing acknowledged is
 * touched). The check is an estimate: new data is counted twice (a B-tree page split or an
 * overflow run copied on write) plus a fixed number of pages for the copied paths. Pages that
 * earlier commits freed are reused before the file grows, so when the file's high-water mark
 * is near the limit the pages actually in use are counted instead.
 */
import { PersistenceError } from '../../contracts/errors.js';
import type { LmdbHandles } from './lmdb-open.js';

/** Pages a commit may copy besides its data: root, branch and leaf paths of three trees, freelist, meta. */
const COMMIT_OVERHEAD_PAGES = 16;

interface TreeStats {
  readonly pages: number;
}

function field(record: Record<string, unknown>, name: string): number {
  const value = record[name];
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new PersistenceError('STORAGE_IO', `LMDB statistics lack ${name}`);
  return value;
}

function asRecord(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null)
    throw new PersistenceError('STORAGE_IO', 'LMDB statistics are not an object');
  return Object.fromEntries(Object.entries(value));
}

function treeStats(value: unknown): TreeStats {
  const record = asRecord(value);
  return {
    pages: field(record, 'treeBranchPageCount') + field(record, 'treeLeafPageCount') + field(record, 'overflowPages'),
  };
}

/** Bytes the file uses now: its high-water mark and the pages that live trees occupy. */
export function spaceUsage(handles: LmdbHandles): {
  readonly highWaterBytes: number;
  readonly inUseBytes: number;
  readonly pageBytes: number;
} {
  const root = asRecord(handles.env.getStats());
  const pageBytes = field(root, 'pageSize');
  const highWaterBytes = (field(root, 'lastPageNumber') + 1) * pageBytes;
  const pages =
    2 +
    treeStats(root).pages +
    treeStats(root['free']).pages +
    treeStats(handles.log.getStats()).pages +
    treeStats(handles.meta.getStats()).pages;
  return { highWaterBytes, inUseBytes: pages * pageBytes, pageBytes };
}

/** Throws STORAGE_FULL unless a commit adding about `bytes` fits under `mapSizeMaxBytes`. */
export function checkSpace(
  handles: LmdbHandles,
  bytes: number,
  options: { readonly path: string; readonly mapSizeMaxBytes: number },
): void {
  const root = asRecord(handles.env.getStats());
  const pageBytes = field(root, 'pageSize');
  const neededBytes = 2 * bytes + COMMIT_OVERHEAD_PAGES * pageBytes;
  const highWaterBytes = (field(root, 'lastPageNumber') + 1) * pageBytes;
  if (highWaterBytes + neededBytes <= options.mapSizeMaxBytes) return;
  const usage = spaceUsage(handles);
  if (usage.inUseBytes + neededBytes <= options.mapSizeMaxBytes) return;
  throw new PersistenceError(
    'STORAGE_FULL',
    `${options.path} is full: ${usage.inUseBytes} bytes in use and a commit may need ${neededBytes} more, beyond ` +
      `mapSizeMaxBytes ${options.mapSizeMaxBytes}`,
  );
}
