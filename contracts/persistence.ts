/**
 * The PersistenceEngine port (reference concept `persistence_engine`): the durable storage of
 * Raft state, narrowed to load, persist and close. Implemented by storage/.
 */
import type { HardState, LogEntry, LogIndex, Snapshot, SnapshotHeader, SnapshotMeta, Term } from './log.js';

/**
 * One atomic, durable write: what the runtime persists for one Ready. The engine applies the
 * parts in this order — snapshot, truncateFrom, entries, compactBefore, hardState — in one
 * transaction with one sync, and the promise resolves only when all of it is on disk.
 */
export interface PersistBatch {
  /** Replaces the stored snapshot. */
  readonly snapshot: Snapshot | null;
  /** Deletes every entry with index >= truncateFrom. */
  readonly truncateFrom: LogIndex | null;
  /** Appends these entries; they must follow the last stored entry contiguously. */
  readonly entries: readonly LogEntry[];
  /** Deletes every entry with index < compactBefore (log compaction after a snapshot). */
  readonly compactBefore: LogIndex | null;
  /** Replaces term and vote. */
  readonly hardState: HardState | null;
}

/** How the caller wants one write done; every field is a hint an engine may ignore. */
export interface PersistOptions {
  /**
   * The caller has other work to do while the write is under way (send AppendEntries, apply
   * entries synced earlier): start the write at once, and do not hold the event loop for its
   * sync. Default false: the engine picks (the WAL engine may sync a lone write inline).
   */
  readonly overlap?: boolean;
}

/**
 * A snapshot image on its way to storage a chunk at a time (issue 17: no whole image in memory),
 * begun with {@link PersistenceEngine.beginSnapshot}. The caller writes the image's bytes in order,
 * awaiting each write, then commits or aborts. Nothing written becomes visible to `load` or
 * `readSnapshotChunk` before `commit` resolves true; a crash or an abort at any point leaves the
 * stored snapshot as it was.
 */
export interface SnapshotWriter {
  /**
   * Appends the next bytes of the image; resolves when the engine can take more. The chunk is lent
   * until the promise settles: the engine copies what it keeps of it, so that the caller may then
   * reuse its bytes for the next chunk (the snapshot job encodes every chunk into one buffer, instead
   * of allocating the whole image a chunk at a time). Rejects with PersistenceError (fatal, as
   * for persist), STORAGE_FULL when the image grows past the engine's snapshot limit.
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Makes the image written, with the metadata given to beginSnapshot, the stored snapshot, as
   * `persist({ snapshot, ...rest })` would at this point of the write order: after every write
   * accepted before the call, before every one accepted after it, atomically and durably, in one
   * batch with `rest` when given (a snapshot received from the leader is stored in one batch with
   * the truncation, entries, compaction and hard state of its Ready). Resolves false, changing
   * nothing (`rest` included), when the snapshot is superseded: a snapshot was persisted since
   * beginSnapshot, or the stored one is at or past this one's index, so that an older snapshot
   * never replaces a newer one. Rejects with PersistenceError (fatal).
   */
  commit(rest?: SnapshotBatchRest): Promise<boolean>;
  /** Drops what was written; the stored snapshot stays. Idempotent, and a no-op after commit. */
  abort(): Promise<void>;
}

/** What a {@link PersistBatch} holds besides its snapshot: stored with a snapshot writer's image by its commit. */
export type SnapshotBatchRest = Omit<PersistBatch, 'snapshot'>;

/**
 * The stored snapshot's image, read a range at a time without holding it whole (issue 17: a
 * follower restores a leader's snapshot from disk, never from a copy of the whole image). Reads
 * are synchronous and see the snapshot stored when {@link PersistenceEngine.storedImage} was
 * called, until the caller next yields to the event loop; it must not be kept past that.
 */
export interface StoredImage {
  /** The size of the image, bytes. */
  readonly byteLength: number;
  /**
   * Copies the image's bytes from `offset` on into the whole of `target` (the range must lie
   * within the image). Throws PersistenceError: STORAGE_CORRUPT when what it read fails its
   * checksum, STORAGE_IO when the store cannot be read.
   */
  copyTo(offset: number, target: Uint8Array): void;
}

/** Everything a node restores from disk when it starts. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** The stored entries, contiguous, after the snapshot (if any). */
  readonly entries: readonly LogEntry[];
}

/**
 * The stored log without its payloads (issue 17: a restart reads no entry's command it does not
 * need): the term and command size of every stored entry, and the configuration entries whole
 * (Raft §6: a node uses the latest configuration in its log, so the core needs their payloads at
 * once). The core reads the other payloads back through {@link LogReader} when it applies or
 * sends them, as etcd-io/raft reads everything below `unstable` through `Storage.Entries`.
 */
export interface StoredLog {
  /** Index of the first stored entry; when none is stored, the snapshot's last index + 1 (or 1). */
  readonly firstIndex: LogIndex;
  /**
   * Terms of the stored entries as runs: run k covers termRuns[k].from up to termRuns[k + 1].from - 1
   * (the last run up to the last entry). termRuns[0].from === firstIndex; froms increase, terms never
   * decrease. Empty exactly when no entry is stored.
   */
  readonly termRuns: readonly { readonly from: LogIndex; readonly term: Term }[];
  /** Command bytes of each stored entry, firstIndex first: its length is the number of entries stored. */
  readonly commandBytes: Uint32Array;
  /** The stored entries of type 'config', whole, in index order. */
  readonly configurations: readonly LogEntry[];
}

/**
 * What a node restores from disk when it starts, with the log as a {@link StoredLog} and the
 * snapshot without its image, which the node reads in place (storedImage; issue 17).
 */
export interface PersistedShape {
  readonly hardState: HardState;
  readonly snapshot: SnapshotHeader | null;
  readonly log: StoredLog;
}

