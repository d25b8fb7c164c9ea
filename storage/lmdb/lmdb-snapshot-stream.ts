/**
 * The snapshot writer of the LMDB-based engines (PersistenceEngine.beginSnapshot): it cuts the
 * image into records of SNAPSHOT_RECORD_BYTES as the chunks come and writes them into the free
 * slot (lmdb-snapshot-slots.ts) in transactions of SNAPSHOT_STREAM_TXN_BYTES of their own, outside
 * the engine's write queue, so log appends and hard-state writes never wait behind the image; the
 * commit is a write in the queue that only switches the metadata (slot, size, CRC-32s) to it, in
 * write order with the log's writes. A crash before the switch is durable leaves the stored
 * snapshot whole (its slot was never touched) and the records in the free slot are deleted when
 * the engine opens; an abort, a superseded writer or a refused commit deletes them at once.
 *
 * Memory: at most the record being filled, the records of the transaction being gathered and
 * those of STREAM_TXNS_IN_FLIGHT_MAX transactions under way, instead of the whole image. The chunks
 * are copied into those records (a chunk is lent until write settles, SnapshotWriter.write), and a
 * record is used again once its transaction ended: a writer allocates about 13 records (3.25 MiB)
 * whatever the image's size, where taking records as views of the chunks made the whole image's
 * bytes in buffers that die old (issue 16: followers' full collections under 64 x 4 KiB).
 */
import { assert } from '../../contracts/assert.js';
import { PersistenceError } from '../../contracts/errors.js';
import type { LogIndex, SnapshotMeta } from '../../contracts/log.js';
import type { PersistBatch, SnapshotBatchRest, SnapshotWriter } from '../../contracts/persistence.js';
import { crc32 } from '../crc32.js';
import { acceptsSnapshot, snapshotMetaOf } from '../snapshot-writer.js';
import type { OpenWriter, SnapshotWriters } from '../snapshot-writer.js';
import type { SnapshotSlot } from './lmdb-records.js';
import { SNAPSHOT_RECORD_BYTES, snapshotRecordKey } from './lmdb-snapshot.js';
import type { SnapshotSlots } from './lmdb-snapshot-slots.js';
import type { SnapshotPlacement, StreamedImage } from './lmdb-write-plan.js';

/**
 * Bytes of records written in one transaction: 1 MiB, about 3 ms of LMDB's writer on the machine
 * measured, so the engine's own commits (which share LMDB's one writer) wait at most that long.
 */
export const SNAPSHOT_STREAM_TXN_BYTES = 4 * SNAPSHOT_RECORD_BYTES;
/** Transactions of a writer under way before its write() waits for the oldest to end. */
const STREAM_TXNS_IN_FLIGHT_MAX = 2;

const EMPTY = new Uint8Array(0);

/** How a {@link StreamingSnapshotWriter} writes and commits. */
export interface StreamHost {
  readonly slots: SnapshotSlots;
  /** The largest image accepted, bytes. */
  readonly snapshotBytesMax: number;
  /**
   * Queues the switch of the stored snapshot to `image`, streamed into `slot`, unless the writer of
   * `generation` is superseded or the stored snapshot is as new (null, nothing queued), in one batch
   * with `rest` when given. Synchronous, so nothing is accepted between the check and the queueing.
   */
  switchTo(
    image: StreamedImage,
    slot: SnapshotSlot,
    generation: number,
    rest: SnapshotBatchRest | undefined,
  ): Promise<void> | null;
  /** The writer ended. */
  ended(writer: OpenWriter): void;
}

/** What {@link beginStreaming} needs of an engine. */
export interface StreamingEngine {
  readonly writers: SnapshotWriters;
  readonly slots: SnapshotSlots;
  readonly snapshotBytesMax: number;
  /** Throws STORAGE_CLOSED once the engine is closed. */
  checkOpen(): void;
  /** The stored snapshot's index after every accepted write; null when none. */
  storedIndex(): LogIndex | null;
  /** Checks and queues `batch` with its snapshot placed as `placement` says. */
  write(batch: PersistBatch, placement: SnapshotPlacement): Promise<void>;
}

/** beginSnapshot of the LMDB-based engines: a {@link StreamingSnapshotWriter} of `meta` into the free slot. */
export function beginStreaming(engine: StreamingEngine, meta: SnapshotMeta, totalBytes?: number): SnapshotWriter {
  engine.checkOpen();
  const snapshot = { ...snapshotMetaOf(meta), data: EMPTY };
  const host: StreamHost = {
    slots: engine.slots,
    snapshotBytesMax: engine.snapshotBytesMax,
    ended: (writer) => engine.writers.ended(writer),
    switchTo: (image, slot, generation, rest) => {
      engine.checkOpen();
      if (!acceptsSnapshot(engine.writers, generation, meta.lastIncludedIndex, engine.storedIndex())) return null;
      const batch = { truncateFrom: null, entries: [], compactBefore: null, hardState: null, ...rest, snapshot };
      return engine.write(batch, { slot, image });
    },
  };
  return engine.writers.beginWith((generation) => new StreamingSnapshotWriter(generation, host, totalBytes));
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new PersistenceError('STORAGE_IO', String(error));
}

