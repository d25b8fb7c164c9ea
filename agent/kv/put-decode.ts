/**
 * A direct reader of the commonest log command, a put as encodeKvCommand writes it (the local
 * endpoint's PUT), straight from its bytes: every replica decodes every command when it applies
 * it, and the generic path (cbor-x into an object, then Fields) was a third of an apply.
 *
 * It only takes what it can read exactly as the generic path would, and gives null for anything
 * else, which then goes the generic way (with its error messages): a map with a 16-bit or short
 * count head; the fields `op` ('put'), `key`, `value`, `prev`, `time`, and optionally `client`
 * with `seq`, then `acked`, then `rid`, in that order, each once; ASCII text only (so no UTF-8
 * decoding question can arise); integers as CBOR unsigned integers of up to 32 bits or as whole
 * float64 values (cbor-x writes times so); and no bytes after the map. Every range the generic
 * decoder checks is checked here, by giving null. So for any input it either gives null or the
 * command the generic decoder gives (test/agent/kv/put-decode.test.ts); replicas running either
 * path agree.
 */
import type { KvCommand, KvSession } from './types.js';
import { REQUEST_ID_BYTES } from './request-ids.js';

/** The field names in the only order read here, as their CBOR text items (head and ASCII). */
const FIELD_ORDER = ['op', 'key', 'value', 'prev', 'time', 'client', 'seq', 'acked', 'rid'] as const;
type FieldName = (typeof FIELD_ORDER)[number];
const FIELD_ITEMS: readonly Uint8Array[] = FIELD_ORDER.map((name) =>
  Uint8Array.from([0x60 + name.length, ...Array.from(name, (c) => c.charCodeAt(0))]),
);
const OP_PUT = Uint8Array.from([0x63, 0x70, 0x75, 0x74]);
const EMPTY_ITEM = new Uint8Array(0);

/** A cursor over one command's bytes; `at` is -1 once something could not be read. */
class Cursor {
  at = 0;
  /** The same bytes as a Buffer (`bytes` itself when it is one), to read text from in one call. */
  private readonly text: Buffer;
  constructor(readonly bytes: Uint8Array) {
    this.text =
      bytes instanceof Buffer ? (bytes as Buffer) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The argument of an item of major type `major` with a length or value of up to 32 bits; -1 if not. */
  argument(major: number): number {
    const { bytes } = this;
    const head = bytes[this.at];
    if (head === undefined || head >>> 5 !== major) return this.fail();
    const info = head & 0x1f;
    if (info < 24) {
      this.at += 1;
      return info;
    }
    const width = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
    if (width === 0 || this.at + 1 + width > bytes.length) return this.fail();
    let value = 0;
    for (let i = 1; i <= width; i += 1) value = value * 256 + (bytes[this.at + i] ?? 0);
    this.at += 1 + width;
    return value;
  }

  /** An ASCII text string; null if not. */
  ascii(): string | null {
    const length = this.argument(3);
    if (length < 0 || this.at + length > this.bytes.length) return this.failNull();
    const end = this.at + length;
    for (let i = this.at; i < end; i += 1) if ((this.bytes[i] ?? 0x80) >= 0x80) return this.failNull();
    // Every replica reads the key of every put here: a Buffer gives the text in one allocation. A
    // plain Uint8Array (what the state machine gets: trusted-state-machine.ts hands on the entry's
    // command) was read a character at a time, one string per character: 13 % of a follower's
    // allocation per write. So a plain array is read through a Buffer view of the same bytes.
    const text = this.text.toString('latin1', this.at, end);
    this.at = end;
    return text;
  }

  /** A byte string, as a view of the command's bytes; null if not. */
  byteString(): Uint8Array | null {
    const length = this.argument(2);
    if (length < 0 || this.at + length > this.bytes.length) return this.failNull();
    const view = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + this.at, length);
    this.at += length;
    return view;
  }

  /** A safe integer >= 0: an unsigned integer item, or a whole float64; -1 if not. */
  integer(): number {
    const { bytes } = this;
    if (bytes[this.at] !== 0xfb) return this.argument(0);
    if (this.at + 9 > bytes.length) return this.fail();
    const value = this.text.readDoubleBE(this.at + 1);
    if (!Number.isSafeInteger(value) || value < 0) return this.fail();
    this.at += 9;
    return value;
  }

