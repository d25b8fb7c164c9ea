/**
 * The write plan of the LMDB engine with its records encoded, and how each step is applied
 * inside the commit's transaction.
 */
import { InvariantError } from '../../contracts/errors.js';
import type { LogIndex, Snapshot } from '../../contracts/log.js';
import type { LmdbHandles } from './lmdb-open.js';
import {
  META_KEYS,
  encodeEntry,
  encodeHardState,
  encodeSnapshotMeta,
  entryKey,
  parseEntryKey,
} from './lmdb-records.js';
import type { WriteStep } from '../log-projection.js';
import { SNAPSHOT_CRCS_KEY, SNAPSHOT_RECORD_BYTES, snapshotRecordKey, snapshotRecords } from './lmdb-snapshot.js';

/**
 * One step of a write plan with its records encoded, ready for the commit's transaction. Encoding happens
 * when the write is queued, while the previous commit syncs, so that the transaction (during
 * which LMDB's writer waits for the main thread) does no more than put and delete.
 */
export type EncodedStep =
  | { readonly kind: 'put-meta'; readonly key: string; readonly value: Uint8Array }
  /** Deletes the image records of an earlier snapshot from record `from` on, and its one-record image. */
  | { readonly kind: 'trim-snapshot'; readonly from: number }
  | { readonly kind: 'delete'; readonly from: LogIndex; readonly to: LogIndex }
  | { readonly kind: 'append'; readonly keys: readonly Buffer[]; readonly values: readonly Buffer[] };

/** Encodes the records of a write plan (keys, entry records, JSON records). */
export function encodeSteps(steps: readonly WriteStep[]): EncodedStep[] {
  const encoded: EncodedStep[] = [];
  for (const step of steps) {
    switch (step.kind) {
      case 'snapshot':
        encodeSnapshot(step.snapshot, encoded);
        break;
      case 'delete':
        encoded.push(step);
        break;
      case 'append':
        encoded.push({
          kind: 'append',
          keys: step.entries.map((entry) => entryKey(entry.index)),
          values: step.entries.map(encodeEntry),
        });
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

/** Appends the steps that store `snapshot`: its metadata, its image in records (lmdb-snapshot.ts), their checksums. */
function encodeSnapshot(snapshot: Snapshot, encoded: EncodedStep[]): void {
  const { records, crcs } = snapshotRecords(snapshot.data);
  const value = encodeSnapshotMeta(snapshot, snapshot.data, SNAPSHOT_RECORD_BYTES);
  encoded.push({ kind: 'put-meta', key: META_KEYS.snapshotMeta, value });
  for (const [n, record] of records.entries())
    encoded.push({ kind: 'put-meta', key: snapshotRecordKey(n), value: record });
  encoded.push({ kind: 'put-meta', key: SNAPSHOT_CRCS_KEY, value: crcs });
  encoded.push({ kind: 'trim-snapshot', from: records.length });
}

/** Applies one encoded step inside the commit's transaction. */
export function applyStep(step: EncodedStep, log: LmdbHandles['log'], meta: LmdbHandles['meta']): void {
  switch (step.kind) {
    case 'put-meta':
      meta.putSync(step.key, step.value);
      return;
    case 'trim-snapshot':
      meta.removeSync(META_KEYS.snapshotData);
      // The records of an image are contiguous from 0: the first one missing ends the earlier image.
      for (let n = step.from; meta.removeSync(snapshotRecordKey(n)); n += 1);
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
      for (let i = 0; i < step.keys.length; i += 1) {
        const key = step.keys[i];
        const value = step.values[i];
        if (key === undefined || value === undefined) throw new InvariantError(`append step lacks record ${i}`);
        // Inside a transaction lmdb-js returns false when a conditional put fails (its types say void).
        const stored: unknown = log.putSync(key, value, { append: true });
        if (stored === false)
          throw new InvariantError(`log record ${parseEntryKey(key)} is not past the last stored key`);
      }
      return;
    default:
      throw new InvariantError(`unknown encoded step ${JSON.stringify(step)}`);
  }
}
