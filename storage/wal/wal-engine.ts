/**
 * The write-ahead-log PersistenceEngine (`storage: "wal"`, the default; `"lmdb"` is its former
 * name): LMDB stays the store (storage/lmdb/, whose modules this folder imports), and a log in
 * front of it makes each write durable with one fdatasync of an append, instead of an LMDB
 * commit (two syncs and a hand-off to lmdb-js's writer thread).
 *
 * Why this design. The log holds only what LMDB does not hold yet; records are checkpointed into
 * LMDB in the background (one synced LMDB transaction per walCheckpointTxnBytesMax of records,
 * which also stores the sequence number it reached), and log segments wholly below the
 * checkpoint are deleted. The other design, the log as the store of entries and LMDB for
 * snapshots and metadata only, would need its own index of entry positions, segment retention
 * tied to compaction and a second read path from files; here reads, snapshots, the format and
 * every existing check of the LMDB engine stay as they are, recovery replays at most about
 * walCheckpointBytes, and the entries in flight between the two (the tail) are bounded by
 * walPendingBytesMax. LMDB keeps its synced commits (no noSync): a checkpoint transaction costs
 * two syncs per megabyte of records, so there is nothing to gain from giving up LMDB's own
 * crash safety.
 *
 * Writes. `persist(batch)` checks the batch against the projection of every accepted write,
 * encodes it as one log record (its large commands not copied: wal-frame.ts RecordParts) and
 * queues it (GroupCommitQueue). One commit at a time writes
 * every queued record as one frame with one write and one fdatasync; each promise resolves once
 * its frame is synced. A batch with a snapshot, or one whose record exceeds walFrameBytesMax,
 * bypasses the log: it waits until every earlier record is checkpointed, then commits to LMDB
 * directly (as the LMDB engine does), so the image is written once. A snapshot this node takes is
 * streamed into LMDB's free slot beside the log (lmdb/lmdb-snapshot-stream.ts), and only its
 * commit, the switch of the metadata, goes through the queue and bypasses the log.
 *
 * Checkpoints run on the main thread between writes, or in a worker (walCheckpointWorker, wal-options.ts).
 *
 * `load()` sees durable state only, as with the LMDB engine: a second projection follows the
 * writes as their syncs complete; entries not yet checkpointed come from the tail in memory,
 * the rest, the snapshot included, from LMDB.
 *
 * Recovery (wal-recover.ts) replays the records after the checkpoint, truncates a torn last
 * frame, refuses any other damage with STORAGE_CORRUPT, and checkpoints what it replayed. The open
 * reads the log's shape records, not its records (lmdb/lmdb-log-shape.ts; a scan is counted).
 */
import { InvariantError, PersistenceError } from '../../contracts/errors.js';
import type { LogEntry, LogIndex, SnapshotMeta } from '../../contracts/log.js';
import type { Metrics } from '../../contracts/metrics.js';
import type {
  PersistBatch,
  PersistOptions,
  PersistedShape,
  PersistedState,
  PersistenceEngine,
  SnapshotWriter,
  StoredImage,
  StoredLog,
} from '../../contracts/persistence.js';
import { GroupCommitQueue, type QueuedWrite } from '../group-commit.js';
import { SnapshotWriters } from '../snapshot-writer.js';
import { checkBatch, checkLoadedLog, checkReadRange, checkReadRequest, chunkOf } from '../log-checks.js';
import type { LogProjection, WriteStep } from '../log-projection.js';
import { openDirectory, type OpenedDirectory } from '../lmdb/lmdb-open.js';
import { readOrFail } from '../lmdb/lmdb-log-read.js';
import { DirectCommitReads, durableStoredLog, readDurableEntries, type DurableLog } from './wal-durable-read.js';
import { encodeSteps, type SnapshotPlacement } from '../lmdb/lmdb-write-plan.js';
import { SnapshotSlots } from '../lmdb/lmdb-snapshot-slots.js';
import { beginStreaming } from '../lmdb/lmdb-snapshot-stream.js';
import { readStoredImage, readStoredSnapshot, readStoredSnapshotHeader } from '../lmdb/lmdb-snapshot.js';
import { Checkpointer, type OpenedStore } from './wal-checkpoint.js';
import { FRAME_HEADER_BYTES, encodeBatchRecordParts, encodeFrameParts, type RecordParts } from './wal-frame.js';
import { StoreRoom, checkBatchLimits } from './wal-limits.js';
import { resolveWalOptions } from './wal-options.js';
import type { ResolvedWalOptions, WalPersistenceDeps, WalPersistenceOptions } from './wal-options.js';
import { recoverWal } from './wal-recover.js';
import { SegmentWriter } from './wal-segments.js';
import { WAL_FORMAT_VERSION, applyToStore, readCheckpoint } from './wal-store.js';

