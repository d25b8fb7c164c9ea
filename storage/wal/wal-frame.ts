/**
 * The records of the write-ahead log and the frames that carry them.
 *
 * A frame is what one sync makes durable: the records of one group of writes, written with one
 * write and one fdatasync. It starts at an offset that is a multiple of 8 and is padded to one:
 *
 *     0  u32  magic 0x4357414c ("CWAL")
 *     4  u32  payload length, bytes
 *     8  u64  sequence number of the first record
 *     16 u32  record count (>= 1)
 *     20 u32  CRC-32 of bytes 0..19 and of the payload
 *     24 ...  payload: `count` batch records, sequence numbers first, first + 1, ...
 *
 * A batch record is one PersistBatch without a snapshot (batches with one go to LMDB directly),
 * so that a batch is all or nothing: there is no record of a truncation without the entries
 * that follow it. Its parts are optional sub-records, in the contract's order:
 *
 *     u8 flags: 1 truncate-from, 2 compact-before, 4 hard state
 *     [u64 truncateFrom] [u64 compactBefore] [u64 term, u8 vote length (0: none), vote]
 *     u32 entry count, then per entry: u8 type, u64 term, u64 index, u32 length, command
 *
 * Everything read back is parsed as untrusted input. A frame is only accepted whole, with a
 * valid checksum; whether a bad one is a torn tail or corruption is decided by the caller
 * (wal-recover.ts), which sees what follows it.
 */
import { crc32, crc32Through } from '../crc32.js';
import { PersistenceError } from '../../contracts/errors.js';
import { NODE_ID_LENGTH_MAX, type EntryType, type HardState, type LogEntry } from '../../contracts/log.js';
import type { PersistBatch } from '../../contracts/persistence.js';
import { assert } from '../../contracts/assert.js';

/** Bytes of a frame header. */
export const FRAME_HEADER_BYTES = 24;
/** The first four bytes of every frame. */
export const FRAME_MAGIC = 0x4357414c;
const MAGIC = FRAME_MAGIC;
const TWO_TO_32 = 2 ** 32;
const SAFE_HIGH_LIMIT = 2 ** 21;
const FLAG_TRUNCATE = 1;
const FLAG_COMPACT = 2;
const FLAG_HARD_STATE = 4;
const ENTRY_HEADER_BYTES = 21;
const TYPE_CODES: Readonly<Record<EntryType, number>> = { command: 1, noop: 2, config: 3 };
const TYPES_BY_CODE: readonly (EntryType | undefined)[] = [undefined, 'command', 'noop', 'config'];

/** Bytes `bytes` takes once padded to a multiple of 8. */
export function padded(bytes: number): number {
  return Math.ceil(bytes / 8) * 8;
}

function writeU64(target: Buffer, offset: number, value: number): void {
  target.writeUInt32BE(Math.floor(value / TWO_TO_32), offset);
  target.writeUInt32BE(value >>> 0, offset + 4);
}

function readU64(source: Buffer, offset: number, what: string): number {
  const high = source.readUInt32BE(offset);
  if (high >= SAFE_HIGH_LIMIT) throw corrupt(`${what} is beyond the safe integer range`);
  return high * TWO_TO_32 + source.readUInt32BE(offset + 4);
}

function corrupt(message: string): PersistenceError {
  return new PersistenceError('STORAGE_CORRUPT', message);
}

/**
 * Commands of at least this many bytes are pieces of their own in a record's parts
 * (encodeBatchRecordParts): below it, an I/O vector costs more than the copy it saves.
 */
export const RECORD_PIECE_BYTES_MIN = 1024;

/**
 * A batch record as the pieces it is written from, in order: its own bytes (flags, sub-records,
 * entry heads, small commands) in views of one buffer, and each command of RECORD_PIECE_BYTES_MIN
 * or more as the entry's own bytes, never copied (an entry's command is never changed once made).
 */
export interface RecordParts {
  /**
   * Own bytes at even indices, commands at odd ones (an entry head always comes between two
   * commands); a record without a large command is its own bytes, whole.
   */
  readonly pieces: readonly Uint8Array[];
  /** The record's length: the bytes of its pieces together. */
  readonly bytes: number;
}

