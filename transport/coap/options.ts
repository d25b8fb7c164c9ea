/**
 * Option values: unsigned integers (RFC 7252 §3.2), strings, and the Block1/Block2 value of
 * RFC 7959 §2.2 (NUM, M and SZX packed into up to three bytes).
 */
import { assert } from '../../contracts/assert.js';
import { CoapOption } from './codes.js';
import type { CoapOptionValue } from './message.js';

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A Block1 or Block2 option value. */
export interface BlockValue {
  /** The block number: its byte offset is num * size. 0..2^20-1. */
  readonly num: number;
  /** More blocks follow. */
  readonly more: boolean;
  /** The size exponent: the block is 2^(szx+4) bytes, 16..1024. */
  readonly szx: number;
}

/** The largest block number a three-byte block option can carry. */
export const BLOCK_NUM_MAX = 0xfffff;
/** SZX 7 is reserved for BERT (RFC 8323), which UDP does not use. */
export const SZX_MAX = 6;

/** The block size in bytes of a size exponent. */
export function blockSizeOf(szx: number): number {
  assert(Number.isInteger(szx) && szx >= 0 && szx <= SZX_MAX, 'block szx is 0..6');
  return 1 << (szx + 4);
}

/** The size exponent of a block size (a power of two, 16..1024). */
export function szxOf(blockBytes: number): number {
  const szx = Math.log2(blockBytes) - 4;
  assert(Number.isInteger(szx) && szx >= 0 && szx <= SZX_MAX, 'block size is a power of two in 16..1024');
  return szx;
}

/** Encodes an unsigned integer in the fewest bytes (0 is the empty value). */
export function encodeUint(value: number): Uint8Array {
  assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, 'uint option value fits 32 bits');
  if (value === 0) return EMPTY;
  const length = value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : 4;
  const out = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i -= 1) {
    out[i] = rest & 0xff;
    rest = Math.floor(rest / 256);
  }
  return out;
}

/** Decodes an unsigned integer of at most `bytesMax` bytes; null when longer. */
export function decodeUint(value: Uint8Array, bytesMax: number): number | null {
  if (value.length > bytesMax) return null;
  let result = 0;
  for (const byte of value) result = result * 256 + byte;
  return result;
}

/** Encodes a block option value. */
export function encodeBlock(block: BlockValue): Uint8Array {
  assert(Number.isInteger(block.num) && block.num >= 0 && block.num <= BLOCK_NUM_MAX, 'block num fits 20 bits');
  assert(Number.isInteger(block.szx) && block.szx >= 0 && block.szx <= SZX_MAX, 'block szx is 0..6');
  return encodeUint(block.num * 16 + (block.more ? 8 : 0) + block.szx);
}

/** Decodes a block option value; null when longer than three bytes or SZX is 7. */
export function decodeBlock(value: Uint8Array): BlockValue | null {
  const raw = decodeUint(value, 3);
  if (raw === null) return null;
  const szx = raw & 0x07;
  if (szx > SZX_MAX) return null;
  return { num: Math.floor(raw / 16), more: (raw & 0x08) !== 0, szx };
}

/** An option with a raw value. */
export function option(number: number, value: Uint8Array): CoapOptionValue {
  return { number, value };
}

/** An option with an unsigned integer value. */
export function uintOption(number: number, value: number): CoapOptionValue {
  return { number, value: encodeUint(value) };
}

/** An option with a UTF-8 string value. */
export function stringOption(number: number, value: string): CoapOptionValue {
  return { number, value: utf8.encode(value) };
}

/** Builds Uri-Path options through a cache of at most `entriesMax` encodings, cleared when full. */
export function cachedUriPathOption(entriesMax: number): (segment: string) => CoapOptionValue {
  const segments = new Map<string, CoapOptionValue>();
  return (segment) => {
    let cached = segments.get(segment);
    if (cached === undefined) {
      if (segments.size >= entriesMax) segments.clear();
      cached = stringOption(CoapOption.UriPath, segment);
      segments.set(segment, cached);
    }
    return cached;
  };
}

/** Decodes a UTF-8 option value; null when it is not valid UTF-8. */
export function decodeString(value: Uint8Array): string | null {
  try {
    return strictUtf8.decode(value);
  } catch (error: unknown) {
    // The decoder throws TypeError on invalid UTF-8; that is the only failure it has.
    if (error instanceof TypeError) return null;
    throw error;
  }
}

/** The value of the first option `number`, or null. */
export function firstOption(options: readonly CoapOptionValue[], number: number): Uint8Array | null {
  for (const candidate of options) {
    if (candidate.number === number) return candidate.value;
  }
  return null;
}
