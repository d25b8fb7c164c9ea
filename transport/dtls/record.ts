/**
 * The DTLS record header (RFC 6347 §4.1): splitting a datagram into records and writing one.
 * A datagram may carry several records; a malformed header ends the walk, since the records
 * after it cannot be located (RFC 6347 §4.1.2.7 drops them silently).
 *
 * A tls12_cid record (RFC 9146 §4) has the connection ID between the sequence number and the
 * length. Its length is not on the wire: the receiver chose it, so the splitter is told it.
 */
import {
  AEAD_OVERHEAD_BYTES,
  CONNECTION_ID_BYTES_MAX,
  ContentType,
  RECORD_HEADER_BYTES,
  RECORD_PLAINTEXT_BYTES_MAX,
} from './constants.js';
import { assert } from '../../contracts/assert.js';

/** One record as it arrived, its fragment a view into the datagram. */
export interface RawRecord {
  readonly type: number;
  readonly version: number;
  readonly epoch: number;
  readonly seq: number;
  /** The connection ID of a tls12_cid record (a view into the datagram); null for other types. */
  readonly cid: Uint8Array | null;
  readonly fragment: Uint8Array;
}

/** Largest fragment accepted: a full plaintext plus the AEAD overhead (RFC 5246 §6.2.3). */
export const RECORD_FRAGMENT_BYTES_MAX = RECORD_PLAINTEXT_BYTES_MAX + AEAD_OVERHEAD_BYTES;

/** Result of splitting a datagram: its records, and whether trailing bytes were malformed. */
export interface SplitRecords {
  readonly records: readonly RawRecord[];
  readonly malformed: boolean;
}

/**
 * Splits `datagram` into at most `recordsMax` records. Records of unknown content type or
 * with a version outside {254, x} still split correctly; the caller judges them. A tls12_cid
 * record is read with a connection ID of `cidBytes` bytes (the length this receiver asks its
 * peers for; with 0 it asks for none, and such a record is malformed).
 */
export function splitRecords(datagram: Uint8Array, recordsMax: number, cidBytes = 0): SplitRecords {
  assert(recordsMax > 0, 'recordsMax is positive');
  assert(cidBytes >= 0 && cidBytes <= CONNECTION_ID_BYTES_MAX, 'connection ID length within the limit');
  const records: RawRecord[] = [];
  let at = 0;
  while (at < datagram.length) {
    if (records.length >= recordsMax) return { records, malformed: true };
    if (datagram.length - at < RECORD_HEADER_BYTES) return { records, malformed: true };
    const type = datagram[at] ?? 0;
    const cidLength = type === ContentType.tls12Cid ? cidBytes : 0;
    if (type === ContentType.tls12Cid && (cidBytes === 0 || datagram.length - at < RECORD_HEADER_BYTES + cidLength))
      return { records, malformed: true };
    const version = ((datagram[at + 1] ?? 0) << 8) | (datagram[at + 2] ?? 0);
    const epoch = ((datagram[at + 3] ?? 0) << 8) | (datagram[at + 4] ?? 0);
    const seqHigh = ((datagram[at + 5] ?? 0) << 8) | (datagram[at + 6] ?? 0);
    const seqLow =
      (datagram[at + 7] ?? 0) * 0x100_0000 +
      (((datagram[at + 8] ?? 0) << 16) | ((datagram[at + 9] ?? 0) << 8) | (datagram[at + 10] ?? 0));
    const lengthAt = at + 11 + cidLength;
    const length = ((datagram[lengthAt] ?? 0) << 8) | (datagram[lengthAt + 1] ?? 0);
    const start = at + RECORD_HEADER_BYTES + cidLength;
    if (length > RECORD_FRAGMENT_BYTES_MAX || start + length > datagram.length) return { records, malformed: true };
    records.push({
      type,
      version,
      epoch,
      seq: seqHigh * 0x1_0000_0000 + seqLow,
      cid: type === ContentType.tls12Cid ? datagram.subarray(at + 11, at + 11 + cidLength) : null,
      fragment: datagram.subarray(start, start + length),
    });
    at = start + length;
  }
  return { records, malformed: false };
}

/**
 * Writes a record header into `out` at 0 for a fragment of `length` bytes, which the caller
 * writes after it (at RECORD_HEADER_BYTES plus the length of `cid`). A `cid` (tls12_cid
 * records only, RFC 9146 §4) goes between the sequence number and the length. `recordBytes`:
 * the bytes of the record `out` and the parts sent after it hold (a record sent as parts).
 */
export function writeRecordHeader(
  out: Uint8Array,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  length: number,
  cid: Uint8Array | null = null,
  recordBytes = out.length,
): void {
  const cidLength = cid?.length ?? 0;
  assert(length <= RECORD_FRAGMENT_BYTES_MAX, 'record fragment within the RFC limit');
  assert(out.length >= RECORD_HEADER_BYTES + cidLength, 'the record header fits its buffer');
  assert(recordBytes >= RECORD_HEADER_BYTES + cidLength + length, 'the record fits its buffer');
  assert((cid !== null) === (type === ContentType.tls12Cid), 'a connection ID exactly on tls12_cid records');
  assert(type >= 0 && type <= 0xff, 'content type is 8 bits');
  assert(version >= 0 && version <= 0xffff, 'version is 16 bits');
  assert(epoch >= 0 && epoch <= 0xffff, 'epoch is 16 bits');
  assert(Number.isSafeInteger(seq) && seq >= 0 && seq < 2 ** 48, 'sequence number is 48 bits');
  const high = Math.floor(seq / 0x1_0000_0000);
  const low = seq - high * 0x1_0000_0000;
  out[0] = type;
  out[1] = version >>> 8;
  out[2] = version & 0xff;
  out[3] = epoch >>> 8;
  out[4] = epoch & 0xff;
  out[5] = high >>> 8;
  out[6] = high & 0xff;
  out[7] = low >>> 24;
  out[8] = (low >>> 16) & 0xff;
  out[9] = (low >>> 8) & 0xff;
  out[10] = low & 0xff;
  if (cid !== null) out.set(cid, 11);
  out[11 + cidLength] = length >>> 8;
  out[12 + cidLength] = length & 0xff;
}

/** Writes one record: header plus `fragment` (already protected when the epoch is > 0). */
export function encodeRecord(
  type: number,
  version: number,
  epoch: number,
  seq: number,
  fragment: Uint8Array,
): Uint8Array {
  const record = new Uint8Array(RECORD_HEADER_BYTES + fragment.length);
  writeRecordHeader(record, type, version, epoch, seq, fragment.length);
  record.set(fragment, RECORD_HEADER_BYTES);
  return record;
}