/**
 * Encodes a batch (which must have no snapshot) as one record's pieces (RecordParts). So a batch
 * of large commands costs the log a buffer of their heads, not a copy of every command that lives
 * until its write is synced (at 64 clients x 4 KiB those copies were the Buffers that set off a
 * follower's full collections most often).
 */
export function encodeBatchRecordParts(batch: PersistBatch): RecordParts {
  assert(batch.snapshot === null, 'a log record never holds a snapshot');
  const vote =
    batch.hardState?.votedFor === null || batch.hardState === null
      ? null
      : Buffer.from(batch.hardState.votedFor, 'utf8');
  assert(
    vote === null || (vote.length > 0 && vote.length <= Math.min(255, NODE_ID_LENGTH_MAX * 4)),
    'vote fits its length byte',
  );
  let bytes = 1 + 4;
  if (batch.truncateFrom !== null) bytes += 8;
  if (batch.compactBefore !== null) bytes += 8;
  if (batch.hardState !== null) bytes += 9 + (vote?.length ?? 0);
  let pieceBytes = 0;
  for (const entry of batch.entries) {
    bytes += ENTRY_HEADER_BYTES + entry.command.byteLength;
    if (entry.command.byteLength >= RECORD_PIECE_BYTES_MIN) pieceBytes += entry.command.byteLength;
  }
  const own = Buffer.allocUnsafe(bytes - pieceBytes);
  let at = 1;
  let flags = 0;
  if (batch.truncateFrom !== null) {
    flags |= FLAG_TRUNCATE;
    writeU64(own, at, batch.truncateFrom);
    at += 8;
  }
  if (batch.compactBefore !== null) {
    flags |= FLAG_COMPACT;
    writeU64(own, at, batch.compactBefore);
    at += 8;
  }
  if (batch.hardState !== null) {
    flags |= FLAG_HARD_STATE;
    writeU64(own, at, batch.hardState.currentTerm);
    own.writeUInt8(vote?.length ?? 0, at + 8);
    if (vote !== null) vote.copy(own, at + 9);
    at += 9 + (vote?.length ?? 0);
  }
  own.writeUInt8(flags, 0);
  own.writeUInt32BE(batch.entries.length, at);
  at += 4;
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const entry of batch.entries) {
    at = writeEntryHead(own, at, entry);
    if (entry.command.byteLength >= RECORD_PIECE_BYTES_MIN) {
      // The command itself (not a view of it): its CRC-32 is kept by this object for its LMDB record (crc32Through).
      pieces.push(own.subarray(start, at), entry.command);
      start = at;
    } else {
      own.set(entry.command, at);
      at += entry.command.byteLength;
    }
  }
  assert(at === own.length, `batch record's own bytes are ${at}, sized ${own.length}`);
  // Without a large command the record is its own buffer, whole (the common case at small values).
  if (start === 0) return { pieces: [own], bytes };
  if (at > start) pieces.push(own.subarray(start, at));
  return { pieces, bytes };
}

/** Encodes a batch (which must have no snapshot) as one record, in one buffer. */
export function encodeBatchRecord(batch: PersistBatch): Buffer {
  const record = encodeBatchRecordParts(batch);
  return Buffer.concat(record.pieces, record.bytes);
}

/** Writes the head of `entry` (type, term, index, command length) at `at`; returns the offset after it. */
function writeEntryHead(record: Buffer, at: number, entry: LogEntry): number {
  record.writeUInt8(TYPE_CODES[entry.type], at);
  writeU64(record, at + 1, entry.term);
  writeU64(record, at + 9, entry.index);
  record.writeUInt32BE(entry.command.byteLength, at + 17);
  return at + ENTRY_HEADER_BYTES;
}

