/**
 * The LMDB PersistenceEngine (`storage: "lmdb-direct"`): Raft's durable state in one LMDB
 * environment, written with group commit, checked on both sides of the disk.
 *
 * This folder, storage/lmdb/, holds the engine and the LMDB store under it: opening a data
 * directory (lmdb-open.ts), the record formats (lmdb-records.ts, lmdb-header.ts), write plans
 * (lmdb-write-plan.ts), space checks (lmdb-space.ts), error mapping (lmdb-errors.ts) and the
 * options (lmdb-options.ts). The write-ahead-log engine (storage/wal/) checkpoints into the same
 * store and imports those modules; nothing here imports storage/wal/.
 *
 * Writes. `persist(batch)` checks the batch against the projection of the disk after every
 * accepted write (checkBatch), turns it into a write plan and queues it. One commit at a time
 * takes every queued plan, applies them in order inside one LMDB child transaction (so that a
 * failure halfway aborts the whole group) and commits it with one LMDB sync (an fdatasync of
 * the data pages, then the synchronous write of the meta page that makes them current); each
 * promise resolves only once its write is on disk (see lmdb-open.ts for the LMDB options and
 * why they are safe).
 *
 * Snapshots are stored inside LMDB rather than as files renamed into place: LMDB's
 * copy-on-write commit already leaves either the old or the new metadata after a crash (a file
 * would need its own fsync, a rename and a directory fsync, and a recovery step to pair the file
 * with the metadata), and the image carries CRC-32s that are checked when read. The image is
 * stored in records with a CRC-32 each in one of two slots (lmdb-snapshot.ts), so
 * `readSnapshotChunk` reads only the records a chunk covers. A snapshot persisted whole is written
 * in the same transaction as the rest of its batch; one taken by this node is streamed into the
 * free slot by its writer (lmdb-snapshot-stream.ts) and its commit switches the metadata. The
 * price is that the map must hold two images during a replacement (see snapshotBytesMax).
 *
 * `load()` reads LMDB's latest committed transaction, which with these options is always a
 * durable one; every record read is decoded and checked, and a damaged one is STORAGE_CORRUPT.
 */
import { InvariantError, PersistenceError } from '../../contracts/errors.js';
import type { LogEntry, LogIndex, NodeId, SnapshotMeta, Term } from '../../contracts/log.js';
import type { Metrics } from '../../contracts/metrics.js';
import type {
  PersistBatch,
  PersistedShape,
  PersistedState,
  PersistenceEngine,
  SnapshotWriter,
  StoredImage,
  StoredLog,
} from '../../contracts/persistence.js';
import type { DirectoryLock } from '../dir-lock.js';
import { GroupCommitQueue } from '../group-commit.js';
import { SnapshotWriters } from '../snapshot-writer.js';
import type { QueuedWrite } from '../group-commit.js';
import { checkBatch, checkLoadedLog, checkReadRange, checkReadRequest, chunkOf } from '../log-checks.js';
import type { LogProjection } from '../log-projection.js';
import { commitFailureCause, toPersistenceError } from './lmdb-errors.js';
import { openDirectory } from './lmdb-open.js';
import type { LmdbHandles } from './lmdb-open.js';
import { resolveLmdbOptions } from './lmdb-options.js';
import type { LmdbPersistenceOptions, ResolvedLmdbOptions } from './lmdb-options.js';
import { META_KEYS, decodeEntry, entryKey, entryStoredBytes, parseEntryKey, parseHardState } from './lmdb-records.js';
import type { StoredSnapshotMeta } from './lmdb-records.js';
import { applyStep, encodeSteps } from './lmdb-write-plan.js';
import type { EncodedStep, SnapshotPlacement } from './lmdb-write-plan.js';
import { SnapshotSlots } from './lmdb-snapshot-slots.js';
import { beginStreaming } from './lmdb-snapshot-stream.js';
import { checkSpace } from './lmdb-space.js';
import { readStoredImage, readStoredSnapshot, readStoredSnapshotHeader } from './lmdb-snapshot.js';
import { addLogShapes, forEachLogRecord, readOrFail } from './lmdb-log-read.js';
import { StoredLogBuilder, checkStoredLog } from '../stored-log.js';

export type { LmdbPersistenceOptions } from './lmdb-options.js';

/** Dependencies of {@link LmdbPersistenceEngine}. */
export interface LmdbPersistenceDeps {
  /**
   * Receives `storage_commits_total`, `storage_commit_writes` and `storage_errors_total{code}`.
   */
  readonly metrics?: Metrics;
}

/** Bytes counted for a write besides its entries and snapshot, for the queue and space limits. */
const WRITE_OVERHEAD_BYTES = 64;

/** A queued write: its steps, and what a snapshot write waits for before its transaction (lmdb-snapshot-slots.ts). */
interface LmdbWrite {
  readonly steps: readonly EncodedStep[];
  readonly after: Promise<void> | null;
}

