/**
 * A fast reader of the KV snapshot layouts this code writes (versions 3 to 5, snapshot.ts), for
 * a restart on data (issue 17: the agent's own start-up ≤ 300 ms). decodeKvSnapshot's general
 * path has cbor-x build the whole image as generic items (an array per entry, a Buffer object
 * per byte string), then checks them and builds the image from them: on a restart with a
 * 16 MiB store of 4 KiB values, about half of the time spent restoring the store and several
 * collections of the objects it dropped at once. Here the bytes are read in place: each field
 * straight into the image, with the same checks.
 *
 * It reads only what cbor-x writes for a snapshot: definite lengths, integers below 2^32 in their
 * shortest head and larger ones as float64 (cbor-x's way), text that is well-formed UTF-8 without
 * U+FFFD, no tags, no maps. On anything else, or on any check that fails, it gives up (null) and
 * the general path decodes the bytes, so that an image it accepts is exactly the image the
 * general path gives (test/agent/kv/snapshot-read.test.ts checks this on valid, altered and
 * truncated images), and errors keep their messages. Byte strings are views of the image where
 * restore copies or drops them anyway (values, history values, request ids, state-machine.ts and
 * history.ts restoredChanges); session responses, which sessions keep as given, are copies.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../../contracts/assert.js';
import type { StoredImage } from '../../contracts/persistence.js';
import { REQUEST_ID_BYTES, keyOf } from './request-ids.js';
import type { RequestIdEntry } from './request-ids.js';
import type { RetainedResponse, SessionEntry } from './sessions.js';
import type { KvChange } from './history.js';
import type { KvLease } from './leases.js';
import type { KvStored } from './store.js';
import type { KvSnapshotImage } from './snapshot-image.js';
import { QUOTA_BYTES_MAX } from './quota.js';

/** Thrown inside the reader when the bytes leave what it reads; never escapes {@link readKvSnapshotFast}. */
class GiveUp extends Error {}
/** One instance, made once: giving up costs no stack trace. */
const GIVE_UP = new GiveUp('not a snapshot the fast reader reads');

/** The CBOR major types read here (RFC 8949 §3.1). */
const UINT = 0;
const BYTES = 2;
const TEXT = 3;
const ARRAY = 4;

/**
 * Bytes of the window a cursor over a stored image reads at a time (a byte string longer than that
 * is copied from storage straight into its own buffer): each read copies the storage records it
 * covers (256 KiB each on LMDB, checked against their CRC-32s), so a window of four records reads
 * each record about 1.25 times.
 */
export const STORED_WINDOW_BYTES = 1024 * 1024;

/**
 * A cursor over the image's bytes: the whole image (`source` null), or a window of `bytes` at
 * `base` of a stored image that reads on as the cursor moves (issue 17: a restore from the leader's
 * snapshot never holds the image whole). Over a stored image, byte strings are copies, never views
 * of the window, which the next read reuses.
 */
class Cursor {
  at = 0;
  /** The offset in the image of `bytes[0]`. */
  private base = 0;
  /** Over a stored image, the buffer that holds the window. */
  private windowBuffer: Buffer | null = null;
  private view: DataView;

  constructor(
    private bytes: Buffer,
    private readonly source: StoredImage | null = null,
    /** The image's size, bytes. */
    readonly total: number = bytes.length,
    /** Over a stored image, the bytes read at a time. */
    private readonly windowBytes: number = STORED_WINDOW_BYTES,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** True once every byte of the image was read. */
  atEnd(): boolean {
    return this.base + this.at === this.total;
  }

  /** Makes `n` bytes from `at` readable in `bytes`; gives up past the end of the image. */
  private need(n: number): void {
    if (this.at + n <= this.bytes.length) return;
    const from = this.base + this.at;
    if (this.source === null || from + n > this.total) throw GIVE_UP;
    const size = Math.min(Math.max(this.windowBytes, n), this.total - from);
    // The window's buffer is reused: nothing read from it is a view (see byteView).
    if (this.windowBuffer === null || this.windowBuffer.length < size) this.windowBuffer = Buffer.allocUnsafeSlow(size);
    const window = this.windowBuffer.subarray(0, size);
    this.source.copyTo(from, window);
    this.bytes = window;
    this.view = new DataView(window.buffer, window.byteOffset, window.byteLength);
    this.base = from;
    this.at = 0;
  }

  /** The argument of a head of major type `major` below 2^32. */
  head(major: number): number {
    this.need(1);
    const { bytes } = this;
    const initial = bytes[this.at] ?? 0;
    if (initial >> 5 !== major) throw GIVE_UP;
    const info = initial & 31;
    this.at += 1;
    if (info < 24) return info;
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
    if (size === 0) throw GIVE_UP;
    this.need(size);
    const value =
      size === 1
        ? (this.bytes[this.at] ?? 0)
        : size === 2
          ? this.view.getUint16(this.at)
          : this.view.getUint32(this.at);
    this.at += size;
    return value;
  }

  /** An array's length. */
  array(): number {
    return this.head(ARRAY);
  }

  /** A safe integer within [min, max]: an unsigned head, or a float64 holding one (cbor-x's way above 2^32). */
  integer(min: number, max: number = Number.MAX_SAFE_INTEGER): number {
    let value: number;
    this.need(1);
    if (this.bytes[this.at] === 0xfb) {
      this.need(9);
      value = this.view.getFloat64(this.at + 1);
      this.at += 9;
      if (!Number.isSafeInteger(value)) throw GIVE_UP;
    } else {
      value = this.head(UINT);
    }
    if (value < min || value > max) throw GIVE_UP;
    return value;
  }

  /** Where in `bytes` the `length` bytes of a string start, made readable; the cursor moves past them. */
  private span(length: number): number {
    this.need(length);
    const start = this.at;
    this.at += length;
    return start;
  }

  /**
   * A byte string: a view of the image (what readBytes gives of cbor-x's result) over the whole
   * image, a copy over a stored one.
   */
  byteView(): Uint8Array {
    if (this.source !== null) return this.byteCopy();
    const length = this.head(BYTES);
    const start = this.span(length);
    return new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + start, length);
  }

