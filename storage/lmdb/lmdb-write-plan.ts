/**
 * The write plan of the LMDB engine with its records encoded, and how each step is applied
 * inside the commit's transaction.
 */
import { InvariantError } from '../../contracts/errors.js';
import type { LogEntry, LogIndex, Snapshot } from '../../contracts/log.js';
import type { LmdbHandles } from './lmdb-open.js';
import {
  META_KEYS,
  encodeEntry,
  encodeEntryInto,
  encodeHardState,
  entryRecordBytes,
  encodeSnapshotMeta,
  entryKey,
  entryRecordHeader,
  parseEntryKey,
  writeEntryKey,
} from './lmdb-records.js';
import type { SnapshotSlot } from './lmdb-records.js';
import type { WriteStep } from '../log-projection.js';
import { crc32 } from '../crc32.js';
import { deleteShapes } from './lmdb-log-shape.js';
import type { ShapeAppends } from './lmdb-shape-appends.js';
import {
  SNAPSHOT_CRCS_KEY,
  SNAPSHOT_RECORD_BYTES,
  otherSlot,
  snapshotRecordKey,
  snapshotRecords,
  trimSlot,
} from './lmdb-snapshot.js';

/** An image whose records a snapshot writer streamed into its slot before the commit. */
export interface StreamedImage {
  readonly dataBytes: number;
  readonly dataCrc32: number;
  /** The records' CRC-32s, 4 bytes big-endian each. */
  readonly crcs: Buffer;
}

/**
 * Where the snapshot of a write goes: into `slot`, the one the stored snapshot does not use,
 * with its image written in the same transaction (`image` null: the batch's own image) or
 * streamed there beforehand.
 */
export interface SnapshotPlacement {
  readonly slot: SnapshotSlot;
  readonly image: StreamedImage | null;
}

/**
 * One step of a write plan with its records encoded, ready for the commit's transaction. Encoding happens
 * when the write is queued, while the previous commit syncs, so that the transaction (during
 * which LMDB's writer waits for the main thread) does no more than put and delete.
 */
export type EncodedStep =
  | { readonly kind: 'put-meta'; readonly key: string; readonly value: Uint8Array }
  /** Deletes the records of slot `slot` from record `from` on, and the one-record image of the earlier layout. */
  | { readonly kind: 'trim-snapshot'; readonly slot: SnapshotSlot; readonly from: number }
  | { readonly kind: 'delete'; readonly from: LogIndex; readonly to: LogIndex }
  /**
   * Puts `values`, the records of the entries `firstIndex`, `firstIndex + 1`, ...; their keys are
   * written at the put into one buffer (lmdb-js copies a key before the put returns).
   */
  | { readonly kind: 'append'; readonly firstIndex: LogIndex; readonly values: readonly Buffer[] }
  /**
   * Puts the records of `entries` (contiguous), each encoded at its put into one scratch buffer
   * (lmdb-js copies a value before putSync returns): see {@link EncodeOptions.entriesAtPut}.
   */
  | { readonly kind: 'append-at-put'; readonly entries: readonly LogEntry[] };

/** How {@link encodeSteps} encodes. */
export interface EncodeOptions {
  /**
   * Encode entry records at their put, in the transaction, rather than now. For the write-ahead
   * log's checkpoint, whose transactions take up to walCheckpointTxnBytesMax of entries (1 MiB) and
   * commit asynchronously: records encoded ahead were a second copy of every entry that lived across
   * the commit, long enough for V8 to count it toward its next full collection (issue 16, 64 x 4 KiB).
   * The checkpoint is LMDB's only writer then, so a longer transaction delays no one.
   */
  readonly entriesAtPut?: boolean;
}

/**
 * Entry records up to this size are encoded at their put into the shared scratch; larger ones get
 * their own. Above 64 KiB, so that the record of a 64 KiB value (the value and the command's
 * fields around it) reuses the scratch too: at 64 KiB it got a new buffer at every checkpointed
 * entry on every member, whose bytes counted toward V8's next full collection (issue 16, 64 KiB shapes).
 */
export const PUT_SCRATCH_BYTES_MAX = 256 * 1024;
/** The scratch that append-at-put steps encode into (grown up to PUT_SCRATCH_BYTES_MAX); puts are synchronous. */
let putScratch = Buffer.allocUnsafe(4096);

/** A buffer of at least `bytes` for the record at hand: the shared scratch, or its own past the scratch bound. */
function scratchFor(bytes: number): Buffer {
  if (bytes > PUT_SCRATCH_BYTES_MAX) return Buffer.allocUnsafe(bytes);
  if (putScratch.length < bytes) putScratch = Buffer.allocUnsafe(Math.min(PUT_SCRATCH_BYTES_MAX, 2 * bytes));
  return putScratch;
}

/** The key of the put at hand of an append step (see EncodedStep); puts are synchronous. */
const appendKey = Buffer.alloc(8);
/** lmdb-js's put options of an append (MDB_APPEND), shared by every put. */
const APPEND = { append: true } as const;

/**
 * The append step of `entries` (contiguous, as every write plan's): their records, each checksummed
 * from the entry itself (lmdb-records.ts), and the first index.
 */
export function encodeAppend(entries: readonly LogEntry[]): EncodedStep {
  const first = entries[0];
  if (first === undefined) throw new InvariantError('an append step has entries');
  const values: Buffer[] = new Array<Buffer>(entries.length);
  for (let i = 0; i < entries.length; i += 1) {
    const entry = entries[i];
    if (entry === undefined || entry.index !== first.index + i)
      throw new InvariantError(`append step entry ${i} is not at index ${first.index + i}`);
    values[i] = encodeEntry(entry);
  }
  return { kind: 'append', firstIndex: first.index, values };
}

