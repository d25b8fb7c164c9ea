/**
 * The in-memory PersistenceEngine (`storage: "memory"`), first-class: the simulator's disk and
 * the reference model that the LMDB and write-ahead-log engines are tested against.
 *
 * The durable state lives in a `MemoryDisk` that outlives the engine, so the simulator can
 * "crash" a node (close its engine, drop everything in flight) and restart it on the same disk.
 * A write becomes durable only when its (optionally delayed) sync completes: a crash before
 * then keeps exactly what was persisted before it and nothing more. Each batch is atomic.
 */
import type { Timers } from '../contracts/clock.js';
import { PersistenceError } from '../contracts/errors.js';
import type { HardState, LogEntry, LogIndex, Snapshot, SnapshotMeta, Term } from '../contracts/log.js';
import type {
  PersistBatch,
  PersistedShape,
  PersistedState,
  PersistenceEngine,
  SnapshotBatchRest,
  SnapshotWriter,
  StoredImage,
} from '../contracts/persistence.js';
import {
  checkBatch,
  checkLoadedLog,
  checkReadRange,
  checkReadRequest,
  checkSnapshotRange,
  chunkOf,
  type LogShape,
} from './log-checks.js';
import { SnapshotWriters, isNewerSnapshot, snapshotHeaderOf } from './snapshot-writer.js';
import { storedLogOf } from './stored-log.js';

function noop(): void {}

/** The durable contents of one simulated disk. */
export class MemoryDisk {
  hardState: HardState = { currentTerm: 0, votedFor: null };
  snapshot: Snapshot | null = null;
  /** Stored entries, contiguous. Invariant: entries[i].index === entries[0].index + i. */
  entries: LogEntry[] = [];
  /** Batches written since the disk was created, for tests and statistics. */
  syncCount = 0;

  firstIndex(): LogIndex {
    const first = this.entries[0];
    if (first !== undefined) return first.index;
    return this.lastIndex() + 1;
  }

  lastIndex(): LogIndex {
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined) return last.index;
    return this.snapshot?.lastIncludedIndex ?? 0;
  }

  lastTerm(): Term {
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined) return last.term;
    return this.snapshot?.lastIncludedTerm ?? 0;
  }

  /** The shape {@link checkBatch} checks the next batch against. */
  shape(): LogShape {
    return { firstIndex: this.firstIndex(), lastIndex: this.lastIndex(), lastTerm: this.lastTerm() };
  }

  /** Applies one batch; the caller has checked it. */
  apply(batch: PersistBatch): void {
    if (batch.snapshot !== null) {
      this.snapshot = batch.snapshot;
      // Entries the snapshot covers are kept only while the log continues past it.
      if (batch.snapshot.lastIncludedIndex >= this.lastIndex()) this.entries = [];
    }
    if (batch.truncateFrom !== null) this.truncate(batch.truncateFrom);
    for (const entry of batch.entries) this.entries.push(entry);
    if (batch.compactBefore !== null) this.compact(batch.compactBefore);
    if (batch.hardState !== null) this.hardState = batch.hardState;
    this.syncCount += 1;
  }

  private truncate(from: LogIndex): void {
    const first = this.firstIndex();
    if (from <= first) {
      this.entries = [];
    } else if (from <= this.lastIndex()) {
      this.entries.length = from - first;
    }
  }

  private compact(before: LogIndex): void {
    const first = this.firstIndex();
    if (before <= first) return;
    this.entries = this.entries.slice(Math.min(before - first, this.entries.length));
  }
}

/** Options of {@link MemoryPersistenceEngine}. */
export interface MemoryPersistenceOptions {
  /** Simulated sync latency, ms; 0 resolves writes in a microtask. Default 0. */
  readonly syncDelayMs?: number;
}

