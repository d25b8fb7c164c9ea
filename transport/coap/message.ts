/**
 * The CoAP message format (RFC 7252 §3): a strict decoder for untrusted datagrams and an
 * encoder that writes a message in one allocation.
 *
 * We do not use coap-packet's parser on the receive path because it accepts malformed input
 * that RFC 7252 requires us to reject (an option running past the end of the datagram is
 * silently truncated, token lengths 9..15 are accepted, a payload marker with no payload is
 * accepted), and its encoder stringifies the payload and allocates per option. The wire
 * format is the same: the tests check both directions against coap-packet.
 */
import { assert } from '../../contracts/assert.js';
import { CoapType } from './codes.js';

/** One option: its number and raw value. */
export interface CoapOptionValue {
  readonly number: number;
  readonly value: Uint8Array;
}

/** One CoAP message. */
export interface CoapMessage {
  readonly type: CoapType;
  /** The code byte; 0 (0.00) for an Empty message. */
  readonly code: number;
  /** 0..65535. */
  readonly messageId: number;
  /** 0..8 bytes. */
  readonly token: Uint8Array;
  /** In ascending option number; repeated options keep their order. */
  readonly options: readonly CoapOptionValue[];
  readonly payload: Uint8Array;
}

/** The outcome of decoding a datagram. */
export type CoapDecodeResult =
  | { readonly ok: true; readonly message: CoapMessage }
  | {
      readonly ok: false;
      /** What is wrong, for counters and logs. */
      readonly reason: string;
      /**
       * The header's type and message id when the first four bytes were readable and of
       * version 1: a malformed CON is answered with RST (RFC 7252 §4.2); otherwise null and
       * the datagram is silently dropped.
       */
      readonly header: { readonly type: CoapType; readonly messageId: number } | null;
    };

/** The longest token of RFC 7252 (RFC 8974 extended tokens are not supported). */
export const TOKEN_BYTES_MAX = 8;
/** The largest option number the option delta encoding can express here. */
export const OPTION_NUMBER_MAX = 65535;
/** The longest option value the length encoding can express. */
export const OPTION_VALUE_BYTES_MAX = 65804;

const PAYLOAD_MARKER = 0xff;
const EMPTY = new Uint8Array(0);
const TYPES: readonly CoapType[] = [CoapType.CON, CoapType.NON, CoapType.ACK, CoapType.RST];

/** Encodes `message`; options need not be sorted (a stable sort keeps repeated ones in order). */
export function encodeMessage(message: CoapMessage): Uint8Array {
  assertEncodable(message);
  const options = sortedOptions(message.options);
  let length = 4 + message.token.length;
  let previous = 0;
  for (const option of options) {
    length += 1 + extendedBytes(option.number - previous) + extendedBytes(option.value.length) + option.value.length;
    previous = option.number;
  }
  if (message.payload.length > 0) length += 1 + message.payload.length;

  const out = Buffer.allocUnsafe(length);
  out[0] = 0x40 | (message.type << 4) | message.token.length;
  out[1] = message.code;
  out[2] = message.messageId >>> 8;
  out[3] = message.messageId & 0xff;
  out.set(message.token, 4);
  let at = 4 + message.token.length;
  previous = 0;
  for (const option of options) {
    at = writeOptionHeader(out, at, option.number - previous, option.value.length);
    out.set(option.value, at);
    at += option.value.length;
    previous = option.number;
  }
  if (message.payload.length > 0) {
    out[at] = PAYLOAD_MARKER;
    out.set(message.payload, at + 1);
    at += 1 + message.payload.length;
  }
  assert(at === length, 'coap encoder fills exactly the computed length');
  return out;
}

/** Decodes one datagram strictly; never throws. Returned byte fields are views of `bytes`. */
export function decodeMessage(bytes: Uint8Array): CoapDecodeResult {
  if (bytes.length < 4) return malformed('shorter than the 4-byte header', null);
  const first = bytes[0] ?? 0;
  // RFC 7252 §3: messages with an unknown version number are silently ignored.
  if (first >>> 6 !== 1) return malformed('unknown version', null);
  const type = TYPES[(first >>> 4) & 0x03] ?? CoapType.RST;
  const tokenLength = first & 0x0f;
  const code = bytes[1] ?? 0;
  const messageId = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
  if (tokenLength > TOKEN_BYTES_MAX) return malformedAt('token length 9..15 is reserved', type, messageId);
  if (code === 0) {
    // RFC 7252 §4.1: an Empty message has no token, options or payload.
    if (bytes.length !== 4 || tokenLength !== 0) return malformedAt('empty message with content', type, messageId);
    return { ok: true, message: { type, code, messageId, token: EMPTY, options: [], payload: EMPTY } };
  }
  if (4 + tokenLength > bytes.length) return malformedAt('token runs past the end', type, messageId);
  const token = bytes.subarray(4, 4 + tokenLength);
  const parsed = decodeOptions(bytes, 4 + tokenLength);
  if (typeof parsed === 'string') return malformedAt(parsed, type, messageId);
  return { ok: true, message: { type, code, messageId, token, options: parsed.options, payload: parsed.payload } };
}

