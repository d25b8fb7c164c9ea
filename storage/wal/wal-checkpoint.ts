/**
 * The checkpoint of the write-ahead-log engine: the durable view of the log (a projection that
 * follows the writes as their syncs complete), the records that are durable in the log but not
 * yet in LMDB, their entries in memory (the tail), and the background work that applies those
 * records to LMDB and deletes the log segments it no longer needs.
 *
 * A checkpoint starts once walCheckpointBytes of records wait, and runs while a full transaction's
 * worth does (the smaller of walCheckpointBytes and walCheckpointTxnBytesMax), one LMDB
 * transaction per walCheckpointTxnBytesMax, applied on this thread or, with walCheckpointWorker,
 * by a worker thread (wal-checkpoint-chunk.ts); what is left waits for the next start. Running
 * until none waits made it chase the head of the log under a steady trickle of writes: traced at
 * one client, a leader committed about 100 LMDB transactions of one record each in 0.6 s after
 * every checkpoint (two syncs each, beside the log's own). It drains the log whole only when asked
 * to (checkpointAll, close, drainWhile) or while a compaction is deleted ahead in pieces. Writes
 * wait (waitForRoom) when walPendingBytesMax of records wait. A failed checkpoint fails the engine: what the log
 * holds stays durable and is replayed when the directory is opened again.
 */
import { PersistenceError } from '../../contracts/errors.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { PersistBatch } from '../../contracts/persistence.js';
import { assert } from '../../contracts/assert.js';
import { FrontQueue } from '../../contracts/front-queue.js';
import type { DirectoryLock } from '../dir-lock.js';
import { toPersistenceError } from '../lmdb/lmdb-errors.js';
import type { LmdbHandles } from '../lmdb/lmdb-open.js';
import { parseEntryKey } from '../lmdb/lmdb-records.js';
import { encodeSteps } from '../lmdb/lmdb-write-plan.js';
import type { LogProjection, WriteStep } from '../log-projection.js';
import type { ResolvedWalOptions } from './wal-options.js';
import type { SegmentWriter } from './wal-segments.js';
import { CheckpointThread } from './wal-checkpoint-chunk.js';
import type { ChunkRecord } from './wal-checkpoint-chunk.js';
import { applyToStore } from './wal-store.js';
import { WalTail } from './wal-tail.js';
import { hasLargeCompaction, nextDeletePiece, withoutDeletedAhead } from './wal-checkpoint-compaction.js';
import type { DeletedAhead } from './wal-checkpoint-compaction.js';

/** The opened LMDB store and its directory lock. */
export interface OpenedStore {
  readonly handles: LmdbHandles;
  readonly path: string;
  readonly lock: DirectoryLock;
}

interface PendingRecord extends ChunkRecord {
  readonly seq: number;
  readonly bytes: number;
}

/** The checkpoint encodes entry records at their put (lmdb-write-plan.ts, EncodeOptions). */
const ENTRIES_AT_PUT = { entriesAtPut: true } as const;

/** What a pending record holds in place of its bytes when no worker will be sent them. */
const NO_RECORD = Buffer.alloc(0);

/** Checkpointed records' slots kept before the pending queue cuts its array. */
const CUT_AFTER_APPLIED = 4096;

/** Durable state not yet in LMDB, and the work that moves it there. */
export class Checkpointer {
  /** Invariant: the disk after every synced write (log or LMDB). */
  readonly durable: LogProjection;
  readonly tail = new WalTail();
  /**
   * Invariant: the records above `checkpointSeq`, in sequence order. The queue keeps none it
   * dropped (a checkpointed record kept would keep its entries and bytes: with the tail's,
   * wal-tail.ts, 22-25 MiB of peak RssAnon per member under 64 x 4 KiB).
   */
  private readonly pending = new FrontQueue<PendingRecord>(CUT_AFTER_APPLIED);
  /** Invariant: the sum of `bytes` over pending. */
  private waitingBytes = 0;
  private running: Promise<void> | null = null;
  /** The checkpoint add() asked for, to start in a later event-loop turn; null when none waits to start. */
  private startLater: NodeJS.Immediate | null = null;
  private failure: PersistenceError | null = null;
  /** Set by close(): nothing starts in a later turn any more. */
  private closing = false;
  /** Entries of the first pending record's compaction deleted ahead of it (wal-checkpoint-compaction.ts). */
  private deletedAhead: DeletedAhead | null = null;
  /** While true, a checkpoint starts as soon as any record waits (see drainWhile). */
  private draining: () => boolean = () => false;
  private failureListener: (error: PersistenceError) => void = () => undefined;
  /** The worker thread that applies chunks, or null to apply them on this thread. */
  private readonly thread: CheckpointThread | null;

  constructor(
    private readonly store: OpenedStore,
    private readonly writer: SegmentWriter,
    durable: LogProjection,
    /** The sequence number LMDB holds records up to. */
    private checkpointSeq: number,
    private readonly options: ResolvedWalOptions,
    private readonly metrics: Metrics | null,
  ) {
    this.durable = durable;
    this.thread = options.walCheckpointWorker ? new CheckpointThread(options) : null;
  }

