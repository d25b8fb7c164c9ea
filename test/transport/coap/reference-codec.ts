// The CoAP server's receive path as it was before the allocation-free reader and parser
// (transport/coap/message.ts and request.ts at a7a1bb8, copied unchanged but for names): the
// reference the property tests hold the new code to (reference-codec.test.ts). Not product code.
import type { DatagramPeer } from '../../../transport/datagram.js';
import {
  CoapOption,
  CoapResponseCode,
  CoapType,
  isCriticalOption,
  methodOfCode,
} from '../../../transport/coap/codes.js';
import {
  encodeMessage,
  type CoapDecodeResult,
  type CoapMessage,
  type CoapOptionValue,
} from '../../../transport/coap/message.js';
import { responseOptions } from '../../../transport/coap/response-options.js';
import { decodeBlock, decodeString, decodeUint } from '../../../transport/coap/options.js';
import { decodePiece } from '../../../transport/coap/pieces.js';
import {
  diagnosticResponse,
  type CoapRequest,
  type CoapResponse,
  type RequestBlockFields,
} from '../../../transport/coap/request.js';

const TOKEN_BYTES_MAX = 8;
const OPTION_NUMBER_MAX = 65535;
const PAYLOAD_MARKER = 0xff;
const EMPTY = new Uint8Array(0);
const TYPES: readonly CoapType[] = [CoapType.CON, CoapType.NON, CoapType.ACK, CoapType.RST];

/** The outcome of the reference parse. */
export type ReferenceParsedRequest =
  | { readonly ok: true; readonly request: CoapRequest; readonly block: RequestBlockFields }
  | { readonly ok: false; readonly response: CoapResponse };