/** PersistenceEngine over LMDB; create it with {@link LmdbPersistenceEngine.open}. */
export class LmdbPersistenceEngine implements PersistenceEngine {
  private readonly queue: GroupCommitQueue<LmdbWrite>;
  private closed = false;
  private readonly writers = new SnapshotWriters();

  private constructor(
    private readonly options: ResolvedLmdbOptions,
    private readonly handles: LmdbHandles,
    private readonly lock: DirectoryLock,
    /** Invariant: the disk after every write accepted so far, committed or queued. */
    private readonly projection: LogProjection,
    private readonly slots: SnapshotSlots,
    private readonly metrics: Metrics | null,
    /** The log's shape as open scanned it, while no write has been accepted since; loadShape takes it (issue 17). */
    private openLog: StoredLog | null,
    /** The snapshot whose image open checked whole, while no write has been accepted since (storedImage). */
    private openSnapshot: StoredSnapshotMeta | null,
  ) {
    this.queue = new GroupCommitQueue((writes) => this.commit(writes), options);
  }

  /**
   * Opens (or, when empty, initialises) the data directory of `options.path` and restores
   * what it holds. Rejects with ConfigError for bad options and PersistenceError STORAGE_IO,
   * STORAGE_LOCKED, STORAGE_VERSION or STORAGE_CORRUPT as described in lmdb-open.ts.
   */
  static async open(options: LmdbPersistenceOptions, deps: LmdbPersistenceDeps = {}): Promise<LmdbPersistenceEngine> {
    const resolved = resolveLmdbOptions(options);
    const opened = await openDirectory(resolved);
    let slots: SnapshotSlots;
    try {
      slots = await SnapshotSlots.open(opened.handles, resolved);
    } catch (error) {
      await opened.handles.env.close();
      opened.lock.release();
      throw error;
    }
    const { handles, lock, projection, storedLog, checkedSnapshot } = opened;
    return new LmdbPersistenceEngine(
      resolved,
      handles,
      lock,
      projection,
      slots,
      deps.metrics ?? null,
      storedLog,
      checkedSnapshot,
    );
  }

  persist(batch: PersistBatch): Promise<void> {
    if (batch.snapshot !== null) this.writers.supersede();
    return this.write(batch);
  }

  /**
   * Checks, plans and queues a write (persist, or a snapshot writer's commit with the `placement` of
   * its streamed image; a snapshot persisted whole goes into the free slot).
   */
  private write(batch: PersistBatch, placement: SnapshotPlacement | null = null): Promise<void> {
    try {
      this.checkOpen();
      this.openLog = null;
      this.openSnapshot = null;
      const bytes = this.checkLimits(batch);
      this.queue.checkAccepts(bytes);
      checkBatch(this.projection.shape(), batch);
      if (batch.snapshot === null)
        return this.queue.enqueue({ steps: encodeSteps(this.projection.apply(batch)), after: null }, bytes);
      const place = placement ?? { slot: this.slots.free(), image: null };
      const steps = encodeSteps(this.projection.apply(batch), place);
      const after = this.slots.accept(place.slot);
      const written = this.queue.enqueue({ steps, after }, bytes);
      this.slots.written(written);
      return written;
    } catch (error) {
      // A refused write (closed, queue full, failed earlier, invalid batch) never reaches LMDB.
      if (error instanceof PersistenceError) this.metrics?.increment('storage_errors_total', 1, { code: error.code });
      return Promise.reject(error instanceof Error ? error : new InvariantError(String(error)));
    }
  }

  /** Checks the sizes of a batch and returns the bytes it adds. */
  private checkLimits(batch: PersistBatch): number {
    let bytes = WRITE_OVERHEAD_BYTES;
    for (const entry of batch.entries) {
      if (entry.command.byteLength > this.options.entryBytesMax) {
        throw new InvariantError(
          `entry ${entry.index} command is ${entry.command.byteLength} bytes, beyond ` +
            `entryBytesMax ${this.options.entryBytesMax}`,
        );
      }
      bytes += entryStoredBytes(entry);
    }
    if (batch.snapshot !== null) {
      if (batch.snapshot.data.byteLength > this.options.snapshotBytesMax) {
        throw new PersistenceError(
          'STORAGE_FULL',
          `snapshot of ${batch.snapshot.data.byteLength} bytes is beyond ` +
            `snapshotBytesMax ${this.options.snapshotBytesMax}`,
        );
      }
      bytes += batch.snapshot.data.byteLength;
    }
    return bytes;
  }

  private async commit(writes: readonly QueuedWrite<LmdbWrite>[]): Promise<void> {
    const { env, log, meta } = this.handles;
    for (const write of writes) if (write.payload.after !== null) await write.payload.after;
    try {
      checkSpace(
        this.handles,
        writes.reduce((sum, write) => sum + write.bytes, 0),
        this.options,
      );
      // A child transaction, so that an exception in the callback aborts every write of the
      // group instead of committing the part done before it.
      await env.childTransaction(() => {
        const target = { log, meta, shapes: null, path: this.options.path };
        for (const write of writes) for (const step of write.payload.steps) applyStep(step, target);
      });
    } catch (error) {
      const failure = toPersistenceError(
        await commitFailureCause(error),
        `commit to ${this.options.path} failed`,
        this.options.path,
      );
      this.metrics?.increment('storage_errors_total', 1, { code: failure.code });
      throw failure;
    }
    this.metrics?.increment('storage_commits_total');
    this.metrics?.observe('storage_commit_writes', writes.length);
  }