  /** Starts the checkpoint worker, when there is one, and waits until it is ready. */
  async begin(): Promise<void> {
    await this.thread?.begin();
  }

  /** Calls `listener` once a checkpoint fails. */
  onFailure(listener: (error: PersistenceError) => void): void {
    this.failureListener = listener;
  }

  /** Bytes of encoded records held in memory for the checkpoint worker (0 without one). */
  heldRecordBytes(): number {
    let held = 0;
    for (let i = 0; i < this.pending.length; i += 1) held += this.pending.at(i)?.record.length ?? 0;
    return held;
  }

  /** Bytes of records durable in the log and not yet in LMDB. */
  pendingBytes(): number {
    return this.waitingBytes;
  }

  /**
   * Records that record `seq` (the pieces of its bytes, `record`), holding `batch` with write plan
   * `steps`, is synced in the log. The record's bytes are joined and kept only for the checkpoint
   * worker, which is sent them; without one, the steps are what is applied, and keeping the bytes
   * too would hold every pending entry twice.
   */
  add(
    seq: number,
    batch: PersistBatch,
    steps: readonly WriteStep[],
    record: readonly Uint8Array[],
    bytes: number,
  ): void {
    const last = this.pending.last();
    assert(last === undefined || seq === last.seq + 1, `record ${seq} follows the last pending record`);
    assert(seq > this.checkpointSeq, `record ${seq} is above the checkpoint ${this.checkpointSeq}`);
    this.durable.apply(batch);
    this.tail.apply(steps, seq);
    this.pending.push({ seq, steps, record: this.thread === null ? NO_RECORD : Buffer.concat(record), bytes });
    this.waitingBytes += bytes;
    this.startIfDue();
  }

  /**
   * Keeps the log drained while `active()` holds: a checkpoint starts as soon as a record waits,
   * not once walCheckpointBytes do. The engine asks for it while a snapshot streams: the
   * snapshot's commit bypasses the log and waits until every record is in LMDB, and every write
   * queued after it waits too, so what is left then is what the commit costs them. Undrained, up
   * to walPendingBytesMax (6 MiB) were left: traced under 64 clients x 256 B, a leader's log
   * writes waited 664 ms at a snapshot's commit, for three 1 MiB transactions.
   */
  drainWhile(active: () => boolean): void {
    this.draining = active;
    this.startIfDue();
  }

  /** Starts a checkpoint in a later turn once walCheckpointBytes of records wait, or any while the log is drained. */
  private startIfDue(): void {
    if (this.waitingBytes >= this.options.walCheckpointBytes || (this.draining() && this.pending.length > 0))
      this.startInLaterTurn();
  }

  /**
   * Starts a checkpoint in a later event-loop turn (setImmediate), not now. add() runs in the
   * continuation of the append that synced the record, before the write's promise resolves: a
   * checkpoint started there encoded up to walCheckpointTxnBytesMax of records and began its LMDB
   * transaction ahead of everything the write was awaited for (a follower's answer, a leader's
   * commit and its client's answer; traced at one client with 4 KiB values: up to 15 ms between a
   * leader's sync and its commit). What the write's promise resumes runs in microtasks, before the
   * turn ends, so it goes first.
   */
  private startInLaterTurn(): void {
    if (this.running !== null || this.startLater !== null || this.failure !== null || this.closing) return;
    this.startLater = setImmediate(() => {
      this.startLater = null;
      void this.start();
    });
  }

  /** Records that `batch` was committed to LMDB directly, after every pending record. */
  addApplied(batch: PersistBatch): void {
    assert(this.pending.length === 0, 'a batch bypasses the log only once every record is checkpointed');
    assert(this.tail.size() === 0, 'the tail is empty once every record is checkpointed');
    this.durable.apply(batch);
  }

  /** True when fewer than walPendingBytesMax bytes of records wait: a write need not wait for room. */
  hasRoom(): boolean {
    return this.waitingBytes < this.options.walPendingBytesMax;
  }

  /** Resolves once fewer than walPendingBytesMax bytes of records wait. */
  async waitForRoom(): Promise<void> {
    while (this.waitingBytes >= this.options.walPendingBytesMax) {
      await this.start();
      if (this.failure !== null) throw this.failure;
    }
  }

  /** Resolves once every record synced so far is in LMDB. */
  async checkpointAll(): Promise<void> {
    while (this.pending.length > 0 || this.running !== null) {
      await this.start(true);
      if (this.failure !== null) throw this.failure;
    }
    if (this.failure !== null) throw this.failure;
  }

  /** Checkpoints what is left, unless a checkpoint failed, and stops the worker. */
  async close(): Promise<void> {
    // No checkpoint starts in a later turn from now on: close drains the log itself, and one left
    // scheduled (by the end of a run under way) would run after the store and the segments closed.
    this.closing = true;
    if (this.startLater !== null) clearImmediate(this.startLater);
    this.startLater = null;
    try {
      if (this.running !== null) await this.running;
      if (this.failure === null) await this.checkpointAll();
    } finally {
      await this.thread?.close();
    }
  }

