/**
 * The items of a KV snapshot after its entries (sessions, request ids, history, quota, leases),
 * encoded into one buffer sized to a bound of them. Encoding them one by one with encodeCbor
 * grew cbor-x's shared output buffer to four times the largest (the history window holds recent
 * values: 4 MiB under 4 KiB writes, so a 16 MiB buffer), then copied each out and joined the
 * copies: about six times the tail's bytes allocated per snapshot. Here cbor-x writes them one
 * after the other into a buffer of ours, which is the result: the same bytes, allocated once.
 *
 * The two long lists, the request ids (8,192 by default) and the history window (10,000
 * revisions), are written here without cbor-x ({@link DirectItem}): given to cbor-x, each listed
 * element was an array and a Buffer view made for the snapshot, four heap objects per request id
 * with its listing, which a snapshot every few seconds under load left for full collections
 * (they outlive the young generation while the snapshot is taken): 9-12 % of what each agent's
 * full collections freed at 64 clients (heap sampling, issue 16). The bytes are cbor-x's
 * (test/agent/kv/snapshot-tail.test.ts); an element that only cbor-x writes as it does (text with
 * a surrogate, a number that is not a safe integer >= 0) sends the whole item through cbor-x.
 */
import { Buffer } from 'node:buffer';
import { Encoder } from 'cbor-x';
import { assert } from '../../contracts/assert.js';
import {
  CBOR_OUTPUT_BYTES_INITIAL,
  encodeCbor,
  hasSurrogate,
  writeCborBytes,
  writeCborHead,
  writeCborText,
  writeCborUint,
} from './cbor-output.js';
import { asByteString } from './fields.js';
import { REQUEST_ID_BYTES, requestIdEntries, type RequestIdColumns, type RequestIdEntry } from './request-ids.js';
import type { KvChange } from './history.js';
import type { KvSnapshotImage } from './snapshot-image.js';

/** Most bytes of a CBOR head or a number (RFC 8949 §3). */
const ITEM_BYTES_MAX = 9;
/**
 * Room cbor-x wants left in a buffer to start an encoding there: with less than 2,048 bytes (and
 * its 10-byte end margin) it takes a new buffer, and the tail would be encoded again piece by piece.
 */
const CBOR_X_MARGIN_BYTES = 0x800 + 64;
/** CBOR's null (RFC 8949 §3.3), a deleted key's value in the history window. */
const CBOR_NULL = 0xf6;

/** Encodes like the snapshot's encoder (the options decide the bytes; the output buffer is shared anyway). */
const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });

/** The fields of an image besides its two lists of the same shape whatever the state, entries and request ids. */
export type KvSnapshotFields = Omit<KvSnapshotImage, 'entries' | 'requestIds'>;

/** What the tail encodes besides the entries: the request ids as columns, as the table lists them. */
export type KvSnapshotTail = KvSnapshotFields & { readonly requestIds: RequestIdColumns };

/** A tail item written without cbor-x, in the bytes cbor-x gives for {@link plain}. */
export abstract class DirectItem {
  /** At least the bytes {@link write} takes. */
  abstract readonly bound: number;
  /**
   * Writes the item at `at` of `out` (with `bound` bytes of room); returns where it ends, or -1 to
   * leave it to cbor-x.
   */
  abstract write(out: Buffer, at: number): number;
  /** The item as values cbor-x encodes to the same bytes. */
  abstract plain(): unknown;
}

