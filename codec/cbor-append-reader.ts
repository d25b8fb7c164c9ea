/**
 * A direct reader of the one large CBOR message a follower decodes again and again: an
 * AppendEntriesRequest exactly as cbor-writer.ts writes it. cbor-x's generic decoder builds an
 * array per entry and the positional reader then builds the entry from it; this reads the bytes
 * straight into the entries (each command a plain Uint8Array view of the input, as cbor-x gives
 * it), which saves an array per entry and the generic decoder's dispatch.
 *
 * It runs only on input that cbor-scan.ts admitted (well-formed, valid UTF-8, lengths within the
 * input and the limits of lists and data items), and it only ever accepts: anything that is not
 * a valid AppendEntriesRequest in the preferred form its fields are written in (a head longer than
 * needed, a leader id that is not plain printable ASCII, an integer beyond 2^53 - 1, a command
 * above entryBytesMax, more entries than entriesPerMessageMax, ...) makes it return null, and the
 * caller decodes the input the generic way, which accepts what it may and refuses the rest with
 * the error naming the field. So it changes which path reads a message, never whether it is
 * accepted nor what it decodes to (test/codec/cbor-append-reader.test.ts checks both against the
 * generic path).
 */
import type { EntryType, LogEntry } from '../contracts/log.js';
import type { AppendEntriesRequest } from '../contracts/messages.js';
import type { CodecLimits } from '../contracts/serializer.js';
import { NODE_ID_CHARS_MAX } from './limits.js';
import { FIELD_ORDER, MESSAGE_TYPE_CODE, WIRE_VERSION } from './layout.js';

const MAJOR_UINT = 0;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const TWO_POW_32 = 0x1_0000_0000;
/** The high 32 bits of a safe integer are below 2^21. */
const SAFE_HIGH_LIMIT = 0x20_0000;
/** The first bytes of an AppendEntriesRequest: its array head, the version and the type code. */
const PREFIX = [
  (MAJOR_ARRAY << 5) | (2 + FIELD_ORDER.AppendEntriesRequest.length),
  WIRE_VERSION,
  MESSAGE_TYPE_CODE.AppendEntriesRequest,
];
/** Entry types by code (ENTRY_TYPE_CODE). */
const ENTRY_TYPES_BY_CODE: readonly (EntryType | undefined)[] = [undefined, 'command', 'noop', 'config'];
/** The head of an entry: an array of its 4 fields. */
const ENTRY_HEAD = (MAJOR_ARRAY << 5) | 4;

/** A cursor over the input; `at` is -1 once the input is not what the reader accepts. */
class Cursor {
  at: number;

  constructor(
    readonly bytes: Uint8Array,
    start: number,
  ) {
    this.at = start;
  }

  /** The argument of a head of major type `major` in its shortest form, or -1 (and the cursor failed). */
  head(major: number): number {
    const bytes = this.bytes;
    const at = this.at;
    if (at < 0 || at >= bytes.length) return this.fail();
    const initial = bytes[at] ?? 0;
    if (initial >>> 5 !== major) return this.fail();
    const info = initial & 0x1f;
    if (info < 24) {
      this.at = at + 1;
      return info;
    }
    let value: number;
    let next: number;
    if (info === 24) {
      value = bytes[at + 1] ?? 0;
      next = at + 2;
      if (value < 24) return this.fail();
    } else if (info === 25) {
      value = ((bytes[at + 1] ?? 0) << 8) | (bytes[at + 2] ?? 0);
      next = at + 3;
      if (value < 0x100) return this.fail();
    } else if (info === 26) {
      value = word(bytes, at + 1);
      next = at + 5;
      if (value < 0x10000) return this.fail();
    } else if (info === 27) {
      const high = word(bytes, at + 1);
      if (high === 0 || high >= SAFE_HIGH_LIMIT) return this.fail();
      value = high * TWO_POW_32 + word(bytes, at + 5);
      next = at + 9;
    } else {
      return this.fail();
    }
    if (next > bytes.length) return this.fail();
    this.at = next;
    return value;
  }

  fail(): -1 {
    this.at = -1;
    return -1;
  }
}

/** The big-endian 32-bit word at `at` (the scan checked that the input holds it). */
function word(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at] ?? 0) << 24) | ((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0)) >>> 0
  );
}

/** A leader id of plain printable ASCII within the node id bounds, or null (read the generic way). */
function asciiNodeId(c: Cursor): string | null {
  const length = c.head(MAJOR_TEXT);
  if (length < 1 || length > NODE_ID_CHARS_MAX) return null;
  const bytes = c.bytes;
  const start = c.at;
  if (start + length > bytes.length) return null;
  let id = '';
  for (let i = start; i < start + length; i += 1) {
    const byte = bytes[i] ?? 0;
    // Printable ASCII only: control characters and anything beyond ASCII go the generic way.
    if (byte < 0x20 || byte > 0x7e) return null;
    id += String.fromCharCode(byte);
  }
  c.at = start + length;
  return id;
}

/** Reads the entries, or null. */
function readEntries(c: Cursor, limits: CodecLimits): LogEntry[] | null {
  const count = c.head(MAJOR_ARRAY);
  if (count < 0 || count > limits.entriesPerMessageMax) return null;
  const bytes = c.bytes;
  const entries: LogEntry[] = new Array<LogEntry>(count);
  for (let i = 0; i < count; i += 1) {
    if (bytes[c.at] !== ENTRY_HEAD) return null;
    c.at += 1;
    const term = c.head(MAJOR_UINT);
    const index = c.head(MAJOR_UINT);
    const type = ENTRY_TYPES_BY_CODE[c.head(MAJOR_UINT)];
    const length = c.head(MAJOR_BYTES);
    if (c.at < 0 || type === undefined || length > limits.entryBytesMax || c.at + length > bytes.length) return null;
    const command = new Uint8Array(bytes.buffer, bytes.byteOffset + c.at, length);
    c.at += length;
    entries[i] = { term, index, type, command };
  }
  return entries;
}

/**
 * The AppendEntriesRequest `input` holds (input that cbor-scan.ts admitted), read directly; null
 * when it is anything else, or anything the generic path should judge (see the file comment).
 */
export function readAppendEntriesDirect(input: Uint8Array, limits: CodecLimits): AppendEntriesRequest | null {
  for (let i = 0; i < PREFIX.length; i += 1) if (input[i] !== PREFIX[i]) return null;
  const c = new Cursor(input, PREFIX.length);
  const term = c.head(MAJOR_UINT);
  const leaderId = asciiNodeId(c);
  if (leaderId === null) return null;
  const prevLogIndex = c.head(MAJOR_UINT);
  const prevLogTerm = c.head(MAJOR_UINT);
  if (c.at < 0) return null;
  const entries = readEntries(c, limits);
  if (entries === null) return null;
  const leaderCommit = c.head(MAJOR_UINT);
  // Whole input read: anything after the message is the generic path's to refuse.
  if (c.at !== input.length) return null;
  return { type: 'AppendEntriesRequest', term, leaderId, prevLogIndex, prevLogTerm, entries, leaderCommit };
}