  /** Streams the image into the free slot; the commit switches the metadata (lmdb-snapshot-stream.ts). */
  beginSnapshot(meta: SnapshotMeta, totalBytes?: number): SnapshotWriter {
    const engine = {
      writers: this.writers,
      slots: this.slots,
      snapshotBytesMax: this.options.snapshotBytesMax,
      checkOpen: () => this.checkOpen(),
      storedIndex: () => this.projection.snapshotLastIndex(),
      write: (batch: PersistBatch, placement: SnapshotPlacement) => this.write(batch, placement),
    };
    return beginStreaming(engine, meta, totalBytes);
  }

  async load(): Promise<PersistedState> {
    this.checkOpen();
    await Promise.resolve();
    const hardState = this.readHardState();
    const snapshot = readStoredSnapshot(this.handles.meta);
    const entries = this.readStoredEntries(0, Number.MAX_SAFE_INTEGER);
    checkLoadedLog(entries, snapshot);
    return { hardState, snapshot, entries };
  }

  /** As load, with the log's headers read instead of its entries (contracts/persistence.ts, StoredLog). */
  async loadShape(): Promise<PersistedShape> {
    this.checkOpen();
    await Promise.resolve();
    const hardState = this.readHardState();
    const snapshot = readStoredSnapshotHeader(this.handles.meta);
    const path = this.options.path;
    let log = this.openLog;
    this.openLog = null;
    if (log === null) {
      const builder = new StoredLogBuilder(this.firstStoredIndex() ?? (snapshot?.lastIncludedIndex ?? 0) + 1, path);
      addLogShapes(this.handles.log, {}, builder, path);
      log = builder.build();
    }
    checkStoredLog(log, snapshot, path);
    return { hardState, snapshot, log };
  }

  firstStoredIndex(): LogIndex | null {
    this.checkOpen();
    return readOrFail(
      () => {
        for (const key of this.handles.log.getKeys({ limit: 1 })) return parseEntryKey(key);
        return null;
      },
      'the first log entry',
      this.options.path,
    );
  }

  /** The entries from..to of LMDB's latest commit, durable with these options (LogReader). */
  readEntries(from: LogIndex, to: LogIndex): LogEntry[] {
    this.checkOpen();
    checkReadRequest(from, to);
    const entries = readOrFail(() => this.readStoredEntries(from, to), `log entries ${from}..${to}`, this.options.path);
    checkReadRange(entries, from, to, this.options.path);
    return entries;
  }

  async readSnapshotChunk(index: LogIndex, offset: number, bytes: number): Promise<Uint8Array | null> {
    await Promise.resolve();
    // A chunk sent to a follower is checked against its records' CRC-32s, even right after open.
    this.checkOpen();
    return chunkOf(readStoredImage(this.handles.meta, index, this.options.path), offset, bytes);
  }

  storedImage(index: LogIndex): StoredImage | null {
    this.checkOpen();
    return readStoredImage(this.handles.meta, index, this.options.path, this.openSnapshot);
  }

  /**
   * Waits for the commit in flight, refuses every write still queued (STORAGE_CLOSED), closes
   * LMDB and releases the directory lock. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.writers.supersede();
    this.queue.fail(
      new PersistenceError(
        'STORAGE_CLOSED',
        `engine on ${this.options.path} was closed before the write was committed`,
      ),
    );
    await this.queue.drain();
    await this.slots.idle();
    try {
      await this.handles.env.close();
    } finally {
      this.lock.release();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new PersistenceError('STORAGE_CLOSED', `engine on ${this.options.path} is closed`);
  }

  private readHardState(): { readonly currentTerm: Term; readonly votedFor: NodeId | null } {
    const stored = this.handles.meta.get(META_KEYS.hardState);
    return stored === undefined ? { currentTerm: 0, votedFor: null } : parseHardState(stored);
  }

  /** The stored entries with from <= index <= to, checked to be contiguous. */
  private readStoredEntries(from: LogIndex, to: LogIndex): LogEntry[] {
    const entries: LogEntry[] = [];
    if (from > to) return entries;
    const range =
      to >= Number.MAX_SAFE_INTEGER ? { start: entryKey(from) } : { start: entryKey(from), end: entryKey(to + 1) };
    const path = this.options.path;
    forEachLogRecord(
      this.handles.log,
      range,
      (index, value) => {
        const previous = entries[entries.length - 1];
        if (previous !== undefined && index !== previous.index + 1)
          throw new PersistenceError(
            'STORAGE_CORRUPT',
            `${path}: log has a gap: entry ${index} follows entry ${previous.index}`,
          );
        entries.push(decodeEntry(index, value));
      },
      path,
    );
    return entries;
  }
}