export type { WalPersistenceDeps, WalPersistenceOptions } from './wal-options.js';

/** A queued write: the batch, its write plan and its log record (null: it bypasses the log). */
interface WalWrite {
  readonly batch: PersistBatch;
  readonly steps: readonly WriteStep[];
  readonly record: RecordParts | null;
  /** PersistOptions.overlap: the caller works while the write is under way; never sync it inline in `auto`. */
  readonly overlap: boolean;
  /** Where its snapshot goes, and what it waits for first (lmdb-snapshot-slots.ts); null without one. */
  readonly snapshot: { readonly placement: SnapshotPlacement; readonly after: Promise<void> } | null;
}

/** Frame header plus the most padding: a record at most this much below walFrameBytesMax fits a frame. */
const FRAME_SLACK_BYTES = FRAME_HEADER_BYTES + 8;

/** PersistenceEngine with a write-ahead log in front of LMDB; create it with {@link WalPersistenceEngine.open}. */
export class WalPersistenceEngine implements PersistenceEngine {
  private readonly queue: GroupCommitQueue<WalWrite>;
  private readonly room: StoreRoom;
  private closed = false;
  private readonly writers = new SnapshotWriters();
  /** Narrows what reads are served while a write that bypasses the log commits (wal-durable-read.ts). */
  private readonly direct = new DirectCommitReads();

  private constructor(
    private readonly options: ResolvedWalOptions,
    private readonly store: OpenedStore,
    private readonly writer: SegmentWriter,
    /** Invariant: the disk after every write accepted so far, synced or queued. */
    private readonly accepted: LogProjection,
    private readonly checkpointer: Checkpointer,
    /** Sequence number of the next log record. */
    private nextSeq: number,
    private readonly slots: SnapshotSlots,
    private readonly metrics: Metrics | null,
    /** What loadShape takes of open while nothing was written since: the log shape (null after a replay), the image. */
    private fromOpen: { readonly log: StoredLog | null; readonly snapshot: OpenedDirectory['checkedSnapshot'] } | null,
  ) {
    const bytesPerCommitMax = Math.min(options.bytesPerCommitMax, options.walFrameBytesMax - FRAME_SLACK_BYTES);
    this.queue = new GroupCommitQueue((writes) => this.commit(writes), { ...options, bytesPerCommitMax });
    this.room = new StoreRoom(store.handles, options);
    checkpointer.onFailure((error) => this.fail(error));
  }

  /**
   * Opens (or initialises) the data directory of `options.path`, recovers the log and
   * checkpoints what it replays. Rejects with ConfigError for bad options and PersistenceError
   * STORAGE_IO, STORAGE_LOCKED, STORAGE_VERSION or STORAGE_CORRUPT.
   */
  static async open(options: WalPersistenceOptions, deps: WalPersistenceDeps = {}): Promise<WalPersistenceEngine> {
    const resolved = resolveWalOptions(options);
    const opened = await openDirectory(resolved, WAL_FORMAT_VERSION, true);
    const store: OpenedStore = { handles: opened.handles, path: resolved.path, lock: opened.lock };
    if (opened.logShapeSource === 'scan') deps.metrics?.increment('storage_log_scans_total');
    if (opened.formatUpgradedFrom !== null)
      deps.onFormatUpgrade?.(opened.formatUpgradedFrom, WAL_FORMAT_VERSION, resolved.path);
    try {
      const checkpointSeq = readCheckpoint(opened.handles, resolved.path);
      const recovered = recoverWal(resolved.path, checkpointSeq, true, deps.onTornTail);
      const durable = opened.projection;
      const replayed: WriteStep[][] = [];
      for (const record of recovered.records) {
        try {
          checkBatch(durable.shape(), record.batch);
        } catch (error) {
          throw new PersistenceError(
            'STORAGE_CORRUPT',
            `${resolved.path}: log record ${record.seq} does not follow the stored log`,
            { cause: error },
          );
        }
        replayed.push(durable.apply(record.batch));
      }
      if (replayed.length > 0)
        await applyToStore(
          opened.handles,
          replayed.map((steps) => encodeSteps(steps)),
          recovered.lastSeq,
          resolved.path,
        );
      const slots = await SnapshotSlots.open(opened.handles, resolved);
      const writer = await SegmentWriter.open(
        resolved.path,
        resolved.walSegmentBytes,
        resolved.walSyncMode,
        recovered.start,
      );
      writer.deleteThrough(recovered.lastSeq);
      const checkpointer = new Checkpointer(store, writer, durable, recovered.lastSeq, resolved, deps.metrics ?? null);
      try {
        await checkpointer.begin();
      } catch (error) {
        await checkpointer.close();
        await writer.close();
        throw error;
      }
      return new WalPersistenceEngine(
        resolved,
        store,
        writer,
        durable.clone(),
        checkpointer,
        recovered.lastSeq + 1,
        slots,
        deps.metrics ?? null,
        { log: replayed.length === 0 ? opened.storedLog : null, snapshot: opened.checkedSnapshot },
      );
    } catch (error) {
      await opened.handles.env.close();
      opened.lock.release();
      throw error;
    }
  }