/** Whether `value` may be written by writeCborUint as cbor-x writes it. */
function directUint(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** The request ids: `[[requestId, clientId, seq, usedMs], ...]`, oldest first. */
class RequestIdsItem extends DirectItem {
  readonly bound: number;

  constructor(private readonly columns: RequestIdColumns) {
    super();
    let bound = ITEM_BYTES_MAX;
    for (let i = 0; i < columns.count; i += 1) bound += stringRoom(columns.clientIds[i] ?? '');
    this.bound = bound + columns.count * (3 * ITEM_BYTES_MAX + bytesRoom(REQUEST_ID_BYTES));
  }

  write(out: Buffer, at: number): number {
    const { count, ids, clientIds, seqs, usedMs } = this.columns;
    let end = writeCborHead(out, at, 4, count);
    for (let i = 0; i < count; i += 1) {
      const clientId = clientIds[i] ?? '';
      const seq = seqs[i] ?? 0;
      const used = usedMs[i] ?? 0;
      if (hasSurrogate(clientId) || !directUint(seq) || !directUint(used)) return -1;
      end = writeCborHead(out, end, 4, 4);
      // The id's bytes copied one by one: a view of each would be an object per id.
      end = writeCborHead(out, end, 2, REQUEST_ID_BYTES);
      for (let b = i * REQUEST_ID_BYTES; b < (i + 1) * REQUEST_ID_BYTES; b += 1) out[end++] = ids[b] ?? 0;
      end = writeCborText(out, end, clientId);
      end = writeCborUint(out, end, seq);
      end = writeCborUint(out, end, used);
    }
    return end;
  }

  plain(): unknown {
    return requestIdsPlain(requestIdEntries(this.columns));
  }
}

/** The history window: `[[revision, key, value | null], ...]`, in revision order. */
class HistoryItem extends DirectItem {
  readonly bound: number;

  constructor(private readonly changes: readonly KvChange[]) {
    super();
    let bound = ITEM_BYTES_MAX;
    for (const c of changes) bound += 2 * ITEM_BYTES_MAX + stringRoom(c.key) + bytesRoom(c.value);
    this.bound = bound;
  }

  write(out: Buffer, at: number): number {
    let end = writeCborHead(out, at, 4, this.changes.length);
    for (const c of this.changes) {
      if (hasSurrogate(c.key) || !directUint(c.revision)) return -1;
      end = writeCborHead(out, end, 4, 3);
      end = writeCborUint(out, end, c.revision);
      end = writeCborText(out, end, c.key);
      if (c.value === null) out[end++] = CBOR_NULL;
      else end = writeCborBytes(out, end, c.value);
    }
    return end;
  }

  plain(): unknown {
    return this.changes.map((c) => [c.revision, c.key, c.value === null ? null : asByteString(c.value)]);
  }
}

/** The request ids item of a tail, written without cbor-x. */
export function requestIdsItem(columns: RequestIdColumns): DirectItem {
  return new RequestIdsItem(columns);
}

/** The request ids item of a tail as cbor-x encodes it (any entries: a test writes malformed ones). */
export function requestIdsPlain(entries: readonly RequestIdEntry[]): unknown[] {
  return entries.map((r) => [asByteString(r.requestId), r.clientId, r.seq, r.usedMs]);
}

/** The history item of a tail, written without cbor-x. */
export function historyItem(changes: readonly KvChange[]): DirectItem {
  return new HistoryItem(changes);
}

/** `item` as cbor-x encodes it: a direct item's plain values, anything else itself. */
export function plainItem(item: unknown): unknown {
  return item instanceof DirectItem ? item.plain() : item;
}

/** Room cbor-x asks for a text string: three bytes per UTF-16 unit, and its head. */
function stringRoom(text: string): number {
  return ITEM_BYTES_MAX + 3 * text.length;
}

function bytesRoom(bytes: Uint8Array | number | null): number {
  return ITEM_BYTES_MAX + (typeof bytes === 'number' ? bytes : (bytes?.byteLength ?? 0));
}

/** At least the bytes the tail items of `tail` take (snapshot.ts tailItems), its direct items' bounds included. */
export function tailBytesBound(tail: KvSnapshotFields, items: readonly unknown[]): number {
  let bound = CBOR_X_MARGIN_BYTES + 16 * ITEM_BYTES_MAX;
  for (const s of tail.sessions) {
    bound += 5 * ITEM_BYTES_MAX + stringRoom(s.clientId);
    for (const kept of s.responses) bound += 2 * ITEM_BYTES_MAX + bytesRoom(kept.response);
  }
  for (const item of items) if (item instanceof DirectItem) bound += item.bound;
  return bound + tail.leases.length * 4 * ITEM_BYTES_MAX;
}

/**
 * The encodings of `items` joined, written into one buffer of `bound` bytes (direct items without
 * cbor-x); when they do not fit (a bound too small, which is a bug) or a direct item leaves itself
 * to cbor-x, each is encoded on its own by cbor-x and the pieces joined.
 */
export function encodeTailItems(items: readonly unknown[], bound: number): Uint8Array {
  const room = Buffer.allocUnsafeSlow(bound);
  let end = 0;
  let contiguous = true;
  for (const item of items) {
    if (item instanceof DirectItem) {
      const written = end + item.bound <= room.byteLength ? item.write(room, end) : -1;
      contiguous &&= written >= 0;
      if (!contiguous) break;
      end = written;
      continue;
    }
    encoder.useBuffer(room.subarray(end));
    const bytes = encoder.encode(item);
    contiguous &&= bytes.buffer === room.buffer && bytes.byteOffset === room.byteOffset + end;
    if (!contiguous) break;
    end += bytes.byteLength;
  }
  // Later encodings, which callers keep as views, must not land in the result.
  encoder.useBuffer(Buffer.allocUnsafeSlow(CBOR_OUTPUT_BYTES_INITIAL));
  assert(end <= bound, 'the tail items fit their bound');
  if (contiguous) return room.subarray(0, end);
  return new Uint8Array(Buffer.concat(items.map((item) => encodeCbor(encoder, plainItem(item)))));
}
