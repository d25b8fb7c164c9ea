/**
 * The CoAP message format (RFC 7252 §3): a strict decoder for untrusted datagrams (built on
 * message-reader.ts, which the server's receive path uses directly) and an encoder that writes
 * a message in one allocation.
 *
 * We do not use coap-packet's parser on the receive path because it accepts malformed input
 * that RFC 7252 requires us to reject (an option running past the end of the datagram is
 * silently truncated, token lengths 9..15 are accepted, a payload marker with no payload is
 * accepted), and its encoder stringifies the payload and allocates per option. The wire
 * format is the same: the tests check both directions against coap-packet.
 */
import { assert } from '../../contracts/assert.js';
import type { CoapType } from './codes.js';
import {
  MessageReader,
  OptionCursor,
  OPTION_NUMBER_MAX,
  OPTION_VALUE_BYTES_MAX,
  TOKEN_BYTES_MAX,
} from './message-reader.js';

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

export { OPTION_NUMBER_MAX, OPTION_VALUE_BYTES_MAX, TOKEN_BYTES_MAX } from './message-reader.js';

/** The byte between the options and the payload. */
export const PAYLOAD_MARKER = 0xff;
const EMPTY = new Uint8Array(0);

/** Encodes `message`; options need not be sorted (a stable sort keeps repeated ones in order). */
export function encodeMessage(message: CoapMessage): Uint8Array {
  return encodeBytes(message, true);
}

/**
 * The bytes of `message` before its payload: header, token, options and, when it has a payload,
 * the payload marker. The message is these followed by the payload, which a sender may send
 * where it is (outgoing.ts, DatagramEndpoint.sendParts) instead of copying it. `payloadBytes`:
 * the payload's length when it goes from elsewhere (a body of pieces) and `message` has none.
 */
export function encodeMessageHead(message: CoapMessage, payloadBytes = message.payload.length): Uint8Array {
  return encodeBytes(message, false, payloadBytes);
}

/** `marked`: the payload's bytes, which decide the payload marker (the payload itself when `withPayload`). */
function encodeBytes(message: CoapMessage, withPayload: boolean, marked = message.payload.length): Uint8Array {
  assertEncodable(message);
  const options = sortedOptions(message.options);
  let length = 4 + message.token.length;
  let previous = 0;
  for (const option of options) {
    length += optionHeaderBytes(option.number - previous, option.value.length) + option.value.length;
    previous = option.number;
  }
  const payloadBytes = withPayload ? message.payload.length : 0;
  if (marked > 0) length += 1 + payloadBytes;

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
  if (marked > 0) {
    out[at] = PAYLOAD_MARKER;
    if (withPayload) out.set(message.payload, at + 1);
    at += 1 + payloadBytes;
  }
  assert(at === length, 'coap encoder fills exactly the computed length');
  return out;
}

/** Decodes one datagram strictly; never throws. Returned byte fields are views of `bytes`. */
export function decodeMessage(bytes: Uint8Array): CoapDecodeResult {
  const reader = new MessageReader();
  if (!reader.read(bytes)) {
    return { ok: false, reason: reader.reason, header: reader.headerReadable ? headerOf(reader) : null };
  }
  const options: CoapOptionValue[] = [];
  const cursor = new OptionCursor();
  cursor.reset(bytes, reader.optionsStart, reader.optionsEnd);
  while (cursor.next())
    options.push({ number: cursor.number, value: bytes.subarray(cursor.valueStart, cursor.valueEnd) });
  const { type, code, messageId } = reader;
  if (code === 0) return { ok: true, message: { type, code, messageId, token: EMPTY, options, payload: EMPTY } };
  const token = bytes.subarray(4, 4 + reader.tokenLength);
  return { ok: true, message: { type, code, messageId, token, options, payload: reader.payload() } };
}

function extendedBytes(value: number): number {
  return value < 13 ? 0 : value < 269 ? 1 : 2;
}

/** The bytes of an option's header: its first byte and the extensions of `delta` and `length`. */
export function optionHeaderBytes(delta: number, length: number): number {
  return 1 + extendedBytes(delta) + extendedBytes(length);
}

function nibble(value: number): number {
  return value < 13 ? value : value < 269 ? 13 : 14;
}

/** Writes an option's header at `start`; returns where its value goes. */
export function writeOptionHeader(out: Uint8Array, start: number, delta: number, length: number): number {
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

/** The header of a malformed datagram whose first four bytes were readable (built only on this rare path). */
function headerOf(reader: MessageReader): { readonly type: CoapType; readonly messageId: number } {
  return { type: reader.type, messageId: reader.messageId };
}
