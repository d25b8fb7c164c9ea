/**
 * The backup file (DESIGN.md, "Backup file"): a versioned header, a body of framed sections, and
 * a trailer whose SHA-256 covers every byte before it. It is written front to back in one pass
 * (the agent streams it, agent/backup/backup-stream.ts) and checked in one pass before anything
 * reads it (backup-reader.ts).
 *
 *   magic 'CORAFTBK' (8) | format version u16 | header length u32 | header (UTF-8 JSON)
 *   frames: kind u8 | length u32 | bytes       kind 1: a piece of the KV snapshot image
 *                                              kind 2: a piece of the trust image
 *                                              kind 255: the end (length 0)
 *   trailer: 'CORAFTSM' (8) | file length u64 | SHA-256 (32) of every byte before it
 *
 * Integers are big-endian. The pieces of one kind concatenate to one image, in the state
 * machine's own snapshot encoding (agent/kv/snapshot.ts, agent/trust/trust-codec.ts).
 */
import { PersistenceError } from '../../contracts/errors.js';

/** The first 8 bytes of every backup file. */
export const BACKUP_MAGIC = Buffer.from('CORAFTBK', 'latin1');
/** The first 8 bytes of the trailer. */
export const TRAILER_MAGIC = Buffer.from('CORAFTSM', 'latin1');
/** The version of the layout this code writes and reads. */
export const BACKUP_FORMAT_VERSION = 1;
/** Bytes before the header's JSON: magic, version, header length. */
export const PREAMBLE_BYTES = 8 + 2 + 4;
/** Bytes of the trailer: magic, file length, SHA-256. */
export const TRAILER_BYTES = 8 + 8 + 32;
/** Bytes of a frame's kind and length. */
export const FRAME_HEADER_BYTES = 1 + 4;
/** Largest header JSON, bytes. */
export const HEADER_BYTES_MAX = 16 * 1024;
/** Largest frame body, bytes (a reader refuses a larger one before it allocates it). */
export const FRAME_BYTES_MAX = 1024 * 1024;

/** What a frame carries. */
export const FRAME_KIND = { kv: 1, trust: 2, end: 255 } as const;

/** The header: where and when the copy was taken. */
export interface BackupHeader {
  /** The cluster id of the cluster backed up. */
  readonly cluster: string;
  /** The member whose state machine produced the image. */
  readonly node: string;
  /** The log index the image is at: the state after applying every entry up to it, and no other. */
  readonly index: number;
  /** The term of the entry at `index`. */
  readonly term: number;
  /** The store revision at `index` (the log index of the last change). */
  readonly revision: number;
  /** Keys in the image. */
  readonly keyCount: number;
  /** Key and value bytes in the image (an estimate of its size, for progress). */
  readonly dataBytes: number;
  /** When the image was taken (the node's wall clock), ms since the epoch. */
  readonly createdAtMs: number;
}

const corrupt = (message: string): PersistenceError => new PersistenceError('STORAGE_CORRUPT', message);

/** The preamble and header of a backup. */
export function encodeBackupHeader(header: BackupHeader): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  if (json.length > HEADER_BYTES_MAX) throw new RangeError(`backup header exceeds ${HEADER_BYTES_MAX} bytes`);
  const preamble = Buffer.alloc(PREAMBLE_BYTES);
  BACKUP_MAGIC.copy(preamble, 0);
  preamble.writeUInt16BE(BACKUP_FORMAT_VERSION, 8);
  preamble.writeUInt32BE(json.length, 10);
  return Buffer.concat([preamble, json]);
}

/** The header length the preamble announces; throws STORAGE_CORRUPT or STORAGE_VERSION. */
export function parsePreamble(bytes: Uint8Array): number {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < PREAMBLE_BYTES || !buffer.subarray(0, 8).equals(BACKUP_MAGIC))
    throw corrupt('not a coraft backup (it does not start with CORAFTBK)');
  const version = buffer.readUInt16BE(8);
  if (version !== BACKUP_FORMAT_VERSION)
    throw new PersistenceError(
      'STORAGE_VERSION',
      `backup format version ${version} is not supported; this coraft reads version ${BACKUP_FORMAT_VERSION}`,
    );
  const length = buffer.readUInt32BE(10);
  if (length === 0 || length > HEADER_BYTES_MAX) throw corrupt(`backup header length ${length} is out of range`);
  return length;
}

function nonNegative(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw corrupt(`backup header: ${name} must be a non-negative integer`);
  return value;
}

/** Parses the header's JSON; throws STORAGE_CORRUPT naming the bad field. */
export function parseBackupHeader(json: Uint8Array): BackupHeader {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(json).toString('utf8'));
  } catch (error) {
    throw new PersistenceError('STORAGE_CORRUPT', 'backup header is not JSON', { cause: error });
  }
  if (typeof value !== 'object' || value === null) throw corrupt('backup header is not a JSON object');
  const field = (name: string): unknown => Reflect.get(value, name);
  const cluster = field('cluster');
  const node = field('node');
  if (typeof cluster !== 'string' || typeof node !== 'string')
    throw corrupt('backup header: cluster and node must be strings');
  const header: BackupHeader = {
    cluster,
    node,
    index: nonNegative(field('index'), 'index'),
    term: nonNegative(field('term'), 'term'),
    revision: nonNegative(field('revision'), 'revision'),
    keyCount: nonNegative(field('keyCount'), 'keyCount'),
    dataBytes: nonNegative(field('dataBytes'), 'dataBytes'),
    createdAtMs: nonNegative(field('createdAtMs'), 'createdAtMs'),
  };
  if (header.revision > header.index) throw corrupt('backup header: revision is beyond index');
  return header;
}

/** A frame's kind and length. */
export function encodeFrameHeader(kind: number, length: number): Uint8Array {
  const bytes = Buffer.alloc(FRAME_HEADER_BYTES);
  bytes.writeUInt8(kind, 0);
  bytes.writeUInt32BE(length, 1);
  return bytes;
}

/** The trailer's magic and file length: the part the SHA-256 covers. */
export function encodeTrailerStart(fileBytes: number): Uint8Array {
  const bytes = Buffer.alloc(16);
  TRAILER_MAGIC.copy(bytes, 0);
  bytes.writeBigUInt64BE(BigInt(fileBytes), 8);
  return bytes;
}
