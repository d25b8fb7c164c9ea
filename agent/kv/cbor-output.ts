/**
 * Encoding with cbor-x without pinning its output buffer. Every cbor-x Encoder in the process
 * writes into one shared output buffer (module state of cbor-x's encode.js, not per Encoder):
 * an encoding is returned as a view of it, the next one continues after it, and a full buffer is
 * replaced by a fresh one of the same size. An encoding that does not fit grows the buffer to
 * four times its size, and it never shrinks. So after one 4.3 MiB node-state snapshot, every
 * later log command was a 300-byte view of its own 17 MiB buffer's slice, and the in-memory log,
 * the WAL tail and the watch history kept two or three such buffers alive: 35-50 MiB of a loaded
 * leader's anonymous memory for a few MiB of commands (heap snapshots, issue 17).
 *
 * {@link encodeCbor} copies an encoding larger than {@link CBOR_VIEW_BYTES_MAX} out to a buffer
 * of its own and hands cbor-x a fresh small output buffer, so that the shared one stays within
 * four times that bound and small encodings keep views of small buffers only.
 */
import { Buffer } from 'node:buffer';
import type { Encoder } from 'cbor-x';
import { assert } from '../../contracts/assert.js';

/** Largest encoding returned as a view of cbor-x's shared output buffer, bytes. */
export const CBOR_VIEW_BYTES_MAX = 64 * 1024;
/** Size of the output buffer cbor-x is given after a larger encoding: its own initial size. */
export const CBOR_OUTPUT_BYTES_INITIAL = 8 * 1024;

declare module 'cbor-x' {
  interface Encoder {
    /** cbor-x's own (untyped) method: makes `buffer` the shared output buffer, writing from its start. */
    useBuffer(buffer: Uint8Array): void;
  }
}

/**
 * `encoder.encode(value)`, as a buffer of its own when larger than CBOR_VIEW_BYTES_MAX, after
 * which cbor-x writes into a fresh CBOR_OUTPUT_BYTES_INITIAL-byte buffer (never the old one:
 * earlier encodings are views of it).
 */
export function encodeCbor(encoder: Encoder, value: unknown): Buffer {
  const out = encoder.encode(value);
  if (out.byteLength <= CBOR_VIEW_BYTES_MAX) return out;
  const own = Buffer.allocUnsafeSlow(out.byteLength);
  own.set(out);
  encoder.useBuffer(Buffer.allocUnsafeSlow(CBOR_OUTPUT_BYTES_INITIAL));
  assert(own.buffer.byteLength === own.byteLength, 'a large encoding owns its buffer');
  return own;
}

/**
 * Smallest encoding {@link encodeCborOwned} copies to a buffer of its own, bytes. A log command
 * from this size up is kept by the log, the WAL tail, the watch history and (as a view of its
 * value) the store: in a shared output buffer it would keep four or five other commands' bytes
 * alive with it, and the store would have to copy its value out (issue 17).
 */
export const CBOR_OWN_BYTES_MIN = 1024;

/**
 * {@link encodeCbor}, and an encoding of at least CBOR_OWN_BYTES_MIN bytes in a buffer that
 * holds nothing else (`out.buffer.byteLength === out.byteLength`).
 */
export function encodeCborOwned(encoder: Encoder, value: unknown): Buffer {
  const out = encodeCbor(encoder, value);
  if (out.byteLength < CBOR_OWN_BYTES_MIN || out.buffer.byteLength === out.byteLength) return out;
  const own = Buffer.allocUnsafeSlow(out.byteLength);
  own.set(out);
  return own;
}

/**
 * The head of a CBOR item of major type `major` (0..7) whose argument is `length` (RFC 8949
 * §3: a byte string's or array's length), in its shortest form, as cbor-x writes it: to frame
 * bytes already encoded without encoding them again.
 */