/** One frame holding `records` (sequence numbers firstSeq, firstSeq + 1, ...), padded to 8 bytes. */
export function encodeFrame(firstSeq: number, records: readonly Uint8Array[]): Buffer {
  assert(records.length > 0, 'a frame holds at least one record');
  let payloadBytes = 0;
  for (const record of records) payloadBytes += record.length;
  const frame = Buffer.allocUnsafe(padded(FRAME_HEADER_BYTES + payloadBytes));
  frame.writeUInt32BE(MAGIC, 0);
  frame.writeUInt32BE(payloadBytes, 4);
  writeU64(frame, 8, firstSeq);
  frame.writeUInt32BE(records.length, 16);
  let at = FRAME_HEADER_BYTES;
  for (const record of records) {
    frame.set(record, at);
    at += record.length;
  }
  frame.fill(0, at);
  frame.writeUInt32BE(crc32(frame.subarray(FRAME_HEADER_BYTES, at), crc32(frame.subarray(0, 20))), 20);
  return frame;
}

/**
 * Most pieces, header and padding included, a frame is written from in place (one I/O vector each,
 * within Linux's IOV_MAX of 1,024); a frame of more comes copied into one buffer.
 */
const FRAME_PIECES_MAX = 1000;
const ZERO_PADDING = Buffer.alloc(8);

/**
 * The frame of {@link encodeFrame} as the pieces to write in order (one gathered write): its
 * header, the records' pieces themselves (not copied: RecordParts), and the zero padding. Same
 * bytes, same checksum, without a second copy of any record; a frame of more than
 * FRAME_PIECES_MAX pieces comes as one buffer.
 */
export function encodeFrameParts(
  firstSeq: number,
  records: readonly RecordParts[],
): { parts: Uint8Array[]; bytes: number } {
  assert(records.length > 0, 'a frame holds at least one record');
  let payloadBytes = 0;
  for (const record of records) payloadBytes += record.bytes;
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(payloadBytes, 4);
  writeU64(header, 8, firstSeq);
  header.writeUInt32BE(records.length, 16);
  let crc = crc32(header.subarray(0, 20));
  const parts: Uint8Array[] = [header];
  for (const { pieces } of records) {
    // Pieces alternate, own bytes first (RecordParts). A command has its CRC-32 kept for its LMDB
    // record (crc32Through); the record's own bytes are views made for this frame, read once.
    let command = false;
    for (const piece of pieces) {
      crc = command ? crc32Through(piece, crc) : crc32(piece, crc);
      parts.push(piece);
      command = !command;
    }
  }
  header.writeUInt32BE(crc, 20);
  const bytes = padded(FRAME_HEADER_BYTES + payloadBytes);
  const padding = bytes - FRAME_HEADER_BYTES - payloadBytes;
  if (padding > 0) parts.push(ZERO_PADDING.subarray(0, padding));
  return parts.length > FRAME_PIECES_MAX ? { parts: [Buffer.concat(parts, bytes)], bytes } : { parts, bytes };
}

/** What is found at an offset of a segment. */
export type FrameRead =
  | {
      readonly kind: 'frame';
      readonly firstSeq: number;
      readonly count: number;
      readonly payload: Buffer;
      readonly nextOffset: number;
    }
  /** Eight zero bytes: the preallocated space after the last frame. */
  | { readonly kind: 'zero' }
  | { readonly kind: 'bad'; readonly reason: string };

/** Reads the frame at `offset` of `segment` (whose length bounds it), checking its checksum. */
export function readFrame(segment: Buffer, offset: number): FrameRead {
  assert(offset % 8 === 0, `frame offset ${offset} is aligned`);
  if (offset + FRAME_HEADER_BYTES > segment.length) {
    return offset + 8 <= segment.length && segment.readUInt32BE(offset) === 0 && segment.readUInt32BE(offset + 4) === 0
      ? { kind: 'zero' }
      : { kind: 'bad', reason: 'header runs past the segment' };
  }
  const magic = segment.readUInt32BE(offset);
  const payloadBytes = segment.readUInt32BE(offset + 4);
  if (magic === 0 && payloadBytes === 0) return { kind: 'zero' };
  if (magic !== MAGIC) return { kind: 'bad', reason: `no frame magic (0x${magic.toString(16)})` };
  const end = offset + FRAME_HEADER_BYTES + payloadBytes;
  if (end > segment.length) return { kind: 'bad', reason: `payload of ${payloadBytes} bytes runs past the segment` };
  const high = segment.readUInt32BE(offset + 8);
  if (high >= SAFE_HIGH_LIMIT) return { kind: 'bad', reason: 'sequence number beyond the safe range' };
  const count = segment.readUInt32BE(offset + 16);
  const payload = segment.subarray(offset + FRAME_HEADER_BYTES, end);
  if (crc32(payload, crc32(segment.subarray(offset, offset + 20))) !== segment.readUInt32BE(offset + 20))
    return { kind: 'bad', reason: 'checksum mismatch' };
  if (count === 0) return { kind: 'bad', reason: 'frame of no records' };
  return {
    kind: 'frame',
    firstSeq: high * TWO_TO_32 + segment.readUInt32BE(offset + 12),
    count,
    payload,
    nextOffset: padded(end),
  };
}

