/**
 * What every engine shares of PersistenceEngine.beginSnapshot (contracts/persistence.ts): at most
 * one writer open, superseded by a snapshot persisted meanwhile, and never committing an image
 * older than the one stored. {@link SnapshotWriters} keeps that bookkeeping for an engine;
 * {@link GatheringSnapshotWriter} keeps the chunks and commits them as one image (the memory
 * engine's writer, whose disk is memory anyway), begun through {@link SnapshotWriters.beginGathering}.
 * The LMDB and WAL engines stream the records instead (lmdb/lmdb-snapshot-stream.ts), begun
 * through {@link SnapshotWriters.beginWith} and checked through {@link acceptsSnapshot}.
 */
import { assert } from '../contracts/assert.js';
import { PersistenceError } from '../contracts/errors.js';
import type { LogIndex, Snapshot, SnapshotHeader, SnapshotMeta } from '../contracts/log.js';
import type { SnapshotBatchRest, SnapshotWriter } from '../contracts/persistence.js';

/** A writer an engine opened, as {@link SnapshotWriters} sees it. */
export interface OpenWriter {
  /** Drops what was written (the engine superseded or closed it). */
  abort(): Promise<void>;
}

/** The bookkeeping of an engine's snapshot writers; see the module comment. */
export class SnapshotWriters {
  /** Counts snapshots persisted and writers begun: a writer whose number is no longer current is superseded. */
  private generation = 0;
  private open: OpenWriter | null = null;

  /** A writer begins: the open one, if any, is aborted. Returns the new writer's generation. */
  begin(): number {
    this.supersede();
    this.generation += 1;
    return this.generation;
  }

  /** Records the writer of generation `generation` once it is made. */
  opened(writer: OpenWriter, generation: number): void {
    assert(generation === this.generation, 'the writer opened is the one begun last');
    this.open = writer;
  }

  /** A snapshot is persisted (or the engine closes): the open writer is superseded and aborted. */
  supersede(): void {
    this.generation += 1;
    const open = this.open;
    this.open = null;
    if (open !== null) void open.abort();
  }

  /** True while no snapshot was persisted and no writer begun since the writer of `generation`. */
  isCurrent(generation: number): boolean {
    return generation === this.generation;
  }

  /** True while a writer is open: begun, and not yet ended or superseded. */
  hasOpen(): boolean {
    return this.open !== null;
  }

  /** The writer of `generation` ended (committed or aborted). */
  ended(writer: OpenWriter): void {
    if (this.open === writer) this.open = null;
  }

  /** Begins the writer `make` makes for its generation (beginSnapshot): the open writer, if any, is aborted. */
  beginWith<W extends OpenWriter>(make: (generation: number) => W): W {
    const generation = this.begin();
    const writer = make(generation);
    this.opened(writer, generation);
    return writer;
  }

  /**
   * Begins a {@link GatheringSnapshotWriter} (an engine's beginSnapshot): the open writer, if any,
   * is aborted; `commitWhole` stores the gathered image unless superseded.
   */
  beginGathering(
    meta: SnapshotMeta,
    totalBytes: number | undefined,
    snapshotBytesMax: number,
    commitWhole: GatheringHost['commitWhole'],
  ): SnapshotWriter {
    const host: GatheringHost = { commitWhole, ended: (ended) => this.ended(ended), snapshotBytesMax };
    return this.beginWith((generation) => new GatheringSnapshotWriter(meta, generation, host, totalBytes));
  }
}

/**
 * True when the writer of `generation`, of a snapshot at `index`, may commit now: it is not
 * superseded (`writers`) and the stored snapshot (`storedIndex`, after the writes accepted so far,
 * which are in write order) is older.
 */
export function acceptsSnapshot(
  writers: SnapshotWriters,
  generation: number,
  index: LogIndex,
  storedIndex: LogIndex | null,
): boolean {
  return writers.isCurrent(generation) && isNewerSnapshot(index, storedIndex);
}

