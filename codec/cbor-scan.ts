/**
 * A well-formedness scan of untrusted CBOR (RFC 8949) before cbor-x decodes it. cbor-x is a
 * general decoder with many extensions (tags for typed arrays, records, shared structures,
 * cyclic references) and no nesting limit; the scan admits only the small subset the wire
 * format uses, so that cbor-x never meets anything else:
 *
 * - unsigned and negative integers, definite-length byte and text strings (text must be valid
 *   UTF-8), definite-length arrays, and the simple values false, true and null;
 * - no maps, no tags, no floats, no undefined, no indefinite lengths, no reserved encodings;
 * - arrays nested at most `depthMax` deep and at most `itemsMax` long, at most
 *   `totalItemsMax` data items in all, and no declared length longer than the bytes left (an
 *   array of n items needs at least n bytes), so nothing can make the decoder allocate more
 *   than the limits justify;
 * - exactly one data item, with no trailing bytes.
 *
 * The scan is iterative (an explicit stack bounded by depthMax) and reads every head once.
 */
import { isUtf8 } from 'node:buffer';
import { SerializationError } from '../contracts/errors.js';

const MAJOR_UINT = 0;
const MAJOR_NEGINT = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;
const SIMPLE_FALSE = 20;
const SIMPLE_NULL = 22;

function scanError(offset: number, problem: string): SerializationError {
  return new SerializationError('CODEC_MALFORMED', `cbor: byte ${offset}: ${problem}`);
}

/**
 * The argument of the head at `bytes[offset]` (its additional information `ai` already read),
 * or Infinity for a 64-bit argument above 2^32 - 1 (too long for any length we accept).
 * Throws on truncation, reserved encodings and indefinite lengths.
 */
function headArgument(bytes: Uint8Array, offset: number, ai: number): number {
  if (ai < 24) return ai;
  const size = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : 0;
  if (size === 0)
    throw scanError(offset, ai === 31 ? 'indefinite lengths are not allowed' : `reserved additional information ${ai}`);
  if (offset + 1 + size > bytes.length) throw scanError(offset, 'truncated head');
  let value = 0;
  for (let i = 1; i <= size; i += 1) {
    const byte = bytes[offset + i] ?? 0;
    if (size === 8 && i <= 4 && byte !== 0) return Infinity;
    value = value * 256 + byte;
  }
  return value;
}

/** The number of bytes of the head at `offset` whose additional information is `ai`. */
function headSize(ai: number): number {
  if (ai < 24) return 1;
  return ai === 24 ? 2 : ai === 25 ? 3 : ai === 26 ? 5 : 9;
}

/**
 * Throws SerializationError CODEC_MALFORMED unless `bytes` is exactly one well-formed data
 * item of the admitted subset with arrays nested at most `depthMax` deep, and CODEC_LIMIT for
 * an array of more than `itemsMax` items (longer than any list a message may hold) or more
 * than `totalItemsMax` data items in all, so that the decoder never builds what no message
 * could use.
 */
export function scanCbor(bytes: Uint8Array, depthMax: number, itemsMax: number, totalItemsMax: number): void {
  const end = bytes.length;
  let total = 0;
  // Items still to read in each enclosing array; its length is the current nesting depth.
  const enclosing: number[] = [];
  let pending = 1;
  let offset = 0;
  for (;;) {
    if (pending === 0) {
      const outer = enclosing.pop();
      if (outer === undefined) break;
      pending = outer;
      continue;
    }
    pending -= 1;
    total += 1;
    if (total > totalItemsMax) {
      throw new SerializationError(
        'CODEC_LIMIT',
        `cbor: byte ${offset}: more than ${totalItemsMax} data items, more than any message may hold`,
      );
    }
    if (offset >= end) throw scanError(offset, 'unexpected end of input');
    const initial = bytes[offset] ?? 0;
    const major = initial >> 5;
    const ai = initial & 0x1f;
    if (major === 7) {
      if (ai < SIMPLE_FALSE || ai > SIMPLE_NULL) throw scanError(offset, `simple value or float ${ai} is not allowed`);
      offset += 1;
      continue;
    }
    if (major === MAJOR_MAP) throw scanError(offset, 'maps are not allowed');
    if (major === MAJOR_TAG) throw scanError(offset, 'tags are not allowed');
    // Most heads carry their argument in the initial byte; only longer ones need reading.
    const argument = ai < 24 ? ai : headArgument(bytes, offset, ai);
    const start = offset;
    offset += ai < 24 ? 1 : headSize(ai);
    if (major === MAJOR_UINT || major === MAJOR_NEGINT) continue;
    if (major === MAJOR_ARRAY && argument > itemsMax) {
      throw new SerializationError(
        'CODEC_LIMIT',
        `cbor: byte ${start}: an array of ${argument} items exceeds the longest list a message may hold (${itemsMax})`,
      );
    }
    if (argument > end - offset)
      throw scanError(start, `declared length ${argument} exceeds the ${end - offset} bytes left`);
    if (major === MAJOR_BYTES || major === MAJOR_TEXT) {
      if (major === MAJOR_TEXT && !isUtf8(bytes.subarray(offset, offset + argument)))
        throw scanError(start, 'text is not valid UTF-8');
      offset += argument;
      continue;
    }
    if (major === MAJOR_ARRAY && argument > 0) {
      if (enclosing.length >= depthMax) throw scanError(start, `arrays nested deeper than ${depthMax}`);
      enclosing.push(pending);
      pending = argument;
    }
  }
  if (offset !== end) throw scanError(offset, `${end - offset} trailing bytes after the message`);
}

/**
 * Reads the leading version of a CBOR message without decoding the rest: the message must be
 * an array whose first item is an unsigned integer. Returns that integer (Infinity when it is
 * above 2^32 - 1); throws CODEC_MALFORMED when the message does not start that way.
 */
export function peekCborVersion(bytes: Uint8Array): number {
  const first = bytes[0];
  if (first === undefined) throw scanError(0, 'empty message');
  if (first >> 5 !== MAJOR_ARRAY || (first & 0x1f) === 0 || (first & 0x1f) > 27) {
    throw scanError(0, 'a message must be a non-empty array starting with its version');
  }
  const versionOffset = headSize(first & 0x1f);
  const second = bytes[versionOffset];
  if (second === undefined) throw scanError(versionOffset, 'unexpected end of input before the version');
  if (second >> 5 !== MAJOR_UINT) throw scanError(versionOffset, 'the version must be an unsigned integer');
  const ai = second & 0x1f;
  if (ai > 27) throw scanError(versionOffset, 'the version must be an unsigned integer');
  return headArgument(bytes, versionOffset, ai);
}
