/**
 * The checkpoint worker of the write-ahead-log engine: a worker thread that applies chunks of
 * log records to LMDB, so that the main thread, which serves every write, spends no time
 * encoding LMDB records and issuing LMDB puts (about 40% of its CPU time per write otherwise).
 * Used with the option walCheckpointWorker (off by default; see wal-options.ts).
 *
 * It opens the data directory's LMDB environment itself (lmdb-js shares one LMDB environment
 * among the threads of a process) and, per request, runs one child transaction that applies the
 * chunk's operations and sets the checkpoint record, exactly as applyToStore does on the main
 * thread. A request carries the chunk's log records as bytes (one buffer, transferred) and its
 * write plans as numbers (see encodeChunk in wal-checkpoint-chunk.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { commitFailureCause, toPersistenceError } from '../lmdb/lmdb-errors.js';
import { openHandles } from '../lmdb/lmdb-open.js';
import type { ResolvedLmdbOptions } from '../lmdb/lmdb-options.js';
import { decodeChunk } from './wal-checkpoint-chunk.js';
import type { ChunkReply, ChunkRequest } from './wal-checkpoint-chunk.js';
import { applyToStore } from './wal-store.js';

const PERSISTENCE_CODES = [
  'STORAGE_IO',
  'STORAGE_CORRUPT',
  'STORAGE_FULL',
  'STORAGE_LOCKED',
  'STORAGE_VERSION',
  'STORAGE_CLOSED',
] as const;

function isOptions(value: unknown): value is ResolvedLmdbOptions {
  return typeof value === 'object' && value !== null && 'path' in value && typeof value.path === 'string';
}

const port = parentPort;
if (port === null || !isOptions(workerData))
  throw new Error('wal-checkpoint-worker runs as a worker thread given the engine options');
const options = workerData;
const handles = openHandles(options);

async function handle(request: ChunkRequest): Promise<ChunkReply> {
  try {
    const steps = decodeChunk(request, options.path);
    await applyToStore(handles, steps, request.checkpointSeq, options.path);
    return { id: request.id, error: null };
  } catch (error) {
    const failure = toPersistenceError(
      await commitFailureCause(error),
      `checkpoint to ${options.path} failed`,
      options.path,
    );
    const code = PERSISTENCE_CODES.find((known) => known === failure.code) ?? 'STORAGE_IO';
    return { id: request.id, error: { code, message: failure.message } };
  }
}

port.on('message', (request: ChunkRequest) => {
  void handle(request).then((reply) => port.postMessage(reply));
});
const ready: ChunkReply = { id: 0, error: null };
port.postMessage(ready);