/** How a {@link GatheringSnapshotWriter} commits and what it may hold. */
export interface GatheringHost {
  /** Stores `snapshot` as persist({ snapshot, ...rest }) would, unless superseded (then resolves false). */
  commitWhole(snapshot: Snapshot, generation: number, rest: SnapshotBatchRest | undefined): Promise<boolean>;
  /** The writer ended. */
  ended(writer: OpenWriter): void;
  /** The largest image accepted, bytes. */
  readonly snapshotBytesMax: number;
}

const EMPTY = new Uint8Array(0);

/**
 * A writer that commits the image as one persist({ snapshot }): the memory engine's. Given the image's
 * size it copies each chunk into one buffer of that size as it comes (the chunk is then let go);
 * otherwise it keeps the chunks and joins them at the commit.
 */
export class GatheringSnapshotWriter implements SnapshotWriter, OpenWriter {
  private chunks: Uint8Array[] = [];
  private readonly data: Uint8Array | null;
  private bytes = 0;
  private state: 'open' | 'committing' | 'ended' = 'open';

  constructor(
    private readonly meta: SnapshotMeta,
    private readonly generation: number,
    private readonly host: GatheringHost,
    totalBytes?: number,
  ) {
    if (totalBytes !== undefined) {
      assert(Number.isSafeInteger(totalBytes) && totalBytes >= 0, 'a snapshot size is a byte count');
      this.checkLimit(totalBytes);
    }
    this.data = totalBytes === undefined ? null : new Uint8Array(totalBytes);
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open') return Promise.resolve();
    try {
      this.checkLimit(this.bytes + chunk.byteLength);
      // The chunk is lent until write settles (SnapshotWriter.write): what is kept is a copy.
      if (this.data === null) this.chunks.push(chunk.slice());
      else {
        assert(this.bytes + chunk.byteLength <= this.data.byteLength, 'a snapshot is not larger than announced');
        this.data.set(chunk, this.bytes);
      }
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.bytes += chunk.byteLength;
    return Promise.resolve();
  }

  async commit(rest?: SnapshotBatchRest): Promise<boolean> {
    if (this.state !== 'open') return false;
    this.state = 'committing';
    try {
      const data = this.joined();
      return await this.host.commitWhole({ ...snapshotMetaOf(this.meta), data }, this.generation, rest);
    } finally {
      this.state = 'ended';
      this.host.ended(this);
    }
  }

  abort(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'ended';
      this.chunks = [];
      this.host.ended(this);
    }
    return Promise.resolve();
  }

  private checkLimit(bytes: number): void {
    if (bytes <= this.host.snapshotBytesMax) return;
    throw new PersistenceError(
      'STORAGE_FULL',
      `snapshot of ${bytes} bytes or more is beyond snapshotBytesMax ${this.host.snapshotBytesMax}`,
    );
  }

  /** The image: the one buffer, whole, or the chunks joined (each let go as soon as it is copied). */
  private joined(): Uint8Array {
    if (this.data !== null) {
      assert(this.bytes === this.data.byteLength, 'a snapshot is as large as announced');
      return this.data;
    }
    const data = new Uint8Array(this.bytes);
    const chunks = this.chunks;
    this.chunks = [];
    let at = 0;
    for (let i = 0; i < chunks.length; i += 1) {
      const chunk = chunks[i] ?? EMPTY;
      chunks[i] = EMPTY;
      data.set(chunk, at);
      at += chunk.byteLength;
    }
    return data;
  }
}

/** The metadata fields of `meta` alone (a caller may pass a wider object). */
export function snapshotMetaOf(meta: SnapshotMeta): SnapshotMeta {
  return {
    lastIncludedIndex: meta.lastIncludedIndex,
    lastIncludedTerm: meta.lastIncludedTerm,
    configuration: meta.configuration,
  };
}

/** The header of `snapshot`: its metadata and its image's size (PersistenceEngine.loadShape). */
export function snapshotHeaderOf(snapshot: Snapshot): SnapshotHeader {
  return { ...snapshotMetaOf(snapshot), dataBytes: snapshot.data.byteLength };
}

/** True when an image at `index` may replace the stored snapshot at `storedIndex` (null: none). */
export function isNewerSnapshot(index: LogIndex, storedIndex: LogIndex | null): boolean {
  return storedIndex === null || index > storedIndex;
}
