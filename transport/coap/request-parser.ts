/**
 * The strict parsing of a request's options (RFC 7252 §5.4: an unrecognised or malformed
 * critical option is 4.02 Bad Option; a malformed elective option is ignored), read in one
 * pass straight from the datagram (message-reader.ts): no option objects, and no arrays or
 * views for options the request does not carry. The request's full option list is decoded
 * only if a handler reads `options` (the peer RPCs do, for the sender's address).
 */
import type { DatagramPeer } from '../datagram.js';
import { CoapOption, CoapResponseCode, isCriticalOption, methodOfCode } from './codes.js';
import { OptionCursor, type MessageReader } from './message-reader.js';
import { ReceivedRequest } from './received-request.js';
import { decodeBlock, decodeString } from './options.js';
import { decodePiece } from './pieces.js';
import { diagnosticResponse, type CoapResponse, type RequestBlockFields } from './request.js';

export { ReceivedRequest } from './received-request.js';

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

/** Most Uri-Path segments whose room the reused scratch keeps between requests. */
const PATH_SCRATCH_KEPT_MAX = 32;
/** The lists of a request without such options (shared: handlers only read them). */
const NO_STRINGS: readonly string[] = Object.freeze([]);
const NO_VALUES: readonly Uint8Array[] = Object.freeze([]);
/** The block fields of a request without block options, the common case. */
const NO_BLOCK: RequestBlockFields = Object.freeze({
  block1: null,
  qblock1: null,
  piece1: null,
  block2: null,
  size1: null,
  size2: false,
  requestTag: null,
});

/**
 * What one pass over a request's options found; see collectOptions. One is reused for every
 * request: `reset` clears it, and the lists a request keeps are copied out of it.
 */
class CollectedOptions {
  /** The Uri-Path segments are pathScratch[0, pathCount); at most PATH_SCRATCH_KEPT_MAX are kept between requests. */
  readonly pathScratch: string[] = [];
  pathCount = 0;
  query: string[] | null = null;
  ifMatch: Uint8Array[] | null = null;
  etags: Uint8Array[] | null = null;
  ifNoneMatch = false;
  contentFormat: number | null = null;
  accept: number | null = null;
  observe: number | null = null;
  size1: number | null = null;
  size2 = false;
  block1: Uint8Array | null = null;
  qblock1: Uint8Array | null = null;
  piece1: Uint8Array | null = null;
  block2: Uint8Array | null = null;
  requestTag: Uint8Array | null = null;
  /** A Uri-Path or Uri-Query segment is not UTF-8. */
  notUtf8 = false;

  reset(): void {
    // A datagram may hold thousands of Uri-Path options: the scratch keeps room for a usual path only.
    if (this.pathScratch.length > PATH_SCRATCH_KEPT_MAX) this.pathScratch.length = 0;
    this.pathCount = 0;
    this.query = null;
    this.ifMatch = null;
    this.etags = null;
    this.ifNoneMatch = false;
    this.contentFormat = null;
    this.accept = null;
    this.observe = null;
    this.size1 = null;
    this.size2 = false;
    this.block1 = null;
    this.qblock1 = null;
    this.piece1 = null;
    this.block2 = null;
    this.requestTag = null;
    this.notUtf8 = false;
  }

  /** The Uri-Path segments, in an array of their own. */
  path(): readonly string[] {
    return this.pathCount === 0 ? NO_STRINGS : this.pathScratch.slice(0, this.pathCount);
  }
}

/**
 * Parses request messages; one is reused for every request of a server (its scratch is
 * reused, so it is not reentrant: a parse finishes before the next starts).
 */
export class RequestParser {
  /** The block fields of the request `parse` last returned. */
  block: RequestBlockFields = NO_BLOCK;
  private readonly cursor = new OptionCursor();
  private readonly collected = new CollectedOptions();

  /**
   * Parses the request message that `reader` last read (its code is a request's; `token` is
   * its token, `peerKey` names `peer`): the request, its block fields in `block`, or the
   * error response to send instead when an option is bad.
   */
  parse(reader: MessageReader, peer: DatagramPeer, peerKey: string, token: Uint8Array): ReceivedRequest | CoapResponse {
    const method = methodOfCode(reader.code);
    if (method === null) return diagnosticResponse(CoapResponseCode.MethodNotAllowed, 'unknown method');
    const bytes = reader.bytes;
    const c = this.collected;
    c.reset();
    this.cursor.reset(bytes, reader.optionsStart, reader.optionsEnd);
    const bad = collectOptions(bytes, this.cursor, c);
    if (bad !== null) return bad;
    if (c.notUtf8) return diagnosticResponse(CoapResponseCode.BadRequest, 'Uri-Path or Uri-Query is not UTF-8');
    const block = blockFieldsOf(c);
    if (!('block1' in block)) return block;
    this.block = block;
    return new ReceivedRequest(
      method,
      c.path(),
      c.query ?? NO_STRINGS,
      c.contentFormat,
      c.accept,
      c.ifMatch ?? NO_VALUES,
      c.ifNoneMatch,
      c.etags ?? NO_VALUES,
      c.observe,
      reader.payload(),
      token,
      reader.messageId,
      reader.type === 0,
      peer,
      peerKey,
      bytes,
      reader.optionsStart,
      reader.optionsEnd,
    );
  }
}

/**
 * Reads every recognised option in one pass (the receive path runs it for every request) into
 * `c`. Returns the 4.02 (or 5.05) response for the first unacceptable critical option, which
 * wins over everything else. Malformed elective options are skipped; of a repeated
 * non-repeatable option the first well-formed one counts.
 */