/** Dependencies of {@link MemoryPersistenceEngine}. */
export interface MemoryPersistenceDeps {
  /** The disk to use; a new one when absent. */
  readonly disk?: MemoryDisk;
  /** Timers for simulated sync latency; required when syncDelayMs > 0. */
  readonly timers?: Timers;
  /** Told of every write issued, before it is synced (the simulator crashes nodes in the middle of one). */
  readonly onWrite?: () => void;
}

/** PersistenceEngine over a {@link MemoryDisk}. */
export class MemoryPersistenceEngine implements PersistenceEngine {
  readonly disk: MemoryDisk;
  private readonly timers: Timers | null;
  private readonly syncDelayMs: number;
  private readonly writeIssued: () => void;
  private closed = false;
  /** Writes are applied in the order they were issued, one after the other. */
  private tail: Promise<void> = Promise.resolve();
  private readonly writers = new SnapshotWriters();
  /**
   * Writes issued and not yet on the disk, in issue order (`ifNewer`: a snapshot stored only when
   * newer than the disk's), so that a crash may keep a prefix of them (closeKeeping).
   */
  private readonly unsynced: { readonly batch: PersistBatch; readonly ifNewer: boolean }[] = [];

  constructor(deps: MemoryPersistenceDeps = {}, options: MemoryPersistenceOptions = {}) {
    this.disk = deps.disk ?? new MemoryDisk();
    this.timers = deps.timers ?? null;
    this.syncDelayMs = options.syncDelayMs ?? 0;
    this.writeIssued = deps.onWrite ?? noop;
    if (this.syncDelayMs > 0 && this.timers === null) {
      throw new PersistenceError('STORAGE_IO', 'memory engine: syncDelayMs needs timers');
    }
  }

  persist(batch: PersistBatch): Promise<void> {
    if (this.closed) return Promise.reject(new PersistenceError('STORAGE_CLOSED', 'memory engine is closed'));
    if (batch.snapshot !== null) this.writers.supersede();
    this.unsynced.push({ batch, ifNewer: false });
    const written = this.enqueue(() => this.apply(batch));
    this.writeIssued();
    return written;
  }

