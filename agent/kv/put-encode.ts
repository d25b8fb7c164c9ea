/**
 * A direct writer of the commonest log command, a put (the local endpoint's PUT), straight into
 * its bytes: the leader encodes every write it proposes, and the generic path built a map object,
 * a Buffer view of the value and ran cbor-x over them (a tenth of a loaded leader's allocation).
 *
 * The bytes are exactly what encodeKvCommand's generic path (cbor-x) writes for the same command
 * (test/agent/kv/put-encode.test.ts): a map with a 16-bit count head; the fields `op` ('put'),
 * `key`, `value`, `prev`, `time`, then `client`, `seq`, `acked` and `rid` when given, in that
 * order; text as UTF-8 with the shortest length head; byte strings with the shortest length head;
 * integers below 2^32 as the shortest unsigned integer item, larger ones as float64. It writes
 * only puts without a lease whose key and client id are ASCII and whose integers are safe
 * integers >= 0, and gives null for anything else, which the generic path then writes. So
 * put-decode.ts reads back every command written here.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../../contracts/assert.js';
import type { KvCommand, KvSession } from './types.js';
import { cborHeadBytes, cborUintBytes, writeCborBytes, writeCborHead, writeCborUint } from './cbor-output.js';

/** Head of a map with a 16-bit count (cbor-x's for objects), without the count. */
const MAP16 = 0xb9;
const FALSE = 0xf4;
const TRUE = 0xf5;
/** From this size up an encoding gets a buffer of its own (as encodeCborOwned's; the store may keep its value). */
const OWN_BYTES_MIN = 1024;

const FIELD_OP_PUT = textItem('op', 'put');
const FIELD_KEY = textItem('key');
const FIELD_VALUE = textItem('value');
const FIELD_PREV = textItem('prev');
const FIELD_TIME = textItem('time');
const FIELD_CLIENT = textItem('client');
const FIELD_SEQ = textItem('seq');
const FIELD_ACKED = textItem('acked');
const FIELD_RID = textItem('rid');

/** The CBOR items of short ASCII texts, one after the other. */
function textItem(...texts: string[]): Uint8Array {
  const bytes: number[] = [];
  for (const text of texts) bytes.push(0x60 + text.length, ...Array.from(text, (c) => c.charCodeAt(0)));
  return Uint8Array.from(bytes);
}

/** True when `text` is all ASCII. */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** True when `value` is a safe integer >= 0. */
function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function writeItem(out: Buffer, at: number, item: Uint8Array): number {
  out.set(item, at);
  return at + item.length;
}

/** Writes ASCII `text` as a CBOR text string (one byte per character). */
function writeText(out: Buffer, at: number, text: string): number {
  const start = writeCborHead(out, at, 3, text.length);
  return start + out.write(text, start, 'latin1');
}

/**
 * The encoding of put `command` with `identity` (as encodeKvCommand takes them), or null when it
 * is not a put of the shape written here (see the module comment).
 */
export function encodePutDirect(
  command: KvCommand,
  identity?: { readonly session: KvSession; readonly requestId: Uint8Array },
): Buffer | null {
  if (command.op !== 'put' || command.lease !== undefined || !isAscii(command.key) || !isCount(command.timeMs))
    return null;
  const session: KvSession | null = identity === undefined ? command.session : identity.session;
  const requestId = identity === undefined ? command.requestId : identity.requestId;
  const { key, value, timeMs } = command;
  let count = 5;
  let length = 3 + FIELD_OP_PUT.length + FIELD_KEY.length + cborHeadBytes(key.length) + key.length;
  length += FIELD_VALUE.length + cborHeadBytes(value.byteLength) + value.byteLength + FIELD_PREV.length + 1;
  length += FIELD_TIME.length + cborUintBytes(timeMs);
  if (session !== null) {
    const { clientId, seq, ackedBelow } = session;
    if (!isAscii(clientId) || !isCount(seq) || (ackedBelow !== undefined && !isCount(ackedBelow))) return null;
    count += 2;
    length += FIELD_CLIENT.length + cborHeadBytes(clientId.length) + clientId.length;
    length += FIELD_SEQ.length + cborUintBytes(seq);
    if (ackedBelow !== undefined) {
      count += 1;
      length += FIELD_ACKED.length + cborUintBytes(ackedBelow);
    }
  }
  if (requestId !== undefined) {
    count += 1;
    length += FIELD_RID.length + cborHeadBytes(requestId.byteLength) + requestId.byteLength;
  }
  const out = length >= OWN_BYTES_MIN ? Buffer.allocUnsafeSlow(length) : Buffer.allocUnsafe(length);
  out[0] = MAP16;
  out[1] = 0;
  out[2] = count;
  let at = writeItem(out, 3, FIELD_OP_PUT);
  at = writeText(out, writeItem(out, at, FIELD_KEY), key);
  at = writeCborBytes(out, writeItem(out, at, FIELD_VALUE), value);
  at = writeItem(out, at, FIELD_PREV);
  out[at] = command.returnPrevious ? TRUE : FALSE;
  at = writeCborUint(out, writeItem(out, at + 1, FIELD_TIME), timeMs);
  if (session !== null) {
    at = writeText(out, writeItem(out, at, FIELD_CLIENT), session.clientId);
    at = writeCborUint(out, writeItem(out, at, FIELD_SEQ), session.seq);
    if (session.ackedBelow !== undefined) at = writeCborUint(out, writeItem(out, at, FIELD_ACKED), session.ackedBelow);
  }
  if (requestId !== undefined) at = writeCborBytes(out, writeItem(out, at, FIELD_RID), requestId);
  assert(at === length, 'a put command fills its bytes');
  return out;
}