/**
 * Encodes the records of a write plan (keys, entry records, JSON records); a plan with a snapshot
 * needs its `placement`.
 */
export function encodeSteps(
  steps: readonly WriteStep[],
  placement: SnapshotPlacement | null = null,
  options: EncodeOptions = {},
): EncodedStep[] {
  const encoded: EncodedStep[] = [];
  for (const step of steps) {
    switch (step.kind) {
      case 'snapshot':
        if (placement === null) throw new InvariantError('a snapshot is written with its placement');
        encodeSnapshot(step.snapshot, placement, encoded);
        break;
      case 'delete':
        encoded.push(step);
        break;
      case 'append':
        encoded.push(
          options.entriesAtPut === true ? { kind: 'append-at-put', entries: step.entries } : encodeAppend(step.entries),
        );
        break;
      case 'hardState':
        encoded.push({ kind: 'put-meta', key: META_KEYS.hardState, value: encodeHardState(step.hardState) });
        break;
      default:
        throw new InvariantError(`unknown write step ${JSON.stringify(step)}`);
    }
  }
  return encoded;
}

/**
 * Appends the steps that store `snapshot` in `placement.slot`: its image in records (lmdb-snapshot.ts),
 * unless they were streamed there, its metadata and their checksums; then the other slot's records go.
 */
function encodeSnapshot(snapshot: Snapshot, placement: SnapshotPlacement, encoded: EncodedStep[]): void {
  const slot = placement.slot;
  let image = placement.image;
  if (image === null) {
    const { records, crcs } = snapshotRecords(snapshot.data);
    image = { dataBytes: snapshot.data.byteLength, dataCrc32: crc32(snapshot.data), crcs };
    for (const [n, record] of records.entries())
      encoded.push({ kind: 'put-meta', key: snapshotRecordKey(n, slot), value: record });
  }
  const value = encodeSnapshotMeta(snapshot, { ...image, dataSlot: slot }, SNAPSHOT_RECORD_BYTES);
  encoded.push({ kind: 'put-meta', key: META_KEYS.snapshotMeta, value });
  encoded.push({ kind: 'put-meta', key: SNAPSHOT_CRCS_KEY, value: image.crcs });
  encoded.push({ kind: 'trim-snapshot', slot, from: image.crcs.byteLength / 4 });
  encoded.push({ kind: 'trim-snapshot', slot: otherSlot(slot), from: 0 });
}

/**
 * Where a commit's steps go: the log and meta databases, and the shape records when the engine
 * keeps them (the WAL engine's, gathered per transaction: lmdb-shape-appends.ts, whose flush the
 * transaction calls last; null for the lmdb-direct engine). `path` names the store in errors.
 */
export interface StepTarget {
  readonly log: LmdbHandles['log'];
  readonly meta: LmdbHandles['meta'];
  readonly shapes: ShapeAppends | null;
  readonly path: string;
}

/** Applies one encoded step inside the commit's transaction. */
export function applyStep(step: EncodedStep, target: StepTarget): void {
  const { log, meta, shapes } = target;
  switch (step.kind) {
    case 'put-meta':
      meta.putSync(step.key, step.value);
      return;
    case 'trim-snapshot':
      meta.removeSync(META_KEYS.snapshotData);
      trimSlot(meta, step.slot, step.from);
      return;
    case 'delete':
      // The shapes of appends earlier in the transaction go first: a deletion cuts the records.
      shapes?.flush();
      for (let index = step.from; index <= step.to; index += 1) {
        // The projection says the entry is stored; if LMDB disagrees the group aborts.
        if (!log.removeSync(entryKey(index)))
          throw new InvariantError(`entry ${index} planned for deletion is not stored`);
      }
      if (shapes !== null) deleteShapes(shapes.store, step.from, step.to, target.path);
      return;
    case 'append':
      for (let i = 0; i < step.values.length; i += 1) {
        const value = step.values[i];
        if (value === undefined) throw new InvariantError(`append step lacks record ${i}`);
        const index = step.firstIndex + i;
        putAppend(log, index, value);
        if (shapes !== null) {
          const header = entryRecordHeader(index, value);
          shapes.add(index, header.term, header.type, header.commandBytes);
        }
      }
      return;
    case 'append-at-put': {
      const first = step.entries[0]?.index ?? 0;
      for (let i = 0; i < step.entries.length; i += 1) {
        const entry = step.entries[i];
        if (entry?.index !== first + i) throw new InvariantError(`append step entry ${i} is not at index ${first + i}`);
        putAppend(log, entry.index, encodeEntryInto(entry, scratchFor(entryRecordBytes(entry))));
        shapes?.add(entry.index, entry.term, entry.type, entry.command.byteLength);
      }
      return;
    }
    default:
      throw new InvariantError(`unknown encoded step ${JSON.stringify(step)}`);
  }
}

/**
 * Puts the record of entry `index` with MDB_APPEND: keys arrive in increasing order past the last
 * one, so pages fill fully; a key that is not past the last one fails the put, and the group aborts.
 */
function putAppend(log: LmdbHandles['log'], index: LogIndex, value: Uint8Array): void {
  const key = writeEntryKey(appendKey, index);
  // Inside a transaction lmdb-js returns false when a conditional put fails (its types say void).
  const stored: unknown = log.putSync(key, value, APPEND);
  if (stored === false) throw new InvariantError(`log record ${parseEntryKey(key)} is not past the last stored key`);
}