  /** True when the next bytes are `item`, which are then skipped. */
  skip(item: Uint8Array): boolean {
    if (this.at + item.length > this.bytes.length) return false;
    for (let i = 0; i < item.length; i += 1) if (this.bytes[this.at + i] !== item[i]) return false;
    this.at += item.length;
    return true;
  }

  private fail(): -1 {
    this.at = -1;
    return -1;
  }

  private failNull(): null {
    this.at = -1;
    return null;
  }
}

/** The fields of a put as read, before their combination is checked; the cursor that reads them holds them. */
class PutFields extends Cursor {
  op = false;
  key: string | null = null;
  value: Uint8Array | null = null;
  prev: boolean | null = null;
  time = -1;
  client: string | null = null;
  seq = -1;
  acked = -1;
  rid: Uint8Array | null = null;
}

/**
 * The put command `bytes` holds, read directly; null when it is not a put of the shape above
 * (the caller then decodes it the generic way).
 */
export function decodePutDirect(bytes: Uint8Array): KvCommand | null {
  // One object for the cursor and the fields it reads (two before).
  const cursor = new PutFields(bytes);
  const head = bytes[0];
  let count: number;
  if (head === 0xb9 && bytes.length >= 3) {
    count = ((bytes[1] ?? 0) << 8) | (bytes[2] ?? 0);
    cursor.at = 3;
  } else count = cursor.argument(5);
  if (count < 5 || count > FIELD_ORDER.length) return null;
  let next = 0;
  for (let n = 0; n < count; n += 1) {
    while (next < FIELD_ITEMS.length && !cursor.skip(FIELD_ITEMS[next] ?? EMPTY_ITEM)) next += 1;
    const name = FIELD_ORDER[next];
    if (name === undefined || !readField(cursor, name, cursor) || cursor.at < 0) return null;
    next += 1;
  }
  if (cursor.at !== bytes.length) return null;
  return commandOf(cursor);
}

/** Reads the value of field `name` into `fields`; false when it is not of the shape read here. */
function readField(cursor: Cursor, name: FieldName, fields: PutFields): boolean {
  switch (name) {
    case 'op':
      fields.op = cursor.skip(OP_PUT);
      return fields.op;
    case 'key':
      fields.key = cursor.ascii();
      return true;
    case 'value':
      fields.value = cursor.byteString();
      return true;
    case 'prev': {
      const byte = cursor.bytes[cursor.at];
      if (byte !== 0xf4 && byte !== 0xf5) return false;
      fields.prev = byte === 0xf5;
      cursor.at += 1;
      return true;
    }
    case 'time':
      fields.time = cursor.integer();
      return true;
    case 'client':
      fields.client = cursor.ascii();
      return true;
    case 'seq':
      fields.seq = cursor.integer();
      return true;
    case 'acked':
      fields.acked = cursor.integer();
      return true;
    case 'rid':
      fields.rid = cursor.byteString();
      return true;
  }
}

/** The command of fields read in order, or null when the generic decoder would decide otherwise. */
function commandOf(fields: PutFields): KvCommand | null {
  const { op, key, value, prev, time, client, seq, acked, rid } = fields;
  if (!op || key === null || key.length === 0 || value === null || prev === null || time < 0) return null;
  let session: KvSession | null = null;
  if (client !== null || seq >= 0) {
    if (client === null || client.length === 0 || seq < 1) return null;
    if (acked >= 0 && (acked < 1 || acked > seq)) return null;
    session = acked < 0 ? { clientId: client, seq } : { clientId: client, seq, ackedBelow: acked };
  } else if (acked >= 0 || rid !== null) return null;
  // One object per command, in the generic decoder's field order (no operation object spread into it).
  if (rid === null) return { session, timeMs: time, op: 'put', key, value, returnPrevious: prev };
  if (rid.byteLength !== REQUEST_ID_BYTES) return null;
  return { session, timeMs: time, requestId: rid, op: 'put', key, value, returnPrevious: prev };
}
