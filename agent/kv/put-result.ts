/**
 * The commonest KV result, a put that replaced nothing the client asked to see (`prev` null),
 * written and read directly: every replica encodes the result of every write it applies (a
 * session keeps it for retries), and the node that asked decodes it; cbor-x and Fields did
 * that for a map of four small fields.
 *
 * The bytes are exactly cbor-x's for the same map (test/agent/kv/put-result.test.ts): a map with
 * a 16-bit count head; `type` 'put', `rev`, `prev` null, `new` true when the put created its key
 * (absent when it replaced a value, and in results of older versions) and `srev` when given, in that order;
 * integers below 2^32 as the shortest unsigned integer item, larger ones as float64 (as cbor-x
 * writes them). The reader takes exactly that shape and gives null for anything else, which the
 * generic decoder then reads with its checks and messages.
 */
import { assert } from '../../contracts/assert.js';
import type { KvPutResult, KvResult } from './types.js';

const FIELD_TYPE_PUT = Uint8Array.from([0x64, ...asciiBytes('type'), 0x63, ...asciiBytes('put')]);
const FIELD_REV = Uint8Array.from([0x63, ...asciiBytes('rev')]);
const FIELD_PREV_NULL = Uint8Array.from([0x64, ...asciiBytes('prev'), 0xf6]);
const FIELD_NEW_TRUE = Uint8Array.from([0x63, ...asciiBytes('new'), 0xf5]);
const FIELD_SREV = Uint8Array.from([0x64, ...asciiBytes('srev')]);
/** Head of a map with a 16-bit count (cbor-x's for objects), without the count. */
const MAP16 = 0xb9;
/** Most bytes of one integer item as written here: float64. */
const INTEGER_BYTES_MAX = 9;

