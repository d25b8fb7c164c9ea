/**
 * Encodes a response message straight from a {@link CoapResponse}'s fields and the options the
 * server adds to it (block options, Size1): one pass counts the bytes, a second writes them, with
 * no option objects, option array, sort or encoded integers in between. The server answers every
 * request through it.
 *
 * The bytes are those of encodeMessage with the options of responseOptions(response) followed
 * by `extra` (the property tests hold the two to one behaviour): options in ascending number,
 * and options of one number in that order (the response's fields, then response.options, then
 * `extra`), as encodeMessage's stable sort leaves them. A response with Location-Path options
 * (rare: a 2.01 to a POST) takes that path itself.
 */
import { assert } from '../../contracts/assert.js';
import { CoapOption, type CoapType } from './codes.js';
import {
  encodeMessage,
  optionHeaderBytes,
  OPTION_NUMBER_MAX,
  OPTION_VALUE_BYTES_MAX,
  PAYLOAD_MARKER,
  TOKEN_BYTES_MAX,
  writeOptionHeader,
  type CoapOptionValue,
} from './message.js';
import type { CoapResponse } from './request.js';
import { responseOptions } from './response-options.js';

const EMPTY = new Uint8Array(0);
const NO_OPTIONS: readonly CoapOptionValue[] = [];

/** Encodes the response message of `response` with `extra` options added; see the module comment. */
export function encodeResponse(
  type: CoapType,
  messageId: number,
  token: Uint8Array,
  response: CoapResponse,
  extra: readonly CoapOptionValue[],
): Uint8Array {
  const payload = response.payload ?? EMPTY;
  if (response.locationPath !== undefined) {
    const options = responseOptions(response);
    for (const o of extra) options.push(o);
    return encodeMessage({ type, code: response.code, messageId, token, options, payload });
  }
  assertHeader(messageId, token, response, extra);
  const options = response.options ?? NO_OPTIONS;
  assertOptions(options);
  assertOptions(extra);
  let length = walkOptions(response, options, extra, null, 4 + token.length);
  if (payload.length > 0) length += 1 + payload.length;

  const out = Buffer.allocUnsafe(length);
  out[0] = 0x40 | (type << 4) | token.length;
  out[1] = response.code;
  out[2] = messageId >>> 8;
  out[3] = messageId & 0xff;
  out.set(token, 4);
  let at = walkOptions(response, options, extra, out, 4 + token.length);
  if (payload.length > 0) {
    out[at] = PAYLOAD_MARKER;
    out.set(payload, at + 1);
    at += 1 + payload.length;
  }
  assert(at === length, 'coap response encoder fills exactly the computed length');
  return out;
}

/**
 * Goes through the options in wire order from `start`: writes them into `out`, or only counts
 * their bytes when `out` is null; returns the offset after the last.
 */
function walkOptions(
  response: CoapResponse,
  options: readonly CoapOptionValue[],
  extra: readonly CoapOptionValue[],
  out: Uint8Array | null,
  start: number,
): number {
  let at = start;
  let previous = 0;
  for (let number = lowestAbove(response, options, extra, -1); number >= 0;) {
    if (number === CoapOption.ETag && response.etag !== undefined) {
      at = putBytes(out, at, number - previous, response.etag);
      previous = number;
    }
    const uint = uintFieldAt(response, number);
    if (uint !== null) {
      at = putUint(out, at, number - previous, uint);
      previous = number;
    }
    for (let i = 0; i < options.length; i += 1) {
      const o = options[i];
      if (o === undefined || o.number !== number) continue;
      at = putBytes(out, at, number - previous, o.value);
      previous = number;
    }
    for (let i = 0; i < extra.length; i += 1) {
      const o = extra[i];
      if (o === undefined || o.number !== number) continue;
      at = putBytes(out, at, number - previous, o.value);
      previous = number;
    }
    number = lowestAbove(response, options, extra, number);
  }
  return at;
}

