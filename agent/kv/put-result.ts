/**
 * The commonest KV result, a put that replaced nothing the client asked to see (`prev` null),
 * written and read directly: every replica encodes the result of every write it applies (a
 * session keeps it for retries), and the node that asked decodes it; cbor-x and Fields did
 * that for a map of four small fields.
 *
 * The bytes are exactly cbor-x's for the same map (test/agent/kv/put-result.test.ts): a map with
 * a 16-bit count head; `type` 'put', `rev`, `prev` null and `srev` when given, in that order;
 * integers below 2^32 as the shortest unsigned integer item, larger ones as float64 (as cbor-x
 * writes them). The reader takes exactly that shape and gives null for anything else, which the
 * generic decoder then reads with its checks and messages.
 */
import type { KvPutResult } from './types.js';

const FIELD_TYPE_PUT = Uint8Array.from([0x64, ...asciiBytes('type'), 0x63, ...asciiBytes('put')]);
const FIELD_REV = Uint8Array.from([0x63, ...asciiBytes('rev')]);
const FIELD_PREV_NULL = Uint8Array.from([0x64, ...asciiBytes('prev'), 0xf6]);
const FIELD_SREV = Uint8Array.from([0x64, ...asciiBytes('srev')]);
/** Head of a map with a 16-bit count (cbor-x's for objects), without the count. */
const MAP16 = 0xb9;
/** Most bytes of one integer item as written here: float64. */
const INTEGER_BYTES_MAX = 9;

function asciiBytes(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

/** The bytes of integer `value` (a safe integer >= 0) as cbor-x writes it, into `out` at `at`; returns the end. */
function writeInteger(out: Uint8Array, at: number, value: number): number {
  if (value < 24) {
    out[at] = value;
    return at + 1;
  }
  if (value < 0x100) {
    out[at] = 0x18;
    out[at + 1] = value;
    return at + 2;
  }
  if (value < 0x10000) {
    out[at] = 0x19;
    out[at + 1] = value >>> 8;
    out[at + 2] = value & 0xff;
    return at + 3;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (value < 0x100000000) {
    out[at] = 0x1a;
    view.setUint32(at + 1, value);
    return at + 5;
  }
  out[at] = 0xfb;
  view.setFloat64(at + 1, value);
  return at + 9;
}

/**
 * The encoding of `{type: 'put', rev: revision, prev: null[, srev: storeRevision]}`, or null when
 * a revision is not a safe integer >= 0 (the generic encoder then writes whatever it writes).
 */
export function encodePutResultDirect(revision: number, storeRevision: number | undefined): Uint8Array | null {
  if (!Number.isSafeInteger(revision) || revision < 0) return null;
  if (storeRevision !== undefined && (!Number.isSafeInteger(storeRevision) || storeRevision < 0)) return null;
  const out = new Uint8Array(
    3 + FIELD_TYPE_PUT.length + FIELD_REV.length + FIELD_PREV_NULL.length + FIELD_SREV.length + 2 * INTEGER_BYTES_MAX,
  );
  out[0] = MAP16;
  out[2] = storeRevision === undefined ? 3 : 4;
  let at = 3;
  out.set(FIELD_TYPE_PUT, at);
  at += FIELD_TYPE_PUT.length;
  out.set(FIELD_REV, at);
  at = writeInteger(out, at + FIELD_REV.length, revision);
  out.set(FIELD_PREV_NULL, at);
  at += FIELD_PREV_NULL.length;
  if (storeRevision !== undefined) {
    out.set(FIELD_SREV, at);
    at = writeInteger(out, at + FIELD_SREV.length, storeRevision);
  }
  return out.slice(0, at);
}

/** Reads an unsigned integer item of up to 32 bits, or a float64, that is a safe integer >= 0; null if not. */
function readInteger(bytes: Uint8Array, at: number): { value: number; end: number } | null {
  const head = bytes[at];
  if (head === undefined) return null;
  if (head < 24) return { value: head, end: at + 1 };
  const width = head === 0x18 ? 1 : head === 0x19 ? 2 : head === 0x1a ? 4 : head === 0xfb ? 8 : 0;
  if (width === 0 || at + 1 + width > bytes.length) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset + at + 1, width);
  const value =
    width === 1
      ? view.getUint8(0)
      : width === 2
        ? view.getUint16(0)
        : width === 4
          ? view.getUint32(0)
          : view.getFloat64(0);
  return Number.isSafeInteger(value) && value >= 0 ? { value, end: at + 1 + width } : null;
}

/** True when `bytes` holds `item` at `at`. */
function holds(bytes: Uint8Array, at: number, item: Uint8Array): boolean {
  if (at + item.length > bytes.length) return false;
  for (let i = 0; i < item.length; i += 1) if (bytes[at + i] !== item[i]) return false;
  return true;
}

/** The put result `bytes` holds when it has the shape written above; null for anything else. */
export function decodePutResultDirect(bytes: Uint8Array): KvPutResult | null {
  if (bytes.length < 3 || bytes[0] !== MAP16 || bytes[1] !== 0) return null;
  const count = bytes[2];
  if ((count !== 3 && count !== 4) || !holds(bytes, 3, FIELD_TYPE_PUT)) return null;
  let at = 3 + FIELD_TYPE_PUT.length;
  if (!holds(bytes, at, FIELD_REV)) return null;
  const rev = readInteger(bytes, at + FIELD_REV.length);
  if (rev === null || rev.value < 1 || !holds(bytes, rev.end, FIELD_PREV_NULL)) return null;
  at = rev.end + FIELD_PREV_NULL.length;
  if (count === 3) return at === bytes.length ? { type: 'put', revision: rev.value, previous: null } : null;
  if (!holds(bytes, at, FIELD_SREV)) return null;
  const srev = readInteger(bytes, at + FIELD_SREV.length);
  if (srev === null || srev.end !== bytes.length) return null;
  return { storeRevision: srev.value, type: 'put', revision: rev.value, previous: null };
}