/**
 * Synchronous reads of the durable log (etcd-io/raft's `Storage.Entries`): the core keeps only a
 * window of entry payloads in memory (agent/core/log.ts) and reads older ones, for a follower
 * behind that window, through this. Part of the core's injected world: deterministic, no I/O
 * that can wait.
 */
export interface LogReader {
  /**
   * The stored entries `from`..`to` (both included, from <= to), in index order: exactly
   * `to - from + 1` of them, which the caller must not change (storage may hold the same objects).
   * Serves entries whose persist() resolved and that no compaction deleted, as `load` would see
   * them. Throws PersistenceError: STORAGE_CORRUPT when a record fails its check or an entry of
   * the range is not stored, STORAGE_CLOSED after close, STORAGE_IO when the store cannot be read.
   * Never returns a partial range.
   */
  readEntries(from: LogIndex, to: LogIndex): LogEntry[];
  /**
   * The index of the first durable stored entry, or null when none is stored. A persisted snapshot
   * at or past the last stored entry deletes every entry (PersistBatch), those the core meant to
   * keep behind it included, so the runtime compacts the core no lower than this after a snapshot.
   * Throws PersistenceError as readEntries does.
   */
  firstStoredIndex(): LogIndex | null;
}

/**
 * Durable storage of Raft state (reference `persistence_engine`), narrowed to what the runtime
 * uses: one `load` when the node starts, one `persist` per Ready (and one `beginSnapshot` per snapshot taken), one
 * `close` when it stops. A write resolves only once it is durable; any failure rejects with
 * `PersistenceError` (or `InvariantError` for a batch that would break the log), which the node
 * treats as fatal.
 *
 * The reference's per-field methods map onto these two as follows; a run of them becomes one
 * batch, written atomically with one sync instead of one sync each:
 *
 * - `save_current_term(t)` and `save_voted_for(n)`: `persist({ hardState })` with the whole
 *   hard state, `{ currentTerm: t, votedFor }` or `{ currentTerm, votedFor: n }`.
 * - `append_log_entry(e)`: `persist({ entries: [e] })`; a batch carries any number of entries.
 * - `truncate_log(i)`: `persist({ truncateFrom: i })`, i at or after the first stored index.
 * - `save_snapshot(s)`: `persist({ snapshot: s })`.
 * - `delete_log_entries_before(i)`: `persist({ compactBefore: i })`.
 * - `load_current_term()`, `load_voted_for()`: `load().hardState`.
 * - `load_snapshot()`: `load().snapshot`.
 * - `get_log_entry(i)`, `get_log_entries(a, b)`, `get_last_log_index()`: `load().entries`,
 *   the stored log after the snapshot (the last index is the snapshot's when it is empty).
 *
 * The hard state is one record, so a new term or vote is written together with the other
 * half, which the caller holds. While it runs an engine serves two reads, so that nothing keeps
 * in memory what is on disk (issue 17): durable log entries the core dropped from its window
 * (`readEntries`, synchronous, see {@link LogReader}), and the stored snapshot's image in chunks
 * (`readSnapshotChunk`). The test harness rebuilds the per-field methods over this port
 * (test/storage/reference-fields.ts).
 */
export interface PersistenceEngine extends LogReader {
  /** Applies one batch atomically with one sync; see {@link PersistBatch} and {@link PersistOptions}. */
  persist(batch: PersistBatch, options?: PersistOptions): Promise<void>;
  /** Loads everything a restarting node needs, checking it for consistency. */
  load(): Promise<PersistedState>;
  /**
   * What `load` gives, with the log as its shape (terms, sizes, configuration entries) and the
   * snapshot's header without its image: a node starts from this and reads the payloads of its
   * entries back with `readEntries` as it needs them, and the image with `storedImage`. Sees
   * durable state only and checks it as `load` does (STORAGE_CORRUPT).
   */
  loadShape(): Promise<PersistedShape>;
  /**
   * Reads `bytes` bytes at `offset` of the image of the stored snapshot, which must be the one
   * whose last index is `index` (what InstallSnapshot sends, chunk by chunk). Sees durable state
   * only, like `load`. Resolves with a copy that the caller owns, exactly `bytes` long, or with
   * null when the stored snapshot is not the one at `index` (none is stored, or a newer one
   * replaced it). Rejects with InvariantError when the range does not lie within the image, and
   * with PersistenceError: STORAGE_CORRUPT when what it read fails its checksum, STORAGE_CLOSED.
   */
  readSnapshotChunk(index: LogIndex, offset: number, bytes: number): Promise<Uint8Array | null>;
  /**
   * The image of the stored snapshot, which must be the one whose last index is `index`, for
   * synchronous reads in place (see {@link StoredImage}); null when the stored snapshot is not that
   * one. Sees durable state only. Throws PersistenceError STORAGE_CLOSED after close. An engine that
   * checked the image whole when it opened may skip checking it again while it accepted no write
   * since (a restart restores it at once); readSnapshotChunk always checks what it reads.
   */
  storedImage(index: LogIndex): StoredImage | null;
  /**
   * Begins writing a snapshot whose metadata is `meta` a chunk at a time (see {@link SnapshotWriter}),
   * while `persist` goes on. `totalBytes`, when given, is the image's exact size (an engine may
   * write into one buffer of that size; a commit of another size rejects with InvariantError). At
   * most one is open at a time: beginning another aborts the open one. A `persist` with a snapshot
   * supersedes the open one too (its commit then resolves false).
   */
  beginSnapshot(meta: SnapshotMeta, totalBytes?: number): SnapshotWriter;
  /** Refuses every write not yet durable with STORAGE_CLOSED and releases the store. Idempotent. */
  close(): Promise<void>;
}
