/**
 * The LMDB side of the write-ahead-log engine: the checkpoint record (the sequence number of the
 * last log record whose changes LMDB holds) and the transaction that applies log records, or a
 * batch that bypasses the log, to LMDB.
 *
 * A transaction applies whole records and sets the checkpoint record to the last of them, so
 * after a crash LMDB holds exactly the records up to its checkpoint and recovery replays the
 * rest. LMDB commits with its own sync (data pages, then meta page; see lmdb-open.ts), which
 * costs two syncs per checkpoint transaction, not per write.
 */
import { PersistenceError } from '../../contracts/errors.js';
import { commitFailureCause, toPersistenceError } from '../lmdb/lmdb-errors.js';
import type { LmdbHandles } from '../lmdb/lmdb-open.js';
import { applyStep } from '../lmdb/lmdb-write-plan.js';
import type { EncodedStep } from '../lmdb/lmdb-write-plan.js';
import { ShapeAppends } from '../lmdb/lmdb-shape-appends.js';

/**
 * The format version of a directory with a write-ahead log (the LMDB engine writes 1). 3: the log's
 * shape records are kept (lmdb-log-shape.ts); a build that reads up to 2 would leave them stale,
 * so it refuses the directory. A directory of version 1 or 2 is upgraded at open: its log is
 * scanned once and its shape records written.
 */
export const WAL_FORMAT_VERSION = 3;
/** Key of the checkpoint record in the `meta` database. */
export const CHECKPOINT_KEY = 'wal-checkpoint';

/** The sequence number LMDB holds records up to; 0 when it has none. */
export function readCheckpoint(handles: Pick<LmdbHandles, 'meta'>, path: string): number {
  const stored = handles.meta.get(CHECKPOINT_KEY);
  if (stored === undefined) return 0;
  const text = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf8');
  const seq = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(seq))
    throw new PersistenceError('STORAGE_CORRUPT', `${path}: the checkpoint record is not a sequence number`);
  return seq;
}

/**
 * Applies `steps` in one LMDB transaction (all or nothing) and, when `checkpointSeq` is not
 * null, sets the checkpoint record to it; resolves once the transaction is synced.
 */
export async function applyToStore(
  handles: LmdbHandles,
  steps: readonly (readonly EncodedStep[])[],
  checkpointSeq: number | null,
  path: string,
): Promise<void> {
  const { env, log, meta } = handles;
  const shapes = new ShapeAppends(handles.shapes, path);
  const target = { log, meta, shapes, path };
  try {
    await env.childTransaction(() => {
      for (const plan of steps) for (const step of plan) applyStep(step, target);
      shapes.flush();
      if (checkpointSeq !== null) meta.putSync(CHECKPOINT_KEY, Buffer.from(String(checkpointSeq), 'utf8'));
    });
  } catch (error) {
    throw toPersistenceError(await commitFailureCause(error), `checkpoint to ${path} failed`, path);
  }
}
