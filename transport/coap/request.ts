/**
 * What a CoAP resource handler sees and returns, and the strict parsing of a request's
 * options (RFC 7252 §5.4: an unrecognised or malformed critical option is 4.02 Bad Option; a
 * malformed elective option is ignored).
 */
import type { DatagramPeer } from '../datagram.js';
import { CoapOption, CoapResponseCode, isCriticalOption, methodOfCode, type CoapMethod } from './codes.js';
import type { CoapMessage, CoapOptionValue } from './message.js';
import { decodeBlock, decodeString, decodeUint, type BlockValue } from './options.js';
import { decodePiece, type SetBlock } from './pieces.js';

/** One request, as a resource handler sees it (block-wise transfers already reassembled). */
export interface CoapRequest {
  readonly method: CoapMethod;
  /** The Uri-Path segments, decoded. */
  readonly path: readonly string[];
  /** The Uri-Query arguments, decoded, e.g. ["stale=1"]. */
  readonly query: readonly string[];
  readonly contentFormat: number | null;
  readonly accept: number | null;
  /** If-Match values; an empty value matches any current representation (RFC 7252 §5.10.8.1). */
  readonly ifMatch: readonly Uint8Array[];
  readonly ifNoneMatch: boolean;
  /** ETag options of the request: the representations the client holds (RFC 7252 §5.10.6.2). */
  readonly etags: readonly Uint8Array[];
  /** The Observe option: 0 registers, 1 deregisters (RFC 7641 §2); null when absent. */
  readonly observe: number | null;
  readonly payload: Uint8Array;
  readonly token: Uint8Array;
  /** The message id: a retransmission of a request repeats it (RFC 7252 §4.5). */
  readonly messageId: number;
  readonly confirmable: boolean;
  readonly peer: DatagramPeer;
  /** Every option of the (first) request message, for options this layer does not interpret. */
  readonly options: readonly CoapOptionValue[];
}

/** What a resource handler answers. */
export interface CoapResponse {
  /** A response code byte, e.g. CoapResponseCode.Content. */
  readonly code: number;
  readonly payload?: Uint8Array;
  readonly contentFormat?: number;
  readonly etag?: Uint8Array;
  /** Seconds. */
  readonly maxAge?: number;
  /** The Observe sequence number of a notification (RFC 7641 §4.2). */
  readonly observe?: number;
  readonly locationPath?: readonly string[];
  /** Further options, e.g. Size1 on 4.13 (RFC 7959 §4). */
  readonly options?: readonly CoapOptionValue[];
}

/** The block-wise fields of one request message (RFC 7959, RFC 9175). */
export interface RequestBlockFields {
  readonly block1: BlockValue | null;
  /** The Q-Block1 option (RFC 9177 §4): the block of a body sent in payload sets. */
  readonly qblock1: BlockValue | null;
  /** coraft's piece option (pieces.ts): a piece of a body sent in payload sets. */
  readonly piece1: SetBlock | null;
  readonly block2: BlockValue | null;
  /** The announced size of the whole request body (Size1). */
  readonly size1: number | null;
  /** Distinguishes concurrent block-wise transfers of one client to one resource (RFC 9175 §3). */
  readonly requestTag: Uint8Array | null;
}

/** The outcome of parsing a request message. */
export type ParsedRequest =
  | { readonly ok: true; readonly request: CoapRequest; readonly block: RequestBlockFields }
  | { readonly ok: false; readonly response: CoapResponse };

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

const DIAGNOSTIC_BYTES_MAX = 200;
const utf8 = new TextEncoder();

/** A response with a diagnostic payload (RFC 7252 §5.5.2), cut to a size that fits any datagram. */
export function diagnosticResponse(code: number, text: string): CoapResponse {
  const bytes = utf8.encode(text);
  return { code, payload: bytes.length <= DIAGNOSTIC_BYTES_MAX ? bytes : bytes.subarray(0, DIAGNOSTIC_BYTES_MAX) };
}

/** Parses a request message; a bad option gives the error response to send instead. */
export function parseRequest(message: CoapMessage, peer: DatagramPeer): ParsedRequest {
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
    block: { block1, qblock1, piece1, block2, size1: fields.size1, requestTag: fields.requestTag },
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