/** A writer that streams the image's records into the free slot; see the module comment. */
export class StreamingSnapshotWriter implements SnapshotWriter, OpenWriter {
  private state: 'open' | 'committing' | 'ended' = 'open';
  private readonly slot: SnapshotSlot;
  /** The record being filled, and its bytes so far. */
  private partial: Uint8Array | null = null;
  private partialBytes = 0;
  /** Records whose transaction ended, to be filled again. */
  private spare: Uint8Array[] = [];
  /** Whole records not yet in a transaction. */
  private ready: Uint8Array[] = [];
  private readyBytes = 0;
  /** Invariant: records handed to transactions; the number of the first record in `ready`. */
  private handed = 0;
  /** CRC-32 of every record cut so far, in order. */
  private crcs: number[] = [];
  private imageCrc = 0;
  private bytes = 0;
  /** The transactions under way, each settling without rejecting (a failure goes to `failure`). */
  private inflight: Promise<void>[] = [];
  private failure: Error | null = null;

  constructor(
    private readonly generation: number,
    private readonly host: StreamHost,
    private readonly totalBytes?: number,
  ) {
    if (totalBytes !== undefined) {
      assert(Number.isSafeInteger(totalBytes) && totalBytes >= 0, 'a snapshot size is a byte count');
      this.checkLimit(totalBytes);
    }
    this.slot = host.slots.free();
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open') return;
    this.checkFailure();
    this.checkLimit(this.bytes + chunk.byteLength);
    if (this.totalBytes !== undefined)
      assert(this.bytes + chunk.byteLength <= this.totalBytes, 'a snapshot is not larger than announced');
    this.bytes += chunk.byteLength;
    this.cut(chunk);
    if (this.readyBytes >= SNAPSHOT_STREAM_TXN_BYTES) this.flush();
    while (this.inflight.length >= STREAM_TXNS_IN_FLIGHT_MAX) await this.inflight.shift();
    this.checkFailure();
  }

  async commit(rest?: SnapshotBatchRest): Promise<boolean> {
    if (this.state !== 'open') return false;
    this.state = 'committing';
    let written: Promise<void> | null;
    try {
      if (this.totalBytes !== undefined) assert(this.bytes === this.totalBytes, 'a snapshot is as large as announced');
      if (this.partial !== null) this.take(this.partial.subarray(0, this.partialBytes));
      this.partial = null;
      this.flush();
      await Promise.all(this.inflight.splice(0));
      this.checkFailure();
      // Aborted (superseded) while the last records were written: the abort deleted them.
      if (this.isEnded()) return false;
      const image = { dataBytes: this.bytes, dataCrc32: this.imageCrc, crcs: this.crcTable() };
      written = this.host.switchTo(image, this.slot, this.generation, rest);
    } catch (error) {
      if (!this.isEnded()) this.end(true);
      throw error;
    }
    this.end(written === null);
    if (written === null) return false;
    await written;
    return true;
  }

  /** Drops the records written (in lane order); a no-op once the switch is queued. */
  abort(): Promise<void> {
    if (this.state !== 'ended') this.end(true);
    return Promise.resolve();
  }

  private isEnded(): boolean {
    return this.state === 'ended';
  }

  private end(drop: boolean): void {
    this.state = 'ended';
    this.ready = [];
    this.spare = [];
    this.partial = null;
    this.host.ended(this);
    if (drop) this.host.slots.drop(this.slot);
  }

  /** Copies `chunk` into records (a spare one, or a new one), taking each once it is full. */
  private cut(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.byteLength) {
      this.partial ??= this.spare.pop() ?? new Uint8Array(SNAPSHOT_RECORD_BYTES);
      const take = Math.min(SNAPSHOT_RECORD_BYTES - this.partialBytes, chunk.byteLength - at);
      this.partial.set(chunk.subarray(at, at + take), this.partialBytes);
      this.partialBytes += take;
      at += take;
      if (this.partialBytes === SNAPSHOT_RECORD_BYTES) {
        this.take(this.partial);
        this.partial = null;
        this.partialBytes = 0;
      }
    }
  }

  private take(record: Uint8Array): void {
    this.crcs.push(crc32(record));
    this.imageCrc = crc32(record, this.imageCrc);
    this.ready.push(record);
    this.readyBytes += record.byteLength;
  }

  /** Hands the ready records to a transaction of their own in the slots' lane. */
  private flush(): void {
    if (this.ready.length === 0) return;
    const records = this.ready;
    const first = this.handed;
    const slot = this.slot;
    const bytes = this.readyBytes;
    this.ready = [];
    this.readyBytes = 0;
    this.handed += records.length;
    const done = this.host.slots.run((meta) => {
      for (const [i, record] of records.entries()) meta.putSync(snapshotRecordKey(first + i, slot), record);
    }, bytes);
    this.inflight.push(
      done.then(
        () => this.spareAgain(records),
        (error: unknown) => {
          this.failure ??= toError(error);
        },
      ),
    );
  }

  /** Keeps the whole records of an ended transaction for the chunks to come (putSync copied them). */
  private spareAgain(records: readonly Uint8Array[]): void {
    if (this.isEnded()) return;
    for (const record of records) if (record.byteLength === SNAPSHOT_RECORD_BYTES) this.spare.push(record);
  }

  private crcTable(): Buffer {
    assert(this.crcs.length === this.handed, 'every record is handed to a transaction');
    const table = Buffer.allocUnsafe(this.crcs.length * 4);
    for (const [n, crc] of this.crcs.entries()) table.writeUInt32BE(crc, n * 4);
    return table;
  }

  private checkFailure(): void {
    if (this.failure !== null) throw this.failure;
  }

  private checkLimit(bytes: number): void {
    if (bytes <= this.host.snapshotBytesMax) return;
    throw new PersistenceError(
      'STORAGE_FULL',
      `snapshot of ${bytes} bytes or more is beyond snapshotBytesMax ${this.host.snapshotBytesMax}`,
    );
  }
}
