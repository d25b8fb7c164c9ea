/**
 * The pieces of DTLS 1.2 Connection ID (RFC 9146) that are pure data: the connection_id
 * extension, the DTLSInnerPlaintext of a tls12_cid record, and the CID a server picks.
 *
 * Each side names in its hello the CID it wants to *receive*; an empty one means "send me no
 * CID" (the side is still willing to send the peer's). A sender uses the tls12_cid record
 * format in epoch 1 exactly when the receiver asked for a non-empty CID (RFC 9146 §3).
 */
import { createHash } from 'node:crypto';
import { CONNECTION_ID_BYTES_MAX, ExtensionType, RECORD_PLAINTEXT_BYTES_MAX } from './constants.js';
import { assert } from '../../contracts/assert.js';
import type { Extension } from './handshake-messages.js';

/** The connection IDs of one connection, as its record layer uses them. */
export interface ConnectionIds {
  /** The CID the peer puts in records to us (we asked for it); null when we asked for none. */
  readonly read: Uint8Array | null;
  /** The CID we put in records to the peer (it asked for it); null when it asked for none. */
  readonly write: Uint8Array | null;
}

/** The connection_id extension asking the peer to send `cid` (RFC 9146 §3). */
export function connectionIdExtension(cid: Uint8Array): Extension {
  assert(cid.length <= CONNECTION_ID_BYTES_MAX, 'our CID within the limit');
  const data = new Uint8Array(1 + cid.length);
  data[0] = cid.length;
  data.set(cid, 1);
  return { type: ExtensionType.connectionId, data };
}

/**
 * The CID an extension asks for (possibly empty); 'malformed' when its length byte disagrees
 * with its size, 'too-long' when the CID exceeds CONNECTION_ID_BYTES_MAX.
 */
export function parseConnectionIdExtension(extension: Extension): Uint8Array | 'malformed' | 'too-long' {
  const length = extension.data[0];
  if (length === undefined || extension.data.length !== 1 + length) return 'malformed';
  if (length > CONNECTION_ID_BYTES_MAX) return 'too-long';
  return Uint8Array.from(extension.data.subarray(1));
}

/**
 * The CID a server asks a client for: the first `bytes` bytes of SHA-256 over a label and the
 * server random. It is as unpredictable as the random, and a server that rebuilds a half-open
 * handshake from the random it kept (half-open-state.ts) names the same CID again.
 */
export function serverConnectionId(serverRandom: Uint8Array, bytes: number): Uint8Array {
  assert(bytes > 0 && bytes <= CONNECTION_ID_BYTES_MAX, 'server CID length within the limit');
  const digest = createHash('sha256').update('coraft dtls cid').update(serverRandom).digest();
  return Uint8Array.from(digest.subarray(0, bytes));
}

/** Largest content of a tls12_cid record: the inner plaintext (content and its type) is at most 2^14 bytes. */
export const CID_CONTENT_BYTES_MAX = RECORD_PLAINTEXT_BYTES_MAX - 1;

/** Encodes a DTLSInnerPlaintext (RFC 9146 §4): the content, its real type, and `padding` zeros. */
export function encodeInnerPlaintext(type: number, content: Uint8Array, padding = 0): Uint8Array {
  assert(content.length + 1 + padding <= RECORD_PLAINTEXT_BYTES_MAX, 'inner plaintext within 2^14 bytes');
  const inner = new Uint8Array(content.length + 1 + padding);
  writeInnerPlaintext(inner.subarray(0, content.length + 1), type, content);
  return inner;
}

/** Writes a DTLSInnerPlaintext without padding into `out`, which is exactly one byte longer than `content`. */
export function writeInnerPlaintext(out: Uint8Array, type: number, content: Uint8Array): void {
  assert(type > 0 && type <= 0xff, 'the real content type is a non-zero byte');
  assert(out.length === content.length + 1, 'the inner plaintext is the content and its type');
  assert(out.length <= RECORD_PLAINTEXT_BYTES_MAX, 'inner plaintext within 2^14 bytes');
  out.set(content, 0);
  out[content.length] = type;
}

/**
 * Parses a DTLSInnerPlaintext: the last non-zero byte is the real content type, the bytes
 * before it the content (a view), the zeros after it padding. Null when every byte is zero
 * (no type), which RFC 9146 §4 treats as an error.
 */
export function parseInnerPlaintext(inner: Uint8Array): { readonly type: number; readonly content: Uint8Array } | null {
  let at = inner.length - 1;
  while (at >= 0 && inner[at] === 0) at -= 1;
  const type = inner[at];
  if (at < 0 || type === undefined) return null;
  return { type, content: inner.subarray(0, at) };
}