  persist(batch: PersistBatch, options?: PersistOptions): Promise<void> {
    if (batch.snapshot !== null) this.writers.supersede();
    return this.write(batch, options);
  }

  /**
   * Checks, plans and queues a write (persist, or a snapshot writer's commit with the `placement` of
   * its streamed image; a snapshot persisted whole goes into the free slot).
   */
  private write(
    batch: PersistBatch,
    options?: PersistOptions,
    placement: SnapshotPlacement | null = null,
  ): Promise<void> {
    try {
      this.checkOpen();
      this.fromOpen = null;
      const bytes = checkBatchLimits(batch, this.options);
      checkBatch(this.accepted.shape(), batch);
      let record = batch.snapshot === null ? encodeBatchRecordParts(batch) : null;
      if (record !== null && record.bytes > this.options.walFrameBytesMax - FRAME_SLACK_BYTES) record = null;
      const queued = record?.bytes ?? bytes;
      this.queue.checkAccepts(queued);
      const overlap = options?.overlap === true;
      const steps = this.accepted.apply(batch);
      if (batch.snapshot === null) return this.queue.enqueue({ batch, steps, record, overlap, snapshot: null }, queued);
      const place = placement ?? { slot: this.slots.free(), image: null };
      const snapshot = { placement: place, after: this.slots.accept(place.slot) };
      const written = this.queue.enqueue({ batch, steps, record, overlap, snapshot }, queued);
      this.slots.written(written);
      return written;
    } catch (error) {
      // A refused write (closed, queue full, failed earlier, invalid batch) never reaches the disk.
      if (error instanceof PersistenceError) this.metrics?.increment('storage_errors_total', 1, { code: error.code });
      return Promise.reject(error instanceof Error ? error : new InvariantError(String(error)));
    }
  }

  /** Commits one group: runs of log records as one frame each, bypassing writes to LMDB. */
  private async commit(writes: readonly QueuedWrite<WalWrite>[]): Promise<void> {
    try {
      let run: QueuedWrite<WalWrite>[] = [];
      for (const write of writes) {
        if (write.payload.record !== null) {
          run.push(write);
          continue;
        }
        if (run.length > 0) await this.writeFrame(run);
        run = [];
        await this.writeDirect(write);
      }
      if (run.length > 0) await this.writeFrame(run);
    } catch (error) {
      if (error instanceof PersistenceError) this.metrics?.increment('storage_errors_total', 1, { code: error.code });
      throw error;
    }
    this.metrics?.increment('storage_commits_total');
    this.metrics?.observe('storage_commit_writes', writes.length);
  }

  private async writeFrame(run: readonly QueuedWrite<WalWrite>[]): Promise<void> {
    const records: RecordParts[] = [];
    let bytes = 0;
    for (const write of run) {
      if (write.payload.record === null) throw new InvariantError('a frame holds log records only');
      records.push(write.payload.record);
      bytes += write.bytes;
    }
    // Without an await while there is room, a write queued on an idle log starts before persist returns.
    if (!this.checkpointer.hasRoom()) await this.checkpointer.waitForRoom();
    this.room.takeForLog(bytes, this.checkpointer.pendingBytes());
    const firstSeq = this.nextSeq;
    this.nextSeq += run.length;
    const frame = encodeFrameParts(firstSeq, records);
    const single = run.length === 1 && run[0]?.payload.overlap !== true;
    await this.writer.append(frame.parts, frame.bytes, firstSeq + run.length - 1, single);
    for (const [i, write] of run.entries())
      this.checkpointer.add(
        firstSeq + i,
        write.payload.batch,
        write.payload.steps,
        records[i]?.pieces ?? [],
        write.bytes,
      );
  }

  private async writeDirect(write: QueuedWrite<WalWrite>): Promise<void> {
    await this.checkpointer.checkpointAll();
    const snapshot = write.payload.snapshot;
    if (snapshot !== null) await snapshot.after;
    this.room.takeForDirect(write.bytes);
    const steps = encodeSteps(write.payload.steps, snapshot?.placement ?? null);
    await this.direct.during(this.checkpointer.durable, write.payload.batch, async () => {
      await applyToStore(this.store.handles, [steps], null, this.options.path);
      this.checkpointer.addApplied(write.payload.batch);
    });
  }