function decodeOptions(
  bytes: Uint8Array,
  start: number,
): { readonly options: CoapOptionValue[]; readonly payload: Uint8Array } | string {
  const options: CoapOptionValue[] = [];
  let at = start;
  let number = 0;
  while (at < bytes.length) {
    const byte = bytes[at] ?? 0;
    if (byte === PAYLOAD_MARKER) {
      // RFC 7252 §3: a marker followed by a zero-length payload is a format error.
      if (at + 1 >= bytes.length) return 'payload marker without payload';
      return { options, payload: bytes.subarray(at + 1) };
    }
    at += 1;
    const delta = readExtended(bytes, at, byte >>> 4);
    if (delta === null) return 'bad option delta';
    at += extendedBytes(delta);
    const length = readExtended(bytes, at, byte & 0x0f);
    if (length === null) return 'bad option length';
    at += extendedBytes(length);
    number += delta;
    if (number > OPTION_NUMBER_MAX) return 'option number too large';
    if (at + length > bytes.length) return 'option value runs past the end';
    options.push({ number, value: bytes.subarray(at, at + length) });
    at += length;
  }
  return { options, payload: EMPTY };
}

/** Reads a 4-bit delta or length nibble with its extension; null on 15 or truncation. */
function readExtended(bytes: Uint8Array, at: number, nibble: number): number | null {
  if (nibble < 13) return nibble;
  if (nibble === 13) {
    const b = bytes[at];
    return b === undefined ? null : b + 13;
  }
  if (nibble === 14) {
    const hi = bytes[at];
    const lo = bytes[at + 1];
    return hi === undefined || lo === undefined ? null : ((hi << 8) | lo) + 269;
  }
  return null;
}

function extendedBytes(value: number): number {
  return value < 13 ? 0 : value < 269 ? 1 : 2;
}

function nibble(value: number): number {
  return value < 13 ? value : value < 269 ? 13 : 14;
}

function writeOptionHeader(out: Uint8Array, start: number, delta: number, length: number): number {
  out[start] = (nibble(delta) << 4) | nibble(length);
  return writeExtended(out, writeExtended(out, start + 1, delta), length);
}

function writeExtended(out: Uint8Array, at: number, value: number): number {
  if (value >= 269) {
    out[at] = (value - 269) >>> 8;
    out[at + 1] = (value - 269) & 0xff;
    return at + 2;
  }
  if (value >= 13) {
    out[at] = value - 13;
    return at + 1;
  }
  return at;
}

function sortedOptions(options: readonly CoapOptionValue[]): readonly CoapOptionValue[] {
  for (let i = 1; i < options.length; i += 1) {
    if ((options[i]?.number ?? 0) < (options[i - 1]?.number ?? 0)) {
      return [...options].sort((a, b) => a.number - b.number);
    }
  }
  return options;
}

/** Messages are built by this layer, so a bad one is a bug. */
function assertEncodable(message: CoapMessage): void {
  assert(message.token.length <= TOKEN_BYTES_MAX, 'coap token is at most 8 bytes');
  assert(
    Number.isInteger(message.messageId) && message.messageId >= 0 && message.messageId <= 0xffff,
    'coap message id is 16-bit',
  );
  assert(Number.isInteger(message.code) && message.code >= 0 && message.code <= 0xff, 'coap code is one byte');
  assert(
    message.code !== 0 || (message.token.length === 0 && message.options.length === 0 && message.payload.length === 0),
    'coap empty message has no content',
  );
  for (const option of message.options) {
    assert(
      Number.isInteger(option.number) && option.number >= 0 && option.number <= OPTION_NUMBER_MAX,
      'coap option number in 0..65535',
    );
    assert(option.value.length <= OPTION_VALUE_BYTES_MAX, 'coap option value fits the length encoding');
  }
}

function malformed(
  reason: string,
  header: { readonly type: CoapType; readonly messageId: number } | null,
): CoapDecodeResult {
  return { ok: false, reason, header };
}

/** A malformed message whose header was readable (built only on this rare path). */
function malformedAt(reason: string, type: CoapType, messageId: number): CoapDecodeResult {
  return malformed(reason, { type, messageId });
}