  /** Runs `run` after every write issued before it. */
  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const result = this.tail.then(run);
    this.tail = result.then(noop, noop);
    return result;
  }

  /** Applies `batch` once its sync is done. */
  private async apply(batch: PersistBatch): Promise<void> {
    const disk = this.disk;
    await this.sync();
    if (this.closed) throw new PersistenceError('STORAGE_CLOSED', 'memory engine closed before the write was synced');
    this.unsynced.shift();
    checkBatch(disk.shape(), batch);
    disk.apply(batch);
  }

  /** The chunks are kept in memory (this disk is memory) and committed as one image. */
  beginSnapshot(meta: SnapshotMeta, totalBytes?: number): SnapshotWriter {
    if (this.closed) throw new PersistenceError('STORAGE_CLOSED', 'memory engine is closed');
    return this.writers.beginGathering(meta, totalBytes, Number.MAX_SAFE_INTEGER, (snapshot, generation, rest) =>
      this.commitWhole(snapshot, generation, rest),
    );
  }

  /**
   * Stores a gathered snapshot, with `rest` in its batch, in write order unless superseded (by a
   * snapshot persisted since, or a newer one).
   */
  private commitWhole(snapshot: Snapshot, generation: number, rest: SnapshotBatchRest | undefined): Promise<boolean> {
    if (this.closed) return Promise.reject(new PersistenceError('STORAGE_CLOSED', 'memory engine is closed'));
    if (!this.writers.isCurrent(generation)) return Promise.resolve(false);
    const batch = { truncateFrom: null, entries: [], compactBefore: null, hardState: null, ...rest, snapshot };
    this.unsynced.push({ batch, ifNewer: true });
    return this.enqueue(async () => {
      // Decided in write order: a snapshot persisted before this one may be newer.
      if (!isNewerSnapshot(snapshot.lastIncludedIndex, this.disk.snapshot?.lastIncludedIndex ?? null)) {
        if (!this.closed) this.unsynced.shift();
        return false;
      }
      await this.apply(batch);
      return true;
    });
  }

  private sync(): Promise<void> {
    const timers = this.timers;
    if (this.syncDelayMs === 0 || timers === null) return Promise.resolve();
    return new Promise((resolve) => {
      timers.setTimer(this.syncDelayMs, resolve);
    });
  }

  async load(): Promise<PersistedState> {
    this.checkOpen();
    await Promise.resolve();
    const disk = this.disk;
    checkLoadedLog(disk.entries, disk.snapshot);
    return { hardState: disk.hardState, snapshot: disk.snapshot, entries: disk.entries.slice() };
  }

  async loadShape(): Promise<PersistedShape> {
    this.checkOpen();
    await Promise.resolve();
    const disk = this.disk;
    checkLoadedLog(disk.entries, disk.snapshot);
    return {
      hardState: disk.hardState,
      snapshot: disk.snapshot === null ? null : snapshotHeaderOf(disk.snapshot),
      log: storedLogOf(disk.entries, disk.snapshot, 'memory engine'),
    };
  }

  firstStoredIndex(): LogIndex | null {
    this.checkOpen();
    return this.disk.entries[0]?.index ?? null;
  }

  /** The durable entries from..to: the disk holds only what was synced (LogReader). */
  readEntries(from: LogIndex, to: LogIndex): LogEntry[] {
    this.checkOpen();
    checkReadRequest(from, to);
    const disk = this.disk;
    const first = disk.firstIndex();
    const start = Math.max(0, from - first);
    const entries = from < first ? [] : disk.entries.slice(start, start + to - from + 1);
    checkReadRange(entries, from, to, 'memory engine');
    return entries;
  }

  async readSnapshotChunk(index: LogIndex, offset: number, bytes: number): Promise<Uint8Array | null> {
    await Promise.resolve();
    return chunkOf(this.storedImage(index), offset, bytes);
  }

  storedImage(index: LogIndex): StoredImage | null {
    this.checkOpen();
    const snapshot = this.disk.snapshot;
    if (snapshot === null || snapshot.lastIncludedIndex !== index) return null;
    const data = snapshot.data;
    return {
      byteLength: data.byteLength,
      copyTo: (offset, target) => {
        checkSnapshotRange(data.byteLength, offset, target.byteLength);
        target.set(data.subarray(offset, offset + target.byteLength));
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.writers.supersede();
    await Promise.resolve();
  }

  /**
   * A crash that keeps the first `count` of the writes issued but not yet synced (they reached the
   * disk in issue order, their sync never returned), then closes like {@link close}: a disk that
   * lost only part of its unsynced tail. Returns how many writes were kept.
   */
  async closeKeeping(count: number): Promise<number> {
    this.closed = true;
    const disk = this.disk;
    let kept = 0;
    for (const { batch, ifNewer } of this.unsynced.splice(0)) {
      if (kept >= count) break;
      kept += 1;
      const snapshotIndex = batch.snapshot?.lastIncludedIndex ?? null;
      if (
        ifNewer &&
        snapshotIndex !== null &&
        !isNewerSnapshot(snapshotIndex, disk.snapshot?.lastIncludedIndex ?? null)
      )
        continue;
      checkBatch(disk.shape(), batch);
      disk.apply(batch);
    }
    await this.close();
    return kept;
  }

  /** Writes issued and not yet synced. */
  unsyncedCount(): number {
    return this.unsynced.length;
  }

  private checkOpen(): void {
    if (this.closed) throw new PersistenceError('STORAGE_CLOSED', 'memory engine is closed');
  }
}

/** A batch that changes nothing; spread it and set the parts you write. */
export const EMPTY_BATCH: PersistBatch = {
  snapshot: null,
  truncateFrom: null,
  entries: [],
  compactBefore: null,
  hardState: null,
};