function collectOptions(bytes: Uint8Array, cursor: OptionCursor, c: CollectedOptions): CoapResponse | null {
  let previous = -1;
  while (cursor.next()) {
    const number = cursor.number;
    const repeated = number === previous;
    previous = number;
    const rule = REQUEST_OPTION_RULES.get(number);
    const length = cursor.valueLength;
    if (isCriticalOption(number)) {
      const bad = criticalProblem(number, rule, repeated, length);
      if (bad !== null) return bad;
    }
    if (rule === undefined || length < rule.bytesMin || length > rule.bytesMax || c.notUtf8) continue;
    collectOption(bytes, cursor, c);
  }
  return null;
}

/** Records one well-formed recognised option. */
function collectOption(bytes: Uint8Array, cursor: OptionCursor, c: CollectedOptions): void {
  switch (cursor.number) {
    case CoapOption.UriPath: {
      const text = segmentText(bytes, cursor.valueStart, cursor.valueEnd);
      if (text === null) c.notUtf8 = true;
      else c.pathScratch[c.pathCount++] = text;
      break;
    }
    case CoapOption.UriQuery: {
      const text = segmentText(bytes, cursor.valueStart, cursor.valueEnd);
      if (text === null) c.notUtf8 = true;
      else (c.query ??= []).push(text);
      break;
    }
    case CoapOption.IfMatch:
      (c.ifMatch ??= []).push(cursor.value());
      break;
    case CoapOption.ETag:
      (c.etags ??= []).push(cursor.value());
      break;
    case CoapOption.IfNoneMatch:
      c.ifNoneMatch = true;
      break;
    case CoapOption.ContentFormat:
      c.contentFormat ??= cursor.uint(2);
      break;
    case CoapOption.Accept:
      c.accept ??= cursor.uint(2);
      break;
    case CoapOption.Observe:
      c.observe ??= cursor.uint(3);
      break;
    case CoapOption.Size1:
      c.size1 ??= cursor.uint(4);
      break;
    case CoapOption.Size2:
      c.size2 = true;
      break;
    case CoapOption.Block1:
      c.block1 ??= cursor.value();
      break;
    case CoapOption.QBlock1:
      c.qblock1 ??= cursor.value();
      break;
    case CoapOption.Block2:
      c.block2 ??= cursor.value();
      break;
    case CoapOption.CoraftPiece1:
      c.piece1 ??= cursor.value();
      break;
    case CoapOption.RequestTag:
      c.requestTag ??= cursor.value();
      break;
    default:
      break;
  }
}

/** The 4.02 (or 5.05) response to a critical option, or null when it is acceptable. */
function criticalProblem(
  number: number,
  rule: OptionRule | undefined,
  repeated: boolean,
  length: number,
): CoapResponse | null {
  if (number === CoapOption.ProxyUri || number === CoapOption.ProxyScheme)
    return diagnosticResponse(CoapResponseCode.ProxyingNotSupported, 'proxying is not supported');
  if (rule === undefined)
    return diagnosticResponse(CoapResponseCode.BadOption, `unrecognised critical option ${number}`);
  if (repeated && !rule.repeatable) return diagnosticResponse(CoapResponseCode.BadOption, `option ${number} repeated`);
  if (length < rule.bytesMin || length > rule.bytesMax)
    return diagnosticResponse(CoapResponseCode.BadOption, `option ${number} has a bad length`);
  return null;
}

/** The block fields of the collected options, or the 4.02 response to bad or conflicting ones. */
function blockFieldsOf(c: CollectedOptions): RequestBlockFields | CoapResponse {
  if (c.block1 === null && c.qblock1 === null && c.block2 === null && c.piece1 === null) {
    if (c.size1 === null && !c.size2 && c.requestTag === null) return NO_BLOCK;
  }
  const block1 = c.block1 === null ? null : decodeBlock(c.block1);
  const qblock1 = c.qblock1 === null ? null : decodeBlock(c.qblock1);
  const block2 = c.block2 === null ? null : decodeBlock(c.block2);
  const piece1 = c.piece1 === null ? null : decodePiece(c.piece1);
  const badBlock =
    (c.block1 !== null && block1 === null) ||
    (c.qblock1 !== null && qblock1 === null) ||
    (c.block2 !== null && block2 === null);
  if (badBlock) return diagnosticResponse(CoapResponseCode.BadOption, 'bad block option');
  // RFC 9177 §4.1: Block1 and Q-Block1 in one request is an error.
  if (block1 !== null && qblock1 !== null)
    return diagnosticResponse(CoapResponseCode.BadOption, 'both Block1 and Q-Block1');
  if (piece1 !== null && (block1 !== null || qblock1 !== null))
    return diagnosticResponse(CoapResponseCode.BadOption, 'a piece with Block1 or Q-Block1');
  return { block1, qblock1, piece1, block2, size1: c.size1, size2: c.size2, requestTag: c.requestTag };
}

/**
 * A Uri-Path or Uri-Query value as text; null when it is not UTF-8. ASCII, nearly every
 * segment, becomes a string without a view or a decoder call.
 */
function segmentText(bytes: Uint8Array, start: number, end: number): string | null {
  let ascii = true;
  for (let i = start; i < end && ascii; i += 1) ascii = (bytes[i] ?? 0) < 0x80;
  if (!ascii) return decodeString(bytes.subarray(start, end));
  if (Buffer.isBuffer(bytes)) return bytes.toString('latin1', start, end);
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}