  /** Starts a checkpoint unless one runs; `all`: it runs until no record waits. */
  private start(all = false): Promise<void> {
    if (this.running === null && this.failure === null) {
      this.running = this.run(all).finally(() => {
        this.running = null;
        // A record added after the run's last look found it still running, and did not start another.
        this.startIfDue();
      });
    }
    return this.running ?? Promise.resolve();
  }

  /**
   * Applies pending records to LMDB in transactions, the first whatever waits and each later one
   * only while it goes on (see goesOn), or until none is left with `all`; never rejects (see onFailure).
   */
  private async run(all: boolean): Promise<void> {
    try {
      for (let first = true; this.pending.length > 0 && (first || all || this.goesOn()); first = false) {
        // Each later transaction waits for a turn of its own, so that its encoding does not run in
        // the continuation of the previous commit, ahead of I/O that is ready meanwhile.
        if (!first) await new Promise<void>((resolve) => setImmediate(resolve));
        if (await this.deleteAhead()) continue;
        const chunk: ChunkRecord[] = [];
        let bytes = 0;
        let count = 0;
        for (let record = this.pending.at(count); record !== undefined; record = this.pending.at(count)) {
          if (chunk.length > 0 && bytes + record.bytes > this.options.walCheckpointTxnBytesMax) break;
          // A large compaction starts a chunk of its own, to be deleted ahead in pieces first.
          if (chunk.length > 0 && this.isLargeCompaction(record)) break;
          chunk.push({
            steps: withoutDeletedAhead(record.seq, record.steps, this.deletedAhead),
            record: record.record,
          });
          bytes += record.bytes;
          count += 1;
        }
        const lastSeq = this.pending.at(count - 1)?.seq ?? 0;
        assert(lastSeq > this.checkpointSeq, `checkpoint through ${lastSeq} advances past ${this.checkpointSeq}`);
        if (this.thread !== null) await this.thread.apply(chunk, lastSeq);
        else
          await applyToStore(
            this.store.handles,
            chunk.map((record) => encodeSteps(record.steps, null, ENTRIES_AT_PUT)),
            lastSeq,
            this.store.path,
          );
        this.dropThrough(count, bytes, lastSeq);
      }
      this.writer.deleteThrough(this.checkpointSeq);
    } catch (error) {
      const failure = toPersistenceError(error, `checkpoint of the log in ${this.store.path} failed`);
      this.failure =
        failure instanceof PersistenceError
          ? failure
          : new PersistenceError('STORAGE_IO', failure.message, { cause: failure });
      this.failureListener(this.failure);
    }
  }

  /**
   * Whether a running checkpoint takes another transaction: while a full one's worth of records waits,
   * the log is kept drained (drainWhile), or a compaction is being deleted ahead in pieces.
   */
  private goesOn(): boolean {
    const fullBytes = Math.min(this.options.walCheckpointBytes, this.options.walCheckpointTxnBytesMax);
    return this.waitingBytes >= fullBytes || this.draining() || this.deletedAhead !== null;
  }

  private isLargeCompaction(record: PendingRecord): boolean {
    const perTxn = this.options.walCheckpointDeletesPerTxnMax;
    return hasLargeCompaction(record.steps, this.durable.snapshotLastIndex(), perTxn);
  }

  /**
   * Deletes the next piece of the first pending record's compaction in a transaction of its own
   * (wal-checkpoint-compaction.ts); false when none is left to delete ahead of the record.
   */
  private async deleteAhead(): Promise<boolean> {
    const record = this.pending.first();
    if (record === undefined) return false;
    const { log } = this.store.handles;
    const firstStored = (): number | null => {
      for (const key of log.getKeys({ limit: 1 })) return parseEntryKey(key);
      return null;
    };
    const piece = nextDeletePiece(
      record.seq,
      record.steps,
      // Snapshots bypass the log, so the durable view's snapshot is the one LMDB holds.
      this.durable.snapshotLastIndex(),
      this.deletedAhead,
      firstStored,
      this.options.walCheckpointDeletesPerTxnMax,
    );
    if (piece === null) return false;
    await applyToStore(this.store.handles, [[{ kind: 'delete', from: piece[0], to: piece[1] }]], null, this.store.path);
    this.deletedAhead = { seq: record.seq, through: piece[1] };
    this.metrics?.increment('storage_compaction_pieces_total');
    return true;
  }

  /** The `count` oldest pending records, `bytes` in all and the last of them `lastSeq`, are in LMDB. */
  private dropThrough(count: number, bytes: number, lastSeq: number): void {
    this.pending.drop(count);
    this.waitingBytes -= bytes;
    this.checkpointSeq = lastSeq;
    if (this.deletedAhead !== null && this.deletedAhead.seq <= lastSeq) this.deletedAhead = null;
    this.tail.dropThrough(lastSeq);
    this.metrics?.increment('storage_checkpoints_total');
  }
}
