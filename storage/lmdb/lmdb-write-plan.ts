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
  encodeHardState,
  encodeSnapshotMeta,
  entryKey,
  parseEntryKey,
  writeEntryKey,
} from './lmdb-records.js';
import type { SnapshotSlot } from './lmdb-records.js';
import type { WriteStep } from '../log-projection.js';
import { crc32 } from '../crc32.js';
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
  | { readonly kind: 'append'; readonly firstIndex: LogIndex; readonly values: readonly Buffer[] };

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
export function encodeSteps(steps: readonly WriteStep[], placement: SnapshotPlacement | null = null): EncodedStep[] {
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
        encoded.push(encodeAppend(step.entries));
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

/** Applies one encoded step inside the commit's transaction. */
export function applyStep(step: EncodedStep, log: LmdbHandles['log'], meta: LmdbHandles['meta']): void {
  switch (step.kind) {
    case 'put-meta':
      meta.putSync(step.key, step.value);
      return;
    case 'trim-snapshot':
      meta.removeSync(META_KEYS.snapshotData);
      trimSlot(meta, step.slot, step.from);
      return;
    case 'delete':
      for (let index = step.from; index <= step.to; index += 1) {
        // The projection says the entry is stored; if LMDB disagrees the group aborts.
        if (!log.removeSync(entryKey(index)))
          throw new InvariantError(`entry ${index} planned for deletion is not stored`);
      }
      return;
    case 'append':
      // MDB_APPEND: keys arrive in increasing order past the last one, so pages fill fully;
      // a key that is not past the last one fails the put, and the group aborts.
      for (let i = 0; i < step.values.length; i += 1) {
        const value = step.values[i];
        if (value === undefined) throw new InvariantError(`append step lacks record ${i}`);
        const key = writeEntryKey(appendKey, step.firstIndex + i);
        // Inside a transaction lmdb-js returns false when a conditional put fails (its types say void).
        const stored: unknown = log.putSync(key, value, APPEND);
        if (stored === false)
          throw new InvariantError(`log record ${parseEntryKey(key)} is not past the last stored key`);
      }
      return;
    default:
      throw new InvariantError(`unknown encoded step ${JSON.stringify(step)}`);
  }
}