  /** A byte string, as a copy; one longer than a window is copied from storage straight into its buffer. */
  byteCopy(): Uint8Array {
    const length = this.head(BYTES);
    if (this.source !== null && length > this.windowBytes) {
      const from = this.base + this.at;
      if (from + length > this.total) throw GIVE_UP;
      const copy = new Uint8Array(length);
      this.source.copyTo(from, copy);
      // Past the window: the next read fills it again from there.
      this.base = from + length;
      this.at = 0;
      this.bytes = this.bytes.subarray(0, 0);
      return copy;
    }
    const start = this.span(length);
    return new Uint8Array(this.bytes.subarray(start, start + length));
  }

  /** A text string; one that is not well-formed UTF-8 (decoded with a U+FFFD) goes to the general path. */
  text(): string {
    const length = this.head(TEXT);
    const start = this.span(length);
    const text = this.bytes.toString('utf8', start, start + length);
    if (text.includes('\uFFFD')) throw GIVE_UP;
    return text;
  }

  /** A non-empty text string. */
  nonEmptyText(): string {
    const text = this.text();
    if (text.length === 0) throw GIVE_UP;
    return text;
  }

  boolean(): boolean {
    this.need(1);
    const initial = this.bytes[this.at];
    if (initial !== 0xf4 && initial !== 0xf5) throw GIVE_UP;
    this.at += 1;
    return initial === 0xf5;
  }

  /** A byte string (a view of the image) or null (0xf6). */
  nullableBytes(): Uint8Array | null {
    this.need(1);
    if (this.bytes[this.at] !== 0xf6) return this.byteView();
    this.at += 1;
    return null;
  }

  /** An array of exactly `length` items. */
  tuple(length: number): void {
    if (this.array() !== length) throw GIVE_UP;
  }
}

function readEntries(c: Cursor, lastApplied: number, leased: boolean): (readonly [string, KvStored])[] {
  const count = c.array();
  const entries: (readonly [string, KvStored])[] = [];
  let previousKey: string | null = null;
  for (let i = 0; i < count; i += 1) {
    c.tuple(leased ? 4 : 3);
    const key = c.nonEmptyText();
    if (previousKey !== null && !(previousKey < key)) throw GIVE_UP;
    const value = c.byteView();
    const revision = c.integer(1, lastApplied);
    const lease = leased ? c.integer(0, lastApplied) : 0;
    entries.push([key, { value, revision, lease }]);
    previousKey = key;
  }
  return entries;
}

function readSessions(c: Cursor, clockMs: number): SessionEntry[] {
  const count = c.array();
  const sessions: SessionEntry[] = [];
  const seen = new Set<string>();
  let lastUsedMin = 0;
  for (let i = 0; i < count; i += 1) {
    c.tuple(4);
    const clientId = c.nonEmptyText();
    if (seen.has(clientId)) throw GIVE_UP;
    const floor = c.integer(1);
    const lastUsedMs = c.integer(lastUsedMin, clockMs);
    const responses: RetainedResponse[] = [];
    let seqMin = floor;
    const kept = c.array();
    for (let k = 0; k < kept; k += 1) {
      c.tuple(2);
      const seq = c.integer(seqMin);
      responses.push({ seq, response: c.byteCopy() });
      seqMin = seq + 1;
    }
    sessions.push({ clientId, floor, lastUsedMs, responses });
    seen.add(clientId);
    lastUsedMin = lastUsedMs;
  }
  return sessions;
}

