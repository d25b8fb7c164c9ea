/**
 * A chunk of log records on its way to the checkpoint worker, and the thread that applies it.
 *
 * The main thread sends the records' bytes (one buffer, transferred, not copied) and their write
 * plans as numbers, `[kind, a, b]` per step: delete entries a..b, append the entries of the
 * record at bytes a..a+b, or set the hard state to term a and vote `votes[b]`. The worker decodes
 * the entries from the record bytes (already checked: they were encoded by this process), encodes
 * LMDB's records and applies them (wal-checkpoint-worker.ts).
 */
import { Worker } from 'node:worker_threads';
import { InvariantError, PersistenceError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import { META_KEYS, encodeHardState } from '../lmdb/lmdb-records.js';
import { encodeAppend } from '../lmdb/lmdb-write-plan.js';
import type { EncodedStep } from '../lmdb/lmdb-write-plan.js';
import type { WriteStep } from '../log-projection.js';
import { decodeBatchRecords } from './wal-frame.js';
import type { ResolvedWalOptions } from './wal-options.js';

/** A record to checkpoint: its write plan and its bytes in the log. */
export interface ChunkRecord {
  readonly steps: readonly WriteStep[];
  readonly record: Buffer;
}

type PersistenceCode = ConstructorParameters<typeof PersistenceError>[0];

/** One request to the worker. */
export interface ChunkRequest {
  readonly id: number;
  readonly records: Uint8Array<ArrayBuffer>;
  readonly ops: Float64Array;
  readonly votes: readonly (string | null)[];
  readonly checkpointSeq: number;
}

/** The worker's answer: null error once the chunk is committed and synced; id 0 once the worker is ready. */
export interface ChunkReply {
  readonly id: number;
  readonly error: { readonly code: PersistenceCode; readonly message: string } | null;
}

const OP_DELETE = 1;
const OP_APPEND = 2;
const OP_HARD_STATE = 3;

/** Packs `items` (checkpointed through `checkpointSeq`) into a request. */
export function encodeChunk(id: number, items: readonly ChunkRecord[], checkpointSeq: number): ChunkRequest {
  let bytes = 0;
  for (const item of items) bytes += item.record.length;
  const records = new Uint8Array(bytes);
  const ops: number[] = [];
  const votes: (string | null)[] = [];
  let at = 0;
  for (const item of items) {
    records.set(item.record, at);
    for (const step of item.steps) {
      switch (step.kind) {
        case 'delete':
          ops.push(OP_DELETE, step.from, step.to);
          break;
        case 'append':
          ops.push(OP_APPEND, at, item.record.length);
          break;
        case 'hardState':
          ops.push(OP_HARD_STATE, step.hardState.currentTerm, votes.length);
          votes.push(step.hardState.votedFor);
          break;
        case 'snapshot':
          throw new InvariantError('a log record never holds a snapshot');
      }
    }
    at += item.record.length;
  }
  return { id, records, ops: Float64Array.from(ops), votes, checkpointSeq };
}

/** Unpacks a request into the write plan applyToStore applies (in the worker). */
export function decodeChunk(request: ChunkRequest, path: string): EncodedStep[][] {
  const plan: EncodedStep[] = [];
  const { ops, records } = request;
  assert(ops.length % 3 === 0, 'chunk operations come in threes');
  for (let i = 0; i < ops.length; i += 3) {
    const kind = ops[i];
    const a = ops[i + 1] ?? -1;
    const b = ops[i + 2] ?? -1;
    if (kind === OP_DELETE) {
      plan.push({ kind: 'delete', from: a, to: b });
    } else if (kind === OP_APPEND) {
      const bytes = Buffer.from(records.buffer, records.byteOffset + a, b);
      const entries = decodeBatchRecords(bytes, 1, `${path} checkpoint record`)[0]?.entries ?? [];
      if (entries.length > 0) plan.push(encodeAppend(entries));
    } else if (kind === OP_HARD_STATE) {
      const votedFor = request.votes[b];
      assert(votedFor !== undefined, `chunk vote ${b} exists`);
      plan.push({ kind: 'put-meta', key: META_KEYS.hardState, value: encodeHardState({ currentTerm: a, votedFor }) });
    } else {
      throw new InvariantError(`unknown chunk operation ${String(kind)}`);
    }
  }
  return [plan];
}

/**
 * Starts the worker. Built, it is wal-checkpoint-worker.js beside this module; run from
 * TypeScript under tsx (tests, benchmarks), the worker registers tsx's loader first, since a
 * worker thread does not inherit the loader hooks of the main thread.
 */
function startWorker(options: ResolvedWalOptions): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./wal-checkpoint-worker.js', import.meta.url), { workerData: options });
  const script = new URL('./wal-checkpoint-worker.ts', import.meta.url).href;
  const bootstrap =
    `import('tsx/esm/api').then((api) => { api.register(); return ` + `import(${JSON.stringify(script)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: options });
}

interface Waiting {
  readonly resolve: () => void;
  readonly reject: (error: PersistenceError) => void;
}

/** The checkpoint worker thread, started on first use. */
export class CheckpointThread {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private closing = false;
  private readonly ready: Promise<void>;
  private markReady: () => void = () => undefined;

  constructor(private readonly options: ResolvedWalOptions) {
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
  }

  /**
   * Starts the worker and resolves once it has opened LMDB, so that the start (tens of
   * milliseconds, much more under tsx) is part of opening the engine, not of the first write.
   */
  async begin(): Promise<void> {
    const worker = this.start();
    worker.ref();
    try {
      await Promise.race([this.ready, this.failed()]);
    } finally {
      if (this.waiting.size === 0) worker.unref();
    }
  }

  private failed(): Promise<never> {
    return new Promise((_, reject) => {
      this.waiting.set(0, { resolve: () => undefined, reject });
    });
  }

  /** Applies `items` to LMDB in one transaction that sets the checkpoint to `checkpointSeq`. */
  apply(items: readonly ChunkRecord[], checkpointSeq: number): Promise<void> {
    const worker = this.start();
    const request = encodeChunk(this.nextId, items, checkpointSeq);
    this.nextId += 1;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(request.id, { resolve, reject });
      // Referenced while a chunk is in flight, so that the process waits for it.
      worker.ref();
      worker.postMessage(request, [request.records.buffer]);
    });
  }

  private start(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = startWorker(this.options);
    worker.on('message', (reply: ChunkReply) => this.settle(reply));
    worker.on('error', (error) =>
      this.failAll(
        new PersistenceError('STORAGE_IO', `checkpoint worker of ${this.options.path} failed: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    worker.on('exit', (code) => {
      if (!this.closing)
        this.failAll(
          new PersistenceError('STORAGE_IO', `checkpoint worker of ${this.options.path} exited with code ${code}`),
        );
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private settle(reply: ChunkReply): void {
    if (reply.id === 0) {
      this.waiting.delete(0);
      this.markReady();
      return;
    }
    const waiting = this.waiting.get(reply.id);
    if (waiting === undefined) return;
    this.waiting.delete(reply.id);
    if (this.waiting.size === 0) this.worker?.unref();
    if (reply.error === null) waiting.resolve();
    else waiting.reject(new PersistenceError(reply.error.code, reply.error.message));
  }

  private failAll(error: PersistenceError): void {
    for (const waiting of this.waiting.values()) waiting.reject(error);
    this.waiting.clear();
  }

  /** Stops the worker once no chunk is in flight (the caller waits for those first). */
  async close(): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    this.worker = null;
    if (worker !== null) await worker.terminate();
  }
}
