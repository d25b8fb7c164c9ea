/**
 * The stored snapshot's image in the `meta` database, kept in records of
 * {@link SNAPSHOT_RECORD_BYTES} with a table of their CRC-32s (`snapshot-crcs`, 4 bytes
 * big-endian per record), so that InstallSnapshot reads a chunk back from disk without reading
 * the whole image (PersistenceEngine.readSnapshotChunk; issue 17: nothing keeps a persisted image
 * in memory). There are two slots of records: slot 0 (`snapshot-data/0`, `snapshot-data/1`, …)
 * and slot 1 (`snapshot-data-b/0`, …). A snapshot being written streams its records into the
 * slot the stored one does not use (lmdb-snapshot-stream.ts), and its commit writes the metadata
 * and the CRC table, which name the slot, in one small transaction; so a crash at any point leaves
 * the stored snapshot whole, and what a crash or an abort leaves in the other slot is deleted
 * (lmdb-snapshot-slots.ts). The metadata record says how the image is stored (`dataRecordBytes`,
 * `dataSlot`); one without `dataRecordBytes` names an image in one `snapshot-data` record, as this
 * engine wrote before, which is still read (whole) until the next snapshot replaces it.
 */
import { PersistenceError } from '../../contracts/errors.js';
import type { LogIndex, Snapshot, SnapshotHeader } from '../../contracts/log.js';
import type { StoredImage } from '../../contracts/persistence.js';
import { crc32, crc32Combine } from '../crc32.js';
import { fastValue } from './lmdb-log-read.js';
import { checkSnapshotRange } from '../log-checks.js';
import { toPersistenceError } from './lmdb-errors.js';
import { META_KEYS, checkSnapshotBytes, checkSnapshotData, parseSnapshotMeta } from './lmdb-records.js';
import type { SnapshotSlot, StoredSnapshotMeta } from './lmdb-records.js';

/**
 * Bytes of one record of a snapshot image (the last one may be shorter). Above the unit's
 * MALLOC_MMAP_THRESHOLD_ (128 KiB): LMDB copies each record into pages it allocates for the
 * write transaction, and blocks that size are mapped on their own and returned to the system at
 * commit, instead of fragmenting the main heap (deploy/README.md). A chunk read copies at most
 * one record more than it returns at each end.
 */
export const SNAPSHOT_RECORD_BYTES = 256 * 1024;
/** Key of the table of the records' CRC-32s in the `meta` database. */
export const SNAPSHOT_CRCS_KEY = 'snapshot-crcs';

/** What the readers need of the `meta` database. */
export interface MetaReader {
  get(key: string): Uint8Array | undefined;
  /**
   * The value of `key` in LMDB's reused read buffer, without a copy (lmdb-js): valid only until
   * the next read of the process, so it is checked or copied at once and never kept.
   */
  getBinaryFast(key: string): Uint8Array | undefined;
}

/** What writing and deleting a slot's records needs of the `meta` database (inside a write transaction). */
export interface MetaWriter extends MetaReader {
  putSync(key: string, value: Uint8Array): unknown;
  getKeys(range: { readonly start: string; readonly end: string }): Iterable<string>;
  removeSync(key: string): boolean;
}

/** The prefix of the keys of slot `slot`'s records. */
function slotPrefix(slot: SnapshotSlot): string {
  return slot === 0 ? 'snapshot-data/' : 'snapshot-data-b/';
}

/** The range of the keys of slot `slot`'s records. */
export function slotKeyRange(slot: SnapshotSlot): { readonly start: string; readonly end: string } {
  const prefix = slotPrefix(slot);
  // '0' follows '/' in byte order: [prefix, prefix without '/' + '0') holds exactly the slot's keys.
  return { start: prefix, end: `${prefix.slice(0, -1)}0` };
}

/** The key of record `n` of the image in slot `slot` (slot 0 by default, the only one before there were two). */
export function snapshotRecordKey(n: number, slot: SnapshotSlot = 0): string {
  return `${slotPrefix(slot)}${n}`;
}

/** The slot that is not `slot`. */
export function otherSlot(slot: SnapshotSlot): SnapshotSlot {
  return slot === 0 ? 1 : 0;
}

/**
 * Deletes the records of slot `slot` numbered `from` or more, inside a write transaction; returns
 * how many. The keys are found by their prefix, so records left in any order by a crash go too.
 */
export function trimSlot(meta: MetaWriter, slot: SnapshotSlot, from: number): number {
  const prefix = slotPrefix(slot);
  let removed = 0;
  for (const key of [...meta.getKeys(slotKeyRange(slot))]) {
    const n = Number(key.slice(prefix.length));
    // A key of the slot that is not a record number is no record of an image: it goes too.
    if (Number.isSafeInteger(n) && n < from) continue;
    if (meta.removeSync(key)) removed += 1;
  }
  return removed;
}