function readRequestIds(c: Cursor, clockMs: number): RequestIdEntry[] {
  const count = c.array();
  const entries: RequestIdEntry[] = [];
  const seen = new Set<string>();
  let usedMin = 0;
  for (let i = 0; i < count; i += 1) {
    c.tuple(4);
    // A view, as the image's values: the table copies each id's bytes into its ring (request-ids.ts).
    const requestId = c.byteView();
    if (requestId.byteLength !== REQUEST_ID_BYTES) throw GIVE_UP;
    const key = keyOf(requestId);
    if (seen.has(key)) throw GIVE_UP;
    const clientId = c.nonEmptyText();
    const seq = c.integer(1);
    const usedMs = c.integer(usedMin, clockMs);
    entries.push({ requestId, clientId, seq, usedMs });
    seen.add(key);
    usedMin = usedMs;
  }
  return entries;
}

function readHistory(c: Cursor, compacted: number, storeRevision: number): KvChange[] {
  const count = c.array();
  const changes: KvChange[] = [];
  let revisionMin = compacted + 1;
  for (let i = 0; i < count; i += 1) {
    c.tuple(3);
    const revision = c.integer(revisionMin, storeRevision);
    const key = c.nonEmptyText();
    changes.push({ revision, key, value: c.nullableBytes() });
    revisionMin = revision;
  }
  return changes;
}

function readLeases(c: Cursor, lastApplied: number, entries: readonly (readonly [string, KvStored])[]): KvLease[] {
  const count = c.array();
  const leases: KvLease[] = [];
  let idMin = 1;
  for (let i = 0; i < count; i += 1) {
    c.tuple(3);
    const id = c.integer(idMin, lastApplied);
    const ttlMs = c.integer(1);
    leases.push({ id, ttlMs, refreshIndex: c.integer(id, lastApplied) });
    idMin = id + 1;
  }
  const ids = new Set(leases.map((lease) => lease.id));
  for (const [, stored] of entries) if (stored.lease !== 0 && !ids.has(stored.lease)) throw GIVE_UP;
  return leases;
}

/** The items of each version read here, after the format and the version. */
const ITEMS: Readonly<Record<number, number>> = { 3: 10, 4: 12, 5: 13 };

function readImage(c: Cursor, format: string): KvSnapshotImage {
  const items = c.array();
  if (c.text() !== format) throw GIVE_UP;
  const version = c.integer(3, 5);
  if (items !== ITEMS[version]) throw GIVE_UP;
  const lastApplied = c.integer(0);
  const clockMs = c.integer(0);
  const entries = readEntries(c, lastApplied, version === 5);
  let revisionMin = 0;
  for (const [, stored] of entries) if (stored.revision > revisionMin) revisionMin = stored.revision;
  const sessions = readSessions(c, clockMs);
  const requestIds = readRequestIds(c, clockMs);
  const storeRevision = c.integer(revisionMin, lastApplied);
  const historyCompacted = c.integer(0, storeRevision);
  const history = readHistory(c, historyCompacted, storeRevision);
  const quotaBytes = version >= 4 ? c.integer(0, QUOTA_BYTES_MAX) : 0;
  const quotaAlarm = version >= 4 ? c.boolean() : false;
  const leases = version === 5 ? readLeases(c, lastApplied, entries) : [];
  if (!c.atEnd()) throw GIVE_UP;
  const image: KvSnapshotImage = {
    lastApplied,
    clockMs,
    entries,
    sessions,
    requestIds,
    storeRevision,
    historyCompacted,
    history,
    quotaBytes,
    quotaAlarm,
    leases,
  };
  return image;
}

/**
 * The image in `bytes` when it is a snapshot of version 3 to 5 as cbor-x writes it and passes
 * every check of decodeKvSnapshot (snapshot.ts), which then gives the same image; null otherwise
 * (the general path then decodes it, or throws its error). `format` is the tag the image opens with.
 */
export function readKvSnapshotFast(bytes: Uint8Array, format: string): KvSnapshotImage | null {
  if (bytes.byteLength === 0) return null;
  return readOrGiveUp(new Cursor(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)), format);
}

/**
 * As readKvSnapshotFast, of a stored image read `windowBytes` at a time (StoredImage: the image is
 * never held whole); every byte string of the result is a copy of its own. Null as readKvSnapshotFast.
 */
export function readStoredKvSnapshot(
  image: StoredImage,
  format: string,
  windowBytes = STORED_WINDOW_BYTES,
): KvSnapshotImage | null {
  assert(Number.isSafeInteger(windowBytes) && windowBytes >= 1, 'a window holds at least a byte');
  if (image.byteLength === 0) return null;
  return readOrGiveUp(new Cursor(Buffer.alloc(0), image, image.byteLength, windowBytes), format);
}

function readOrGiveUp(cursor: Cursor, format: string): KvSnapshotImage | null {
  try {
    return readImage(cursor, format);
  } catch (error) {
    if (error === GIVE_UP) return null;
    throw error;
  }
}