/** Parses the `count` batch records of a frame payload whose checksum was valid. */
export function decodeBatchRecords(payload: Buffer, count: number, where: string): PersistBatch[] {
  const batches: PersistBatch[] = [];
  let at = 0;
  try {
    for (let i = 0; i < count; i += 1) {
      const decoded = decodeBatchRecord(payload, at, `${where} record ${i}`);
      batches.push(decoded.batch);
      at = decoded.next;
    }
  } catch (error) {
    if (error instanceof PersistenceError) throw error;
    // A read past the payload (RangeError): the record's lengths disagree with the frame's.
    throw new PersistenceError('STORAGE_CORRUPT', `${where}: a record runs past its frame`, { cause: error });
  }
  if (at !== payload.length) throw corrupt(`${where}: ${payload.length - at} bytes follow the last record`);
  return batches;
}

function decodeBatchRecord(
  payload: Buffer,
  start: number,
  where: string,
): { readonly batch: PersistBatch; readonly next: number } {
  const flags = payload.readUInt8(start);
  if ((flags & ~(FLAG_TRUNCATE | FLAG_COMPACT | FLAG_HARD_STATE)) !== 0)
    throw corrupt(`${where}: unknown flags ${flags}`);
  let at = start + 1;
  let truncateFrom: number | null = null;
  let compactBefore: number | null = null;
  let hardState: HardState | null = null;
  if ((flags & FLAG_TRUNCATE) !== 0) {
    truncateFrom = readU64(payload, at, `${where} truncateFrom`);
    at += 8;
  }
  if ((flags & FLAG_COMPACT) !== 0) {
    compactBefore = readU64(payload, at, `${where} compactBefore`);
    at += 8;
  }
  if ((flags & FLAG_HARD_STATE) !== 0) {
    const currentTerm = readU64(payload, at, `${where} term`);
    const voteBytes = payload.readUInt8(at + 8);
    if (at + 9 + voteBytes > payload.length) throw corrupt(`${where}: vote runs past its frame`);
    hardState = {
      currentTerm,
      votedFor: voteBytes === 0 ? null : payload.toString('utf8', at + 9, at + 9 + voteBytes),
    };
    at += 9 + voteBytes;
  }
  const entryCount = payload.readUInt32BE(at);
  at += 4;
  const entries: LogEntry[] = [];
  for (let i = 0; i < entryCount; i += 1) {
    const type = TYPES_BY_CODE[payload.readUInt8(at)];
    if (type === undefined) throw corrupt(`${where}: entry ${i} has unknown type code ${payload.readUInt8(at)}`);
    const term = readU64(payload, at + 1, `${where} entry term`);
    const index = readU64(payload, at + 9, `${where} entry index`);
    const length = payload.readUInt32BE(at + 17);
    const begin = at + ENTRY_HEADER_BYTES;
    if (begin + length > payload.length) throw corrupt(`${where}: entry ${index} runs past its frame`);
    // A copy, so that the command is a plain Uint8Array that does not pin the segment buffer.
    const command = new Uint8Array(length);
    command.set(payload.subarray(begin, begin + length));
    entries.push({ term, index, type, command });
    at = begin + length;
  }
  return { batch: { snapshot: null, truncateFrom, entries, compactBefore, hardState }, next: at };
}

/** A torn last frame the open zeroed: where, how many bytes, and what its header said, if it was whole. */
export interface TornTail {
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
  /** Why the bytes there are not a frame (readFrame's reason: checksum mismatch, cut short, ...). */
  readonly reason: string;
}
