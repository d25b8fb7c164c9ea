/**
 * What a CoAP resource handler sees and returns, and the strict parsing of a request's
 * options (RFC 7252 §5.4: an unrecognised or malformed critical option is 4.02 Bad Option; a
 * malformed elective option is ignored).
 */
import type { DatagramPeer } from '../datagram.js';
import { CoapOption, CoapResponseCode, isCriticalOption, methodOfCode, type CoapMethod } from './codes.js';
import type { CoapMessage, CoapOptionValue } from './message.js';
import { decodeBlock, decodeString, decodeUint, type BlockValue } from './options.js';

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
  [CoapOption.Block2, { bytesMin: 0, bytesMax: 3, repeatable: false }],
  [CoapOption.Block1, { bytesMin: 0, bytesMax: 3, repeatable: false }],
  [CoapOption.Size2, { bytesMin: 0, bytesMax: 4, repeatable: false }],
  [CoapOption.Size1, { bytesMin: 0, bytesMax: 4, repeatable: false }],
  [CoapOption.RequestTag, { bytesMin: 0, bytesMax: 8, repeatable: false }],
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
  if (method === null) return { ok: false, response: diagnosticResponse(CoapResponseCode.MethodNotAllowed, 'unknown method') };
  const bad = findBadOption(message.options);
  if (bad !== null) return { ok: false, response: bad };
  const valid = message.options.filter((candidate) => isValidOption(candidate));
  const path = decodeStrings(valid, CoapOption.UriPath);
  const query = decodeStrings(valid, CoapOption.UriQuery);
  if (path === null || query === null) {
    return { ok: false, response: diagnosticResponse(CoapResponseCode.BadRequest, 'Uri-Path or Uri-Query is not UTF-8') };
  }
  const block1 = readBlock(valid, CoapOption.Block1);
  const block2 = readBlock(valid, CoapOption.Block2);
  if (block1 === 'bad' || block2 === 'bad') return { ok: false, response: diagnosticResponse(CoapResponseCode.BadOption, 'bad block option') };
  const request: CoapRequest = {
    method,
    path,
    query,
    contentFormat: readUint(valid, CoapOption.ContentFormat, 2),
    accept: readUint(valid, CoapOption.Accept, 2),
    ifMatch: values(valid, CoapOption.IfMatch),
    ifNoneMatch: valid.some((candidate) => candidate.number === CoapOption.IfNoneMatch),
    etags: values(valid, CoapOption.ETag),
    observe: readUint(valid, CoapOption.Observe, 3),
    payload: message.payload,
    token: message.token,
    confirmable: message.type === 0,
    peer,
    options: message.options,
  };
  const block: RequestBlockFields = {
    block1,
    block2,
    size1: readUint(valid, CoapOption.Size1, 4),
    requestTag: values(valid, CoapOption.RequestTag)[0] ?? null,
  };
  return { ok: true, request, block };
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
    if (rule === undefined) return diagnosticResponse(CoapResponseCode.BadOption, `unrecognised critical option ${candidate.number}`);
    if (repeated && !rule.repeatable) return diagnosticResponse(CoapResponseCode.BadOption, `option ${candidate.number} repeated`);
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

function values(options: readonly CoapOptionValue[], number: number): Uint8Array[] {
  const result: Uint8Array[] = [];
  for (const candidate of options) if (candidate.number === number) result.push(candidate.value);
  return result;
}

function decodeStrings(options: readonly CoapOptionValue[], number: number): string[] | null {
  const result: string[] = [];
  for (const candidate of options) {
    if (candidate.number !== number) continue;
    const text = decodeString(candidate.value);
    if (text === null) return null;
    result.push(text);
  }
  return result;
}

function readUint(options: readonly CoapOptionValue[], number: number, bytesMax: number): number | null {
  const value = values(options, number)[0];
  return value === undefined ? null : decodeUint(value, bytesMax);
}

function readBlock(options: readonly CoapOptionValue[], number: number): BlockValue | null | 'bad' {
  const value = values(options, number)[0];
  if (value === undefined) return null;
  return decodeBlock(value) ?? 'bad';
}