export function cborHead(major: number, length: number): Uint8Array {
  assert(Number.isInteger(major) && major >= 0 && major <= 7, 'a CBOR major type is 0..7');
  assert(Number.isSafeInteger(length) && length >= 0 && length < 2 ** 32, 'a CBOR head argument below 2^32');
  const type = major << 5;
  if (length < 24) return Uint8Array.of(type | length);
  if (length < 0x100) return Uint8Array.of(type | 24, length);
  if (length < 0x10000) return Uint8Array.of(type | 25, length >>> 8, length & 0xff);
  const head = new Uint8Array(5);
  head[0] = type | 26;
  new DataView(head.buffer).setUint32(1, length);
  return head;
}

/** The largest argument {@link writeCborHead} writes: 4-byte heads (cbor-x writes larger integers as floats). */
export const CBOR_HEAD_ARGUMENT_MAX = 0xffff_ffff;

/**
 * Writes the shortest CBOR head of `major` with `argument` (<= CBOR_HEAD_ARGUMENT_MAX) at `at` of
 * `out`, as cbor-x does; returns where it ends.
 */
export function writeCborHead(out: Uint8Array, at: number, major: number, argument: number): number {
  const type = major << 5;
  if (argument < 24) {
    out[at] = type | argument;
    return at + 1;
  }
  if (argument < 0x100) {
    out[at] = type | 24;
    out[at + 1] = argument;
    return at + 2;
  }
  if (argument < 0x10000) {
    out[at] = type | 25;
    out[at + 1] = argument >>> 8;
    out[at + 2] = argument & 0xff;
    return at + 3;
  }
  out[at] = type | 26;
  out[at + 1] = argument >>> 24;
  out[at + 2] = (argument >>> 16) & 0xff;
  out[at + 3] = (argument >>> 8) & 0xff;
  out[at + 4] = argument & 0xff;
  return at + 5;
}

/** The bytes {@link writeCborHead} writes for `argument`. */
export function cborHeadBytes(argument: number): number {
  if (argument < 24) return 1;
  if (argument < 0x100) return 2;
  return argument < 0x10000 ? 3 : 5;
}

/** The bytes {@link writeCborUint} writes for `value`. */
export function cborUintBytes(value: number): number {
  return value <= CBOR_HEAD_ARGUMENT_MAX ? cborHeadBytes(value) : 9;
}

/** cbor-x's first byte of a float64 (RFC 8949 §3.3): how it writes an integer of 2^32 or more. */
const FLOAT64 = 0xfb;

/**
 * Writes the safe integer `value` (>= 0) at `at` of `out` as cbor-x does: a shortest head below
 * 2^32, else a float64 (exact for a safe integer); returns where it ends. 9 bytes at most.
 */
export function writeCborUint(out: Buffer, at: number, value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, `${value} is a safe integer >= 0`);
  if (value <= CBOR_HEAD_ARGUMENT_MAX) return writeCborHead(out, at, 0, value);
  out[at] = FLOAT64;
  out.writeDoubleBE(value, at + 1);
  return at + 9;
}

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Whether `text` holds a UTF-16 surrogate: cbor-x writes a lone one its own way (not as Buffer's
 * U+FFFD), so text with one is left to cbor-x.
 */
export function hasSurrogate(text: string): boolean {
  return SURROGATE.test(text);
}

/**
 * Writes `text` (without surrogates, see {@link hasSurrogate}) as a CBOR text string at `at` of
 * `out`, as cbor-x does; returns where it ends. At most 5 + 3 × text.length bytes.
 */
export function writeCborText(out: Buffer, at: number, text: string): number {
  const length = Buffer.byteLength(text, 'utf8');
  const start = writeCborHead(out, at, 3, length);
  return start + out.write(text, start, length, 'utf8');
}

/** Writes `bytes` as a CBOR byte string at `at` of `out`, as cbor-x writes a Buffer; returns where it ends. */
export function writeCborBytes(out: Buffer, at: number, bytes: Uint8Array): number {
  const start = writeCborHead(out, at, 2, bytes.byteLength);
  out.set(bytes, start);
  return start + bytes.byteLength;
}
