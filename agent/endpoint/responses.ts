/**
 * How the local endpoint answers: JSON bodies, ETags carrying a key's revision, and errors as
 * CoAP codes with a one-line diagnostic payload. Operating errors of the node map to the code a
 * CoAP client can act on: 5.03 with Max-Age as a retry hint when there is no leader or the node
 * is busy, 5.04 when the outcome is unknown, 4.xx when the request itself is at fault.
 */
import { coapCode } from '../../transport/coap/codes.js';
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapResponse } from '../../transport/coap/index.js';
import { RaftError, SerializationError, describeError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import { decodeKvResult, type KvErrorResult, type KvResult } from '../kv/index.js';
import { decimalLength, writeDecimalDigits } from './decimal-ascii.js';

/** CoAP Content-Format numbers used here (RFC 7252 §12.3). */
export const CONTENT_FORMAT = { text: 0, octetStream: 42, json: 50 } as const;

/** 4.09 Conflict (RFC 8132) and 5.04 Gateway Timeout (RFC 7252). */
const CONFLICT = coapCode(4, 9);
const GATEWAY_TIMEOUT = coapCode(5, 4);
/** 5.02 Bad Gateway (RFC 7252 §5.9.3.3): the answer the node got for a request could not be read. */
const BAD_GATEWAY = coapCode(5, 2);

/**
 * A KV result the node returned that this version cannot read: the leader that answered a
 * forwarded request runs a later version of coraft, whose results have a field this one does not
 * know. The request was not at fault (so not 4.00), and a write so answered was applied.
 */
export class UnreadableAnswerError extends SerializationError {
  constructor(cause: SerializationError) {
    super(
      'CODEC_MALFORMED',
      `the answer could not be read (${cause.message}): the leader may run a later version of coraft; ` +
        'upgrade this member',
      { cause },
    );
  }

  override get name(): string {
    return 'UnreadableAnswerError';
  }
}

/** Decodes the KV result the node returned for a request; one it cannot read throws UnreadableAnswerError. */
export function readAnswer(bytes: Uint8Array): KvResult {
  try {
    return decodeKvResult(bytes);
  } catch (error) {
    if (error instanceof SerializationError) throw new UnreadableAnswerError(error);
    throw error;
  }
}

const encoder = new TextEncoder();

/** A JSON response. */
export function jsonResponse(code: number, value: unknown, extra: Partial<CoapResponse> = {}): CoapResponse {
  return { code, payload: encoder.encode(JSON.stringify(value)), contentFormat: CONTENT_FORMAT.json, ...extra };
}

/** An error response with a one-line diagnostic payload (RFC 7252 §5.5.2). */
export function errorResponse(code: number, text: string, maxAgeS?: number): CoapResponse {
  const line = text.split('\n')[0] ?? '';
  return {
    code,
    payload: encoder.encode(line.slice(0, 200)),
    contentFormat: CONTENT_FORMAT.text,
    ...(maxAgeS === undefined ? {} : { maxAge: maxAgeS }),
  };
}

/** The ETag of a revision (a safe integer >= 0): 8 bytes, big-endian. Written byte by byte: no BigInt, no DataView. */
export function revisionEtag(revision: number): Uint8Array {
  assert(Number.isSafeInteger(revision) && revision >= 0, 'a revision is a safe integer >= 0');
  const bytes = new Uint8Array(8);
  writeUint32(bytes, 0, Math.floor(revision / 0x100000000));
  writeUint32(bytes, 4, revision >>> 0);
  return bytes;
}

function writeUint32(into: Uint8Array, at: number, value: number): void {
  into[at] = value >>> 24;
  into[at + 1] = (value >>> 16) & 0xff;
  into[at + 2] = (value >>> 8) & 0xff;
  into[at + 3] = value & 0xff;
}

const PUT_JSON_HEAD = '{"revision":';
const PUT_JSON_MIDDLE = ',"storeRevision":';

/**
 * The JSON body of a write's answer, `{"revision":R,"storeRevision":S}` (what JSON.stringify writes for safe
 * integers >= 0), written straight into its bytes: the answer to every put, without the object, its string and the
 * encoder's copy of it.
 */
export function revisionsJson(revision: number, storeRevision: number): Uint8Array {
  assert(Number.isSafeInteger(revision) && revision >= 0, 'a revision is a safe integer >= 0');
  assert(Number.isSafeInteger(storeRevision) && storeRevision >= 0, 'a store revision is a safe integer >= 0');
  const length =
    PUT_JSON_HEAD.length + PUT_JSON_MIDDLE.length + 1 + decimalLength(revision) + decimalLength(storeRevision);
  const bytes = new Uint8Array(length);
  let at = writeAscii(bytes, 0, PUT_JSON_HEAD);
  at = writeDecimalDigits(bytes, at, revision);
  at = writeAscii(bytes, at, PUT_JSON_MIDDLE);
  at = writeDecimalDigits(bytes, at, storeRevision);
  bytes[at] = 0x7d; // '}'
  assert(at + 1 === length, 'the body fills its bytes');
  return bytes;
}

function writeAscii(into: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i += 1) into[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/** The revision an ETag (If-Match value) names, or null when it is not 1 to 8 bytes. */
export function etagRevision(etag: Uint8Array): number | null {
  if (etag.byteLength === 0 || etag.byteLength > 8) return null;
  let value = 0;
  for (const byte of etag) value = value * 256 + byte;
  return Number.isSafeInteger(value) ? value : null;
}

/** The response for an error the node threw. */
export function responseForError(error: unknown): CoapResponse {
  const message = describeError(error);
  if (!(error instanceof RaftError))
    return errorResponse(CoapResponseCode.InternalServerError, `internal error: ${message}`);
  if (error instanceof UnreadableAnswerError) return errorResponse(BAD_GATEWAY, message);
  switch (error.code) {
    case 'RAFT_NOT_LEADER':
    case 'RAFT_STOPPED':
    case 'RAFT_BUSY':
    case 'RAFT_TRANSFER':
    case 'RAFT_ELECTION':
    case 'NET_UNREACHABLE':
    case 'NET_ADDRESS':
      return errorResponse(CoapResponseCode.ServiceUnavailable, message, 1);
    case 'RAFT_TIMEOUT':
    case 'NET_TIMEOUT':
      return errorResponse(GATEWAY_TIMEOUT, message);
    case 'RAFT_PROPOSAL_DROPPED':
      return errorResponse(
        message.includes('exceeds') ? CoapResponseCode.RequestEntityTooLarge : CoapResponseCode.ServiceUnavailable,
        message,
        1,
      );
    case 'RAFT_MEMBERSHIP':
      return errorResponse(CONFLICT, message);
    case 'RAFT_FORBIDDEN':
      return errorResponse(CoapResponseCode.Forbidden, message);
    case 'STORAGE_FULL':
      // A disk's NOSPACE alarm (disk-guard.ts): the write was not proposed. 4.13, as a quota refusal.
      return errorResponse(CoapResponseCode.RequestEntityTooLarge, message);
    case 'CODEC_MALFORMED':
    case 'CODEC_LIMIT':
    case 'CODEC_VERSION':
    case 'CONFIG_INVALID':
      return errorResponse(CoapResponseCode.BadRequest, message);
    default:
      return errorResponse(CoapResponseCode.InternalServerError, message);
  }
}

/** The response for a KV error result. */
export function responseForKvError(result: KvErrorResult): CoapResponse {
  const text = `${result.code}: ${result.message}`;
  switch (result.code) {
    case 'KV_VALUE_TOO_LARGE':
      return errorResponse(CoapResponseCode.RequestEntityTooLarge, text);
    case 'KV_STALE_SEQUENCE':
    case 'KV_SESSION_EXPIRED':
    case 'KV_RESPONSE_NOT_RETAINED':
      return errorResponse(CONFLICT, text);
    case 'KV_KEY_COUNT_LIMIT':
    case 'KV_DATA_LIMIT':
      return errorResponse(CoapResponseCode.ServiceUnavailable, text, 60);
    case 'KV_RESERVED_KEY':
      return errorResponse(CoapResponseCode.Forbidden, text);
    case 'KV_LEASE_NOT_FOUND':
      return errorResponse(CoapResponseCode.NotFound, text);
    case 'KV_LEASE_LIMIT':
      return errorResponse(CoapResponseCode.ServiceUnavailable, text, 60);
    case 'KV_LEASE_TTL':
      return errorResponse(CoapResponseCode.BadRequest, text);
    case 'KV_QUOTA_EXCEEDED':
      // 4.13 with the diagnostic `quota exceeded: N of M bytes` alone (README, "Quotas").
      return errorResponse(CoapResponseCode.RequestEntityTooLarge, result.message);
    case 'KV_COMPACTED':
      // The message is `compacted: oldest revision N`, which clients read as it is.
      return errorResponse(CoapResponseCode.NotFound, result.message);
    case 'KV_MALFORMED':
    case 'KV_KEY_TOO_LONG':
    case 'KV_CLIENT_ID_TOO_LONG':
      return errorResponse(CoapResponseCode.BadRequest, text);
  }
}
