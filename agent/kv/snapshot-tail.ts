/**
 * The items of a KV snapshot after its entries (sessions, request ids, history, quota, leases),
 * encoded into one buffer sized to a bound of them. Encoding them one by one with encodeCbor
 * grew cbor-x's shared output buffer to four times the largest (the history window holds recent
 * values: 4 MiB under 4 KiB writes, so a 16 MiB buffer), then copied each out and joined the
 * copies: about six times the tail's bytes allocated per snapshot. Here cbor-x writes them one
 * after the other into a buffer of ours, which is the result: the same bytes, allocated once.
 */
import { Buffer } from 'node:buffer';
import { Encoder } from 'cbor-x';
import { CBOR_OUTPUT_BYTES_INITIAL, encodeCbor } from './cbor-output.js';
import type { KvSnapshotImage } from './snapshot-image.js';

/** Most bytes of a CBOR head or a number (RFC 8949 §3), and cbor-x's own margin at a buffer's end. */
const ITEM_BYTES_MAX = 9;
const CBOR_X_MARGIN_BYTES = 64;

/** Encodes like the snapshot's encoder (the options decide the bytes; the output buffer is shared anyway). */
const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });

/** Room cbor-x asks for a text string: three bytes per UTF-16 unit, and its head. */
function stringRoom(text: string): number {
  return ITEM_BYTES_MAX + 3 * text.length;
}

function bytesRoom(bytes: Uint8Array | null): number {
  return ITEM_BYTES_MAX + (bytes?.byteLength ?? 0);
}

/** At least the bytes cbor-x needs to encode the tail items of `image` (snapshot.ts tailItems) in one buffer. */
export function tailBytesBound(image: Omit<KvSnapshotImage, 'entries'>): number {
  let bound = CBOR_X_MARGIN_BYTES + 16 * ITEM_BYTES_MAX;
  for (const s of image.sessions) {
    bound += 5 * ITEM_BYTES_MAX + stringRoom(s.clientId);
    for (const kept of s.responses) bound += 2 * ITEM_BYTES_MAX + bytesRoom(kept.response);
  }
  for (const r of image.requestIds) bound += 3 * ITEM_BYTES_MAX + bytesRoom(r.requestId) + stringRoom(r.clientId);
  for (const c of image.history) bound += 2 * ITEM_BYTES_MAX + stringRoom(c.key) + bytesRoom(c.value);
  return bound + image.leases.length * 4 * ITEM_BYTES_MAX;
}

/**
 * The encodings of `items` joined, written into one buffer of `bound` bytes; when they do not
 * fit (a bound too small, which is a bug), each is encoded on its own and the pieces joined.
 */
export function encodeTailItems(items: readonly unknown[], bound: number): Uint8Array {
  const room = Buffer.allocUnsafeSlow(bound);
  encoder.useBuffer(room);
  let end = 0;
  let contiguous = true;
  for (const item of items) {
    const bytes = encoder.encode(item);
    contiguous &&= bytes.buffer === room.buffer && bytes.byteOffset === room.byteOffset + end;
    end += bytes.byteLength;
  }
  // Later encodings, which callers keep as views, must not land in the result.
  encoder.useBuffer(Buffer.allocUnsafeSlow(CBOR_OUTPUT_BYTES_INITIAL));
  if (contiguous) return room.subarray(0, end);
  return new Uint8Array(Buffer.concat(items.map((item) => encodeCbor(encoder, item))));
}