/** The value of the response's unsigned integer field that is option `number`, or null. */
function uintFieldAt(response: CoapResponse, number: number): number | null {
  switch (number) {
    case CoapOption.Observe:
      return response.observe ?? null;
    case CoapOption.ContentFormat:
      return response.contentFormat ?? null;
    case CoapOption.MaxAge:
      return response.maxAge ?? null;
    default:
      return null;
  }
}

/** The lowest option number above `floor` among the response's options; -1 when there is none. */
function lowestAbove(
  response: CoapResponse,
  options: readonly CoapOptionValue[],
  extra: readonly CoapOptionValue[],
  floor: number,
): number {
  let lowest = OPTION_NUMBER_MAX + 1;
  // The fields in ascending number: the first one above the floor is their lowest.
  if (response.etag !== undefined && CoapOption.ETag > floor) lowest = CoapOption.ETag;
  else if (response.observe !== undefined && CoapOption.Observe > floor) lowest = CoapOption.Observe;
  else if (response.contentFormat !== undefined && CoapOption.ContentFormat > floor) lowest = CoapOption.ContentFormat;
  else if (response.maxAge !== undefined && CoapOption.MaxAge > floor) lowest = CoapOption.MaxAge;
  lowest = lowestOf(options, floor, lowest);
  lowest = lowestOf(extra, floor, lowest);
  return lowest > OPTION_NUMBER_MAX ? -1 : lowest;
}

function lowestOf(options: readonly CoapOptionValue[], floor: number, lowest: number): number {
  let result = lowest;
  for (let i = 0; i < options.length; i += 1) {
    const number = options[i]?.number ?? -1;
    if (number > floor && number < result) result = number;
  }
  return result;
}

function putBytes(out: Uint8Array | null, at: number, delta: number, value: Uint8Array): number {
  if (out === null) return at + optionHeaderBytes(delta, value.length) + value.length;
  const valueAt = writeOptionHeader(out, at, delta, value.length);
  out.set(value, valueAt);
  return valueAt + value.length;
}

/** An unsigned integer option in the fewest bytes (RFC 7252 §3.2: 0 is the empty value). */
function putUint(out: Uint8Array | null, at: number, delta: number, value: number): number {
  const length = value === 0 ? 0 : value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : 4;
  if (out === null) {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xffffffff, 'uint option value fits 32 bits');
    return at + optionHeaderBytes(delta, length) + length;
  }
  const valueAt = writeOptionHeader(out, at, delta, length);
  let rest = value;
  for (let i = valueAt + length - 1; i >= valueAt; i -= 1) {
    out[i] = rest & 0xff;
    rest = Math.floor(rest / 256);
  }
  return valueAt + length;
}

/** Responses are built by this layer, so a bad one is a bug (as encodeMessage's checks). */
function assertHeader(
  messageId: number,
  token: Uint8Array,
  response: CoapResponse,
  extra: readonly CoapOptionValue[],
): void {
  assert(token.length <= TOKEN_BYTES_MAX, 'coap token is at most 8 bytes');
  assert(Number.isInteger(messageId) && messageId >= 0 && messageId <= 0xffff, 'coap message id is 16-bit');
  const code = response.code;
  assert(Number.isInteger(code) && code >= 0 && code <= 0xff, 'coap code is one byte');
  const content =
    token.length > 0 ||
    (response.payload?.length ?? 0) > 0 ||
    extra.length > 0 ||
    (response.options?.length ?? 0) > 0 ||
    response.etag !== undefined ||
    response.observe !== undefined ||
    response.contentFormat !== undefined ||
    response.maxAge !== undefined;
  assert(code !== 0 || !content, 'coap empty message has no content');
}

function assertOptions(options: readonly CoapOptionValue[]): void {
  for (let i = 0; i < options.length; i += 1) {
    const o = options[i];
    assert(o !== undefined, 'coap options are not sparse');
    assert(
      Number.isInteger(o.number) && o.number >= 0 && o.number <= OPTION_NUMBER_MAX,
      'coap option number in 0..65535',
    );
    assert(o.value.length <= OPTION_VALUE_BYTES_MAX, 'coap option value fits the length encoding');
  }
}