  private fail(error: PersistenceError): void {
    this.metrics?.increment('storage_errors_total', 1, { code: error.code });
    this.queue.fail(error);
  }

  /** Streams the image into LMDB's free slot; the commit switches the metadata (lmdb-snapshot-stream.ts). */
  beginSnapshot(meta: SnapshotMeta, totalBytes?: number): SnapshotWriter {
    const engine = {
      writers: this.writers,
      slots: this.slots,
      snapshotBytesMax: this.options.snapshotBytesMax,
      checkOpen: () => this.checkOpen(),
      storedIndex: () => this.accepted.snapshotLastIndex(),
      write: (batch: PersistBatch, placement: SnapshotPlacement) => this.write(batch, undefined, placement),
    };
    const writer = beginStreaming(engine, meta, totalBytes);
    // While the image streams, the log is kept drained, so that its commit waits for little (wal-checkpoint.ts).
    this.checkpointer.drainWhile(() => this.writers.hasOpen());
    return writer;
  }

  async load(): Promise<PersistedState> {
    this.checkOpen();
    await Promise.resolve();
    const shape = this.checkpointer.durable.shape();
    const snapshot = readStoredSnapshot(this.store.handles.meta);
    const entries = readDurableEntries(this.durableLog(), shape.firstIndex, shape.lastIndex);
    checkLoadedLog(entries, snapshot);
    return { hardState: this.checkpointer.durable.hardState(), snapshot, entries };
  }

  /**
   * As load, with the log's shape instead of its entries (contracts/persistence.ts, StoredLog): the
   * headers of LMDB's records below the tail, the tail's entries above it.
   */
  async loadShape(): Promise<PersistedShape> {
    this.checkOpen();
    await Promise.resolve();
    const snapshot = readStoredSnapshotHeader(this.store.handles.meta);
    const log = durableStoredLog(this.durableLog(), snapshot, this.fromOpen?.log ?? null);
    // The image open checked stays known to storedImage until a write is accepted.
    if (this.fromOpen !== null) this.fromOpen = { log: null, snapshot: this.fromOpen.snapshot };
    return { hardState: this.checkpointer.durable.hardState(), snapshot, log };
  }

  firstStoredIndex(): LogIndex | null {
    this.checkOpen();
    const shape = this.durableLog().shape;
    return shape.firstIndex <= shape.lastIndex ? shape.firstIndex : null;
  }

  /** The durable entries from..to (LogReader): the tail's not yet checkpointed, LMDB's below it. */
  readEntries(from: LogIndex, to: LogIndex): LogEntry[] {
    this.checkOpen();
    checkReadRequest(from, to);
    const entries = readOrFail(
      () => readDurableEntries(this.durableLog(), from, to),
      `log entries ${from}..${to}`,
      this.options.path,
    );
    checkReadRange(entries, from, to, this.options.path);
    return entries;
  }

  async readSnapshotChunk(index: LogIndex, offset: number, bytes: number): Promise<Uint8Array | null> {
    await Promise.resolve();
    this.checkOpen();
    return chunkOf(readStoredImage(this.store.handles.meta, index, this.options.path), offset, bytes);
  }

  /** Snapshots bypass the log (they are in LMDB once durable), so the image is read from LMDB. */
  storedImage(index: LogIndex): StoredImage | null {
    this.checkOpen();
    return readStoredImage(this.store.handles.meta, index, this.options.path, this.fromOpen?.snapshot ?? null);
  }

  /**
   * Waits for the commit in flight, refuses every write still queued (STORAGE_CLOSED),
   * checkpoints the log, closes it and LMDB and releases the directory lock. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.writers.supersede();
    this.queue.fail(
      new PersistenceError('STORAGE_CLOSED', `engine on ${this.options.path} was closed before the write was synced`),
    );
    await this.queue.drain();
    await this.slots.idle();
    try {
      await this.checkpointer.close();
      await this.writer.close();
    } finally {
      await this.store.handles.env.close();
      this.store.lock.release();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new PersistenceError('STORAGE_CLOSED', `engine on ${this.options.path} is closed`);
  }

  /** The durable log: LMDB below the tail, the tail above (wal-durable-read.ts). */
  private durableLog(): DurableLog {
    const shape = this.direct.shape(this.checkpointer.durable.shape());
    return { ...this.store.handles, tail: this.checkpointer.tail, shape, path: this.options.path };
  }
}
