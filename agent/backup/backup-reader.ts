/**
 * Reading a backup file (backup-format.ts). Nothing of a file is used before its whole length
 * and its SHA-256 are checked: a truncated file (no trailer at its end, or a trailer that names
 * another length), an altered one (one bit flipped anywhere: the digest differs) or a file of
 * another kind is refused with STORAGE_CORRUPT and a message that says which; a later format
 * with STORAGE_VERSION. `verifyBackupFile` checks a file of any size reading it in 1 MiB pieces;
 * `readBackupFile` checks it and returns its sections, from one read of the file.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { PersistenceError } from '../../contracts/errors.js';
import {
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FRAME_KIND,
  parseBackupHeader,
  parsePreamble,
  PREAMBLE_BYTES,
  TRAILER_BYTES,
  TRAILER_MAGIC,
  type BackupHeader,
} from './backup-format.js';

/** A checked backup: its header and the two images its frames carry. */
export interface BackupContents {
  readonly header: BackupHeader;
  /** The KV snapshot image (agent/kv/snapshot.ts). */
  readonly kv: Uint8Array;
  /** The trust image as stored (agent/trust/trust-codec.ts). */
  readonly trust: Uint8Array;
  readonly fileBytes: number;
}

const READ_BYTES = 1024 * 1024;

const corrupt = (file: string, message: string): PersistenceError =>
  new PersistenceError('STORAGE_CORRUPT', `${file}: ${message}`);

/** Checks the trailer (the last TRAILER_BYTES of a `size`-byte file); returns the digest it holds. */
function checkTrailer(file: string, trailer: Buffer, size: number): Buffer {
  if (size < PREAMBLE_BYTES + FRAME_HEADER_BYTES + TRAILER_BYTES)
    throw corrupt(file, `truncated: ${size} bytes is shorter than any backup`);
  if (!trailer.subarray(0, 8).equals(TRAILER_MAGIC))
    throw corrupt(file, 'truncated or damaged: it does not end with a backup trailer');
  const length = trailer.readBigUInt64BE(8);
  if (length !== BigInt(size))
    throw corrupt(file, `truncated or extended: the trailer says ${length} bytes, the file has ${size}`);
  return trailer.subarray(16);
}

function checkDigest(file: string, expected: Buffer, actual: Buffer): void {
  if (!expected.equals(actual))
    throw corrupt(file, 'checksum mismatch: the file was altered or damaged after it was written');
}

/** Checks a whole backup file without holding it in memory; returns its header. */
export function verifyBackupFile(file: string): { readonly header: BackupHeader; readonly fileBytes: number } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const trailer = Buffer.alloc(TRAILER_BYTES);
    if (size >= TRAILER_BYTES) readSync(fd, trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    const expected = checkTrailer(file, trailer, size);
    const hash = createHash('sha256');
    const buffer = Buffer.alloc(READ_BYTES);
    const covered = size - 32;
    let head: Buffer | null = null;
    for (let offset = 0; offset < covered;) {
      const read = readSync(fd, buffer, 0, Math.min(READ_BYTES, covered - offset), offset);
      if (read === 0) throw corrupt(file, 'truncated while it was read');
      hash.update(buffer.subarray(0, read));
      head ??= Buffer.from(buffer.subarray(0, read));
      offset += read;
    }
    checkDigest(file, expected, hash.digest());
    return { header: headerOf(file, head ?? Buffer.alloc(0)).header, fileBytes: size };
  } finally {
    closeSync(fd);
  }
}

/** The header at the start of `bytes` and where the frames begin. */
function headerOf(file: string, bytes: Buffer): { readonly header: BackupHeader; readonly framesAt: number } {
  const length = parsePreamble(bytes);
  if (bytes.length < PREAMBLE_BYTES + length) throw corrupt(file, 'the header runs past the end');
  return {
    header: parseBackupHeader(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + length)),
    framesAt: PREAMBLE_BYTES + length,
  };
}

/** Walks the frames from `at` to the end frame, which must end just before the trailer. */
function sectionsOf(file: string, bytes: Buffer, at: number): { kv: Buffer; trust: Buffer } {
  const end = bytes.length - TRAILER_BYTES;
  const kv: Buffer[] = [];
  const trust: Buffer[] = [];
  let offset = at;
  for (;;) {
    if (offset + FRAME_HEADER_BYTES > end) throw corrupt(file, 'the frames run past the trailer');
    const kind = bytes.readUInt8(offset);
    const length = bytes.readUInt32BE(offset + 1);
    offset += FRAME_HEADER_BYTES;
    if (kind === FRAME_KIND.end) {
      if (length !== 0 || offset !== end) throw corrupt(file, 'the end frame is not the last thing before the trailer');
      return { kv: Buffer.concat(kv), trust: Buffer.concat(trust) };
    }
    if (length > FRAME_BYTES_MAX || offset + length > end)
      throw corrupt(file, `a frame of ${length} bytes runs past the trailer`);
    const body = bytes.subarray(offset, offset + length);
    if (kind === FRAME_KIND.kv) kv.push(body);
    else if (kind === FRAME_KIND.trust) trust.push(body);
    else throw corrupt(file, `unknown frame kind ${kind}`);
    offset += length;
  }
}

/** Checks a backup file (length, trailer, SHA-256, structure) and returns what it holds. */
export function readBackupFile(file: string): BackupContents {
  const bytes = readFileSync(file);
  const expected = checkTrailer(file, bytes.subarray(bytes.length - TRAILER_BYTES), bytes.length);
  checkDigest(
    file,
    expected,
    createHash('sha256')
      .update(bytes.subarray(0, bytes.length - 32))
      .digest(),
  );
  const { header, framesAt } = headerOf(file, bytes);
  const { kv, trust } = sectionsOf(file, bytes, framesAt);
  if (kv.length === 0) throw corrupt(file, 'it holds no key-value image');
  if (trust.length === 0) throw corrupt(file, 'it holds no trust image');
  return { header, kv: new Uint8Array(kv), trust: new Uint8Array(trust), fileBytes: bytes.length };
}