export function referenceDecodeMessage(bytes: Uint8Array): CoapDecodeResult {
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

interface OptionRule {
  readonly bytesMin: number;
  readonly bytesMax: number;
  readonly repeatable: boolean;
}

/** The options a request may carry here, with their value lengths (RFC 7252 §5.10). */
const REQUEST_OPTION_RULES: ReadonlyMap<number, OptionRule> = new Map([
  [CoapOption.IfMatch, { bytesMin: 0, bytesMax: 8, repeatable: true }],
  [CoapOption.UriHost, { bytesMin: 1, bytesMax: 255, repeatable: false }],
  [CoapOption.ETag, { bytesMin: 1, bytesMax: 8, repeatable: true }],
  [CoapOption.IfNoneMatch, { bytesMin: 0, bytesMax: 0, repeatable: false }],
  [CoapOption.Observe, { bytesMin: 0, bytesMax: 3, repeatable: false }],
  [CoapOption.UriPort, { bytesMin: 0, bytesMax: 2, repeatable: false }],
  [CoapOption.UriPath, { bytesMin: 0, bytesMax: 255, repeatable: true }],
  [CoapOption.ContentFormat, { bytesMin: 0, bytesMax: 2, repeatable: false }],
  [CoapOption.UriQuery, { bytesMin: 0, bytesMax: 255, repeatable: true }],
  [CoapOption.Accept, { bytesMin: 0, bytesMax: 2, repeatable: false }],
  [CoapOption.QBlock1, { bytesMin: 0, bytesMax: 3, repeatable: false }],
  [CoapOption.Block2, { bytesMin: 0, bytesMax: 3, repeatable: false }],
  [CoapOption.Block1, { bytesMin: 0, bytesMax: 3, repeatable: false }],
  [CoapOption.Size2, { bytesMin: 0, bytesMax: 4, repeatable: false }],
  [CoapOption.Size1, { bytesMin: 0, bytesMax: 4, repeatable: false }],
  [CoapOption.RequestTag, { bytesMin: 0, bytesMax: 8, repeatable: false }],
  [CoapOption.CoraftPiece1, { bytesMin: 0, bytesMax: 4, repeatable: false }],
]);

/** Parses a request message; a bad option gives the error response to send instead. */
export function referenceParseRequest(message: CoapMessage, peer: DatagramPeer): ReferenceParsedRequest {
  const method = methodOfCode(message.code);
  if (method === null)
    return { ok: false, response: diagnosticResponse(CoapResponseCode.MethodNotAllowed, 'unknown method') };
  const bad = findBadOption(message.options);
  if (bad !== null) return { ok: false, response: bad };
  const fields = collectOptions(message.options);
  if (fields === null)
    return {
      ok: false,
      response: diagnosticResponse(CoapResponseCode.BadRequest, 'Uri-Path or Uri-Query is not UTF-8'),
    };
  const block1 = fields.block1 === null ? null : decodeBlock(fields.block1);
  const qblock1 = fields.qblock1 === null ? null : decodeBlock(fields.qblock1);
  const block2 = fields.block2 === null ? null : decodeBlock(fields.block2);
  const piece1 = fields.piece1 === null ? null : decodePiece(fields.piece1);
  const badBlock =
    (fields.block1 !== null && block1 === null) ||
    (fields.qblock1 !== null && qblock1 === null) ||
    (fields.block2 !== null && block2 === null);
  if (badBlock) return { ok: false, response: diagnosticResponse(CoapResponseCode.BadOption, 'bad block option') };
  // RFC 9177 §4.1: Block1 and Q-Block1 in one request is an error.
  if (block1 !== null && qblock1 !== null)
    return { ok: false, response: diagnosticResponse(CoapResponseCode.BadOption, 'both Block1 and Q-Block1') };
  if (piece1 !== null && (block1 !== null || qblock1 !== null))
    return { ok: false, response: diagnosticResponse(CoapResponseCode.BadOption, 'a piece with Block1 or Q-Block1') };
  const request: CoapRequest = {
    method,
    path: fields.path,
    query: fields.query,
    contentFormat: fields.contentFormat,
    accept: fields.accept,
    ifMatch: fields.ifMatch,
    ifNoneMatch: fields.ifNoneMatch,
    etags: fields.etags,
    observe: fields.observe,
    payload: message.payload,
    token: message.token,
    messageId: message.messageId,
    confirmable: message.type === 0,
    peer,
    options: message.options,
  };
  return {
    ok: true,
    request,
    block: { block1, qblock1, piece1, block2, size1: fields.size1, size2: fields.size2, requestTag: fields.requestTag },
  };
}

interface CollectedOptions {
  readonly path: string[];
  readonly query: string[];
  readonly ifMatch: Uint8Array[];
  readonly etags: Uint8Array[];
  ifNoneMatch: boolean;
  contentFormat: number | null;
  accept: number | null;
  observe: number | null;
  size1: number | null;
  size2: boolean;
  block1: Uint8Array | null;
  qblock1: Uint8Array | null;
  piece1: Uint8Array | null;
  block2: Uint8Array | null;
  requestTag: Uint8Array | null;
}

/**
 * Reads every recognised option in one pass (the receive path runs it for every request).
 * Malformed elective options are skipped; of a repeated non-repeatable option the first
 * counts. Null when a Uri-Path or Uri-Query segment is not UTF-8.
 */
function collectOptions(options: readonly CoapOptionValue[]): CollectedOptions | null {
  const c: CollectedOptions = {
    path: [],
    query: [],
    ifMatch: [],
    etags: [],
    ifNoneMatch: false,
    contentFormat: null,
    accept: null,
    observe: null,
    size1: null,
    size2: false,
    block1: null,
    qblock1: null,
    piece1: null,
    block2: null,
    requestTag: null,
  };
  for (const o of options) {
    if (!isValidOption(o)) continue;
    switch (o.number) {
      case CoapOption.UriPath:
      case CoapOption.UriQuery: {
        const text = decodeString(o.value);
        if (text === null) return null;
        (o.number === CoapOption.UriPath ? c.path : c.query).push(text);
        break;
      }
      case CoapOption.IfMatch:
        c.ifMatch.push(o.value);
        break;
      case CoapOption.ETag:
        c.etags.push(o.value);
        break;
      case CoapOption.IfNoneMatch:
        c.ifNoneMatch = true;
        break;
      case CoapOption.ContentFormat:
        c.contentFormat ??= decodeUint(o.value, 2);
        break;
      case CoapOption.Accept:
        c.accept ??= decodeUint(o.value, 2);
        break;
      case CoapOption.Observe:
        c.observe ??= decodeUint(o.value, 3);
        break;
      case CoapOption.Size2:
        c.size2 = true;
        break;
      case CoapOption.Size1:
        c.size1 ??= decodeUint(o.value, 4);
        break;
      case CoapOption.Block1:
        c.block1 ??= o.value;
        break;
      case CoapOption.QBlock1:
        c.qblock1 ??= o.value;
        break;
      case CoapOption.Block2:
        c.block2 ??= o.value;
        break;
      case CoapOption.CoraftPiece1:
        c.piece1 ??= o.value;
        break;
      case CoapOption.RequestTag:
        c.requestTag ??= o.value;
        break;
      default:
        break;
    }
  }
  return c;
}

/** The 4.02 (or 5.05) response for the first unacceptable critical option, or null. */
function findBadOption(options: readonly CoapOptionValue[]): CoapResponse | null {
  let previous = -1;
  for (const candidate of options) {
    const repeated = candidate.number === previous;
    previous = candidate.number;
    if (!isCriticalOption(candidate.number)) continue;
    if (candidate.number === CoapOption.ProxyUri || candidate.number === CoapOption.ProxyScheme) {
      return diagnosticResponse(CoapResponseCode.ProxyingNotSupported, 'proxying is not supported');
    }
    const rule = REQUEST_OPTION_RULES.get(candidate.number);
    if (rule === undefined)
      return diagnosticResponse(CoapResponseCode.BadOption, `unrecognised critical option ${candidate.number}`);
    if (repeated && !rule.repeatable)
      return diagnosticResponse(CoapResponseCode.BadOption, `option ${candidate.number} repeated`);
    if (candidate.value.length < rule.bytesMin || candidate.value.length > rule.bytesMax) {
      return diagnosticResponse(CoapResponseCode.BadOption, `option ${candidate.number} has a bad length`);
    }
  }
  return null;
}

/** Elective options with a bad length, and repeats of non-repeatable ones, are ignored. */
function isValidOption(candidate: CoapOptionValue): boolean {
  const rule = REQUEST_OPTION_RULES.get(candidate.number);
  if (rule === undefined) return false;
  return candidate.value.length >= rule.bytesMin && candidate.value.length <= rule.bytesMax;
}

/** The server's response bytes as they were built: the response's options, then `extra`, through encodeMessage. */
export function referenceEncodeResponse(
  type: CoapType,
  messageId: number,
  token: Uint8Array,
  response: CoapResponse,
  extra: readonly CoapOptionValue[],
): Uint8Array {
  const options = responseOptions(response);
  for (const o of extra) options.push(o);
  return encodeMessage({ type, code: response.code, messageId, token, options, payload: response.payload ?? EMPTY });
}