function asciiBytes(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

/** How many bytes integer `value` (a safe integer >= 0) takes as cbor-x writes it. */
function integerBytes(value: number): number {
  if (value < 24) return 1;
  if (value < 0x100) return 2;
  if (value < 0x10000) return 3;
  return value < 0x100000000 ? 5 : INTEGER_BYTES_MAX;
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
  if (value < 0x100000000) {
    out[at] = 0x1a;
    out[at + 1] = value >>> 24;
    out[at + 2] = (value >>> 16) & 0xff;
    out[at + 3] = (value >>> 8) & 0xff;
    out[at + 4] = value & 0xff;
    return at + 5;
  }
  out[at] = 0xfb;
  new DataView(out.buffer, out.byteOffset, out.byteLength).setFloat64(at + 1, value);
  return at + 9;
}

/**
 * The encoding of `{type: 'put', rev: revision, prev: null[, new: true][, srev: storeRevision]}`
 * (`new` when `created`), or null when
 * a revision is not a safe integer >= 0 (the generic encoder then writes whatever it writes). One
 * allocation, of exactly the encoding's length: every replica encodes the result of every write. A plain
 * Uint8Array, never a Buffer: the sessions keep it as it is (sessions.ts retainedBytes).
 */
export function encodePutResultDirect(
  revision: number,
  storeRevision: number | undefined,
  created: boolean,
): Uint8Array | null {
  const length = putResultBytes(revision, storeRevision, created);
  if (length < 0) return null;
  const out = new Uint8Array(length);
  out[0] = MAP16;
  out[2] = 3 + (created ? 1 : 0) + (storeRevision === undefined ? 0 : 1);
  let at = 3;
  out.set(FIELD_TYPE_PUT, at);
  at += FIELD_TYPE_PUT.length;
  out.set(FIELD_REV, at);
  at = writeInteger(out, at + FIELD_REV.length, revision);
  out.set(FIELD_PREV_NULL, at);
  at += FIELD_PREV_NULL.length;
  if (created) {
    out.set(FIELD_NEW_TRUE, at);
    at += FIELD_NEW_TRUE.length;
  }
  if (storeRevision !== undefined) {
    out.set(FIELD_SREV, at);
    at = writeInteger(out, at + FIELD_SREV.length, storeRevision);
  }
  assert(at === length, 'a put result fills its bytes');
  return out;
}

/** The length of encodePutResultDirect's encoding, without making it; -1 when it gives null. */
function putResultBytes(revision: number, storeRevision: number | undefined, created: boolean): number {
  if (!Number.isSafeInteger(revision) || revision < 0) return -1;
  if (storeRevision !== undefined && (!Number.isSafeInteger(storeRevision) || storeRevision < 0)) return -1;
  let length = 3 + FIELD_TYPE_PUT.length + FIELD_REV.length + integerBytes(revision) + FIELD_PREV_NULL.length;
  if (created) length += FIELD_NEW_TRUE.length;
  if (storeRevision !== undefined) length += FIELD_SREV.length + integerBytes(storeRevision);
  return length;
}

/**
 * A put result kept unencoded: what encodePutResultDirect(revision, storeRevision, created) gives, made
 * only when asked for. A replica that applies a write no local client waits for (a follower) keeps
 * this for a retry instead of the bytes (sessions.ts); `byteLength` is the encoding's, so the
 * sessions count it as every other replica counts the bytes.
 */
export class PutAnswer {
  /** The encoding once asked for: kept, so that later snapshots and retries do not encode it again. */
  private encoded: Uint8Array | null = null;

  private constructor(
    readonly revision: number,
    readonly storeRevision: number,
    readonly created: boolean,
    readonly byteLength: number,
  ) {}

  /** The answer, or null when encodePutResultDirect would not write it (a revision not a safe integer >= 0). */
  static of(revision: number, storeRevision: number, created: boolean): PutAnswer | null {
    const length = putResultBytes(revision, storeRevision, created);
    return length < 0 ? null : new PutAnswer(revision, storeRevision, created, length);
  }

  /**
   * The answer of `result` stamped with `storeRevision`, as the state machine encodes it
   * (encodeKvResult: a put that returned no previous value); null for any other result.
   */
  static ofResult(result: KvResult, storeRevision: number): PutAnswer | null {
    if (result.type !== 'put' || result.previous !== null) return null;
    return PutAnswer.of(result.revision, storeRevision, result.created);
  }

  /** The encoding, byte for byte what encodePutResultDirect gives, made at the first call. */
  bytes(): Uint8Array {
    if (this.encoded !== null) return this.encoded;
    const out = encodePutResultDirect(this.revision, this.storeRevision, this.created);
    assert(out !== null && out.byteLength === this.byteLength, 'a put answer encodes to its length');
    this.encoded = out;
    return out;
  }
}

/** Where the integer item read last ended (readInteger's second result; no object per read). */
let integerEnd = 0;

/**
 * Reads an unsigned integer item of up to 32 bits, or a float64, that is a safe integer >= 0, and
 * sets integerEnd past it; -1 if there is none.
 */
function readInteger(bytes: Uint8Array, at: number): number {
  const head = bytes[at];
  if (head === undefined) return -1;
  if (head < 24) {
    integerEnd = at + 1;
    return head;
  }
  const width = head === 0x18 ? 1 : head === 0x19 ? 2 : head === 0x1a ? 4 : head === 0xfb ? 8 : 0;
  if (width === 0 || at + 1 + width > bytes.length) return -1;
  let value: number;
  if (width === 8) value = new DataView(bytes.buffer, bytes.byteOffset + at + 1, width).getFloat64(0);
  else {
    value = 0;
    for (let i = 1; i <= width; i += 1) value = value * 256 + (bytes[at + i] ?? 0);
  }
  if (!Number.isSafeInteger(value) || value < 0) return -1;
  integerEnd = at + 1 + width;
  return value;
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
  if (count === undefined || count < 3 || count > 5 || !holds(bytes, 3, FIELD_TYPE_PUT)) return null;
  let at = 3 + FIELD_TYPE_PUT.length;
  if (!holds(bytes, at, FIELD_REV)) return null;
  const revision = readInteger(bytes, at + FIELD_REV.length);
  if (revision < 1 || !holds(bytes, integerEnd, FIELD_PREV_NULL)) return null;
  at = integerEnd + FIELD_PREV_NULL.length;
  const created = holds(bytes, at, FIELD_NEW_TRUE);
  if (created) at += FIELD_NEW_TRUE.length;
  const fieldsLeft = count - 3 - (created ? 1 : 0);
  if (fieldsLeft === 0) return at === bytes.length ? { type: 'put', revision, previous: null, created } : null;
  if (fieldsLeft !== 1 || !holds(bytes, at, FIELD_SREV)) return null;
  const storeRevision = readInteger(bytes, at + FIELD_SREV.length);
  if (storeRevision < 0 || integerEnd !== bytes.length) return null;
  return { storeRevision, type: 'put', revision, previous: null, created };
}