/** How many records an image of `dataBytes` takes in records of `recordBytes`. */
export function snapshotRecordCount(dataBytes: number, recordBytes: number): number {
  return Math.ceil(dataBytes / recordBytes);
}

/** The records of `data` (views into it, not copies) and the table of their CRC-32s. */
export function snapshotRecords(data: Uint8Array): { readonly records: Uint8Array[]; readonly crcs: Buffer } {
  const count = snapshotRecordCount(data.byteLength, SNAPSHOT_RECORD_BYTES);
  const crcs = Buffer.allocUnsafe(count * 4);
  const records: Uint8Array[] = [];
  for (let n = 0; n < count; n += 1) {
    const record = data.subarray(n * SNAPSHOT_RECORD_BYTES, (n + 1) * SNAPSHOT_RECORD_BYTES);
    crcs.writeUInt32BE(crc32(record), n * 4);
    records.push(record);
  }
  return { records, crcs };
}

function corrupt(message: string): PersistenceError {
  return new PersistenceError('STORAGE_CORRUPT', message);
}

/** The stored snapshot's metadata, or null when none is stored. */
export function readSnapshotMeta(meta: MetaReader): StoredSnapshotMeta | null {
  const stored = meta.get(META_KEYS.snapshotMeta);
  return stored === undefined ? null : parseSnapshotMeta(stored);
}

/**
 * The whole image of the stored snapshot `stored`, checked against the image's CRC-32: a copy the
 * caller owns. Each record is copied once, from LMDB's read buffer into the image, and the
 * checksum of the whole image covers every record (the per-record checksums serve reads in place;
 * {@link checkSnapshotImage} checks them at open).
 */
export function readSnapshotImage(meta: MetaReader, stored: StoredSnapshotMeta): Uint8Array {
  // An image in one record (the earlier layout) may exceed LMDB's read buffer: read as a copy.
  if (stored.dataRecordBytes === null) return checkSnapshotData(stored, meta.get(META_KEYS.snapshotData));
  // Every byte is written below: no zero fill (16 MiB of it for a 16 MiB image).
  const image = new Uint8Array(Buffer.allocUnsafeSlow(stored.dataBytes).buffer, 0, stored.dataBytes);
  let crc = 0;
  forEachRecord(meta, stored, stored.dataRecordBytes, false, (n, record) => {
    image.set(record, n * (stored.dataRecordBytes ?? 0));
    crc = crc32(record, crc);
  });
  if (crc !== stored.dataCrc32) throw corrupt(`snapshot ${stored.lastIncludedIndex} image fails its checksum`);
  return image;
}

/**
 * Checks the image of the stored snapshot `stored` without keeping it: each record against its
 * CRC-32 in the table, and the whole image against its own, which is combined from the records'
 * (one pass over the bytes, not two: crc32Combine). Throws STORAGE_CORRUPT. Opening a data
 * folder runs it, so that a damaged image is refused before anything is written.
 */
export function checkSnapshotImage(meta: MetaReader, stored: StoredSnapshotMeta): void {
  if (stored.dataRecordBytes === null) {
    checkSnapshotBytes(stored, meta.get(META_KEYS.snapshotData));
    return;
  }
  const recordBytes = stored.dataRecordBytes;
  let crc = 0;
  forEachRecord(meta, stored, recordBytes, true, (_n, record, recordCrc) => {
    crc = record.byteLength === recordBytes ? crc32Combine(crc, recordCrc, recordBytes) : crc32(record, crc);
  });
  if (crc !== stored.dataCrc32) throw corrupt(`snapshot ${stored.lastIncludedIndex} image fails its checksum`);
}

/**
 * Calls `visit` with every record of the image in order, each checked to have its size (and,
 * with `checkRecords`, its CRC-32 from the table, which `visit` gets; 0 without), as a view of
 * LMDB's read buffer that is valid only during the call.
 */
function forEachRecord(
  meta: MetaReader,
  stored: StoredSnapshotMeta,
  recordBytes: number,
  checkRecords: boolean,
  visit: (n: number, record: Uint8Array, recordCrc: number) => void,
): void {
  const what = `snapshot ${stored.lastIncludedIndex}`;
  const count = snapshotRecordCount(stored.dataBytes, recordBytes);
  const crcs = crcTable(meta, what, count);
  for (let n = 0; n < count; n += 1) {
    const record = fastValue(meta.getBinaryFast(snapshotRecordKey(n, stored.dataSlot)));
    const expectedBytes = Math.min(recordBytes, stored.dataBytes - n * recordBytes);
    if (record?.byteLength !== expectedBytes)
      throw corrupt(`${what} image record ${n} is missing or not ${expectedBytes} bytes`);
    const recordCrc = checkRecords ? crc32(record) : 0;
    if (checkRecords && recordCrc !== crcs.getUint32(n * 4))
      throw corrupt(`${what} image record ${n} fails its checksum`);
    visit(n, record, recordCrc);
  }
}

