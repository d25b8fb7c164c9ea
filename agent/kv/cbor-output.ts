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