/** The table of the image's `count` record checksums (a copy: records are read through the same buffer). */
function crcTable(meta: MetaReader, what: string, count: number): DataView {
  const crcs = meta.get(SNAPSHOT_CRCS_KEY);
  if (crcs?.byteLength !== count * 4) throw corrupt(`${what} has no table of ${count} record checksums`);
  return new DataView(crcs.buffer, crcs.byteOffset, crcs.byteLength);
}

/**
 * Fills `target` with the image's bytes from `offset` on, record by record, each checked against
 * its CRC-32 unless `checked` (the image was checked whole since it was written: at open).
 */
function copyRecords(
  meta: MetaReader,
  stored: StoredSnapshotMeta,
  recordBytes: number,
  offset: number,
  target: Uint8Array,
  checked = false,
): void {
  const what = `snapshot ${stored.lastIncludedIndex}`;
  const count = snapshotRecordCount(stored.dataBytes, recordBytes);
  const crcView = crcTable(meta, what, count);
  let at = 0;
  while (at < target.byteLength) {
    const n = Math.floor((offset + at) / recordBytes);
    // A view of LMDB's read buffer, copied into target before the next read.
    const record = fastValue(meta.getBinaryFast(snapshotRecordKey(n, stored.dataSlot)));
    const expectedBytes = Math.min(recordBytes, stored.dataBytes - n * recordBytes);
    if (record?.byteLength !== expectedBytes)
      throw corrupt(`${what} image record ${n} is missing or not ${expectedBytes} bytes`);
    if (!checked && crc32(record) !== crcView.getUint32(n * 4))
      throw corrupt(`${what} image record ${n} fails its checksum`);
    const from = offset + at - n * recordBytes;
    const take = Math.min(record.byteLength - from, target.byteLength - at);
    target.set(record.subarray(from, from + take), at);
    at += take;
  }
}

/** The stored snapshot with its whole image (what `load` returns), checked, or null. */
export function readStoredSnapshot(meta: MetaReader): Snapshot | null {
  const stored = readSnapshotMeta(meta);
  if (stored === null) return null;
  return {
    lastIncludedIndex: stored.lastIncludedIndex,
    lastIncludedTerm: stored.lastIncludedTerm,
    configuration: stored.configuration,
    data: readSnapshotImage(meta, stored),
  };
}

/** The stored snapshot's header (metadata and image size), or null; the image is not read. */
export function readStoredSnapshotHeader(meta: MetaReader): SnapshotHeader | null {
  const stored = readSnapshotMeta(meta);
  if (stored === null) return null;
  const { lastIncludedIndex, lastIncludedTerm, configuration, dataBytes } = stored;
  return { lastIncludedIndex, lastIncludedTerm, configuration, dataBytes };
}

/** True when `a` and `b` describe the same stored image: slot, index, term, record size, size and CRC-32. */
function sameImage(a: StoredSnapshotMeta, b: StoredSnapshotMeta): boolean {
  return (
    a.dataSlot === b.dataSlot &&
    a.lastIncludedIndex === b.lastIncludedIndex &&
    a.lastIncludedTerm === b.lastIncludedTerm &&
    a.dataRecordBytes === b.dataRecordBytes &&
    a.dataBytes === b.dataBytes &&
    a.dataCrc32 === b.dataCrc32
  );
}

/**
 * storedImage of the engines over LMDB: the stored image at `index` for synchronous reads, or null
 * unless the stored snapshot is the one at `index`. Each read copies the records it covers,
 * checked against their CRC-32s, from LMDB's pages: nothing holds the image whole. An image in
 * one record (the earlier layout) is read whole once, at the first read.
 */
export function readStoredImage(
  meta: MetaReader,
  index: LogIndex,
  path: string,
  checkedAtOpen: StoredSnapshotMeta | null = null,
): StoredImage | null {
  const failed = (error: unknown): Error => toPersistenceError(error, `reading snapshot ${index} from ${path} failed`);
  let stored: StoredSnapshotMeta | null;
  try {
    stored = readSnapshotMeta(meta);
  } catch (error) {
    throw failed(error);
  }
  if (stored === null || stored.lastIncludedIndex !== index) return null;
  const image = stored;
  // The image open checked whole, while nothing was written since: its records are not checked again.
  const checked = checkedAtOpen !== null && sameImage(image, checkedAtOpen);
  let whole: Uint8Array | null = null;
  return {
    byteLength: image.dataBytes,
    copyTo: (offset, target) => {
      try {
        checkSnapshotRange(image.dataBytes, offset, target.byteLength);
        if (image.dataRecordBytes !== null) copyRecords(meta, image, image.dataRecordBytes, offset, target, checked);
        else {
          whole ??= checkSnapshotData(image, meta.get(META_KEYS.snapshotData));
          target.set(whole.subarray(offset, offset + target.byteLength));
        }
      } catch (error) {
        throw failed(error);
      }
    },
  };
}
