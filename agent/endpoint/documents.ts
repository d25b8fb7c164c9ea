/**
 * Structured answers of the key-value API (listing, and later watch, transactions and leases):
 * a document is JSON (Content-Format 50) unless the request's Accept asks for CBOR (60); any
 * other Accept is answered 4.06. A value is a UTF-8 string (`value`) when its bytes are valid
 * UTF-8, else base64 (`valueBase64`), in both formats, so one document shape serves both.
 *
 * Every key-value answer carries the store revision (the log index of the last change): JSON
 * and CBOR documents in their `revision` (listing) or `storeRevision` (writes) field, and every
 * answer also in the elective option Store-Revision (STORE_REVISION_OPTION, a number of the
 * experimental range, RFC 7252 §12.2), which raw-value answers (GET /kv/{key}) need.
 */
import { Encoder } from 'cbor-x';
import { encodeCbor } from '../kv/index.js';
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import type { CoapOptionValue } from '../../transport/coap/message.js';
import { CONTENT_FORMAT, errorResponse } from './responses.js';

/** CoAP Content-Format of CBOR (RFC 7049 §7.4). */
export const CBOR_CONTENT_FORMAT = 60;

/**
 * The option that carries the store revision on key-value answers: elective, safe to forward
 * (RFC 7252 §5.4.6), from the experimental range 65000..65535.
 */
export const STORE_REVISION_OPTION = 65000;

const cbor = new Encoder({ mapsAsObjects: true, useRecords: false });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A value as a document field: `{value}` when it is valid UTF-8, else `{valueBase64}`. */
export function valueField(bytes: Uint8Array): { value: string } | { valueBase64: string } {
  try {
    return { value: utf8.decode(bytes) };
  } catch {
    return { valueBase64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  }
}

/** The Store-Revision option of `revision`: a minimal big-endian unsigned integer of up to 8 bytes. */
export function storeRevisionOption(revision: number): CoapOptionValue {
  let length = 0;
  for (let rest = revision; rest > 0; rest = Math.floor(rest / 256)) length += 1;
  // Written straight into its bytes, last first: no array of numbers and its copy (every write answers with it).
  const value = new Uint8Array(length);
  let rest = revision;
  for (let i = length - 1; i >= 0; i -= 1) {
    value[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  return { number: STORE_REVISION_OPTION, value };
}

/** 4.06 when the request's Accept is neither JSON nor CBOR, else null. */
export function unacceptable(request: CoapRequest): CoapResponse | null {
  if (request.accept === null || request.accept === CONTENT_FORMAT.json || request.accept === CBOR_CONTENT_FORMAT)
    return null;
  return errorResponse(
    CoapResponseCode.NotAcceptable,
    `Accept ${request.accept} is not served: ask for JSON (${CONTENT_FORMAT.json}) or CBOR (${CBOR_CONTENT_FORMAT})`,
  );
}

/**
 * 4.06 when the request's Accept names another Content-Format than `format`, the only one the
 * resource (`what`) serves, else null. RFC 7252 §5.10.4: a preferred Content-Format that cannot
 * be returned is answered 4.06, not with another format.
 */
export function acceptOnly(request: CoapRequest, format: number, what: string): CoapResponse | null {
  if (request.accept === null || request.accept === format) return null;
  return errorResponse(
    CoapResponseCode.NotAcceptable,
    `Accept ${request.accept} is not served: ${what} is Content-Format ${format} only`,
  );
}

/** The Content-Format of documents for a request's Accept: CBOR for 60, else JSON. */
export function documentFormat(accept: number | null): number {
  return accept === CBOR_CONTENT_FORMAT ? CBOR_CONTENT_FORMAT : CONTENT_FORMAT.json;
}

/** A document's bytes and Content-Format: CBOR for Accept 60, else JSON. */
export function encodeDocument(
  accept: number | null,
  document: unknown,
): { readonly payload: Uint8Array; readonly contentFormat: number } {
  if (accept === CBOR_CONTENT_FORMAT)
    return { payload: new Uint8Array(encodeCbor(cbor, document)), contentFormat: CBOR_CONTENT_FORMAT };
  return { payload: new TextEncoder().encode(JSON.stringify(document)), contentFormat: CONTENT_FORMAT.json };
}

/** A document in the format the request accepts (CBOR for Accept 60, else JSON). */
export function documentResponse(
  request: CoapRequest,
  code: number,
  document: unknown,
  extra: Partial<CoapResponse> = {},
): CoapResponse {
  return { code, ...encodeDocument(request.accept, document), ...extra };
}

/** The value of the query argument `name` (`name=value`; '' for a bare `name`), or null when absent. */
export function queryArgument(request: CoapRequest, name: string): string | null {
  for (const item of request.query) {
    if (item === name) return '';
    if (item.startsWith(`${name}=`)) return item.slice(name.length + 1);
  }
  return null;
}

/** Query arguments that are flags: present or absent, never given a value. */
const FLAG_ARGUMENTS: readonly string[] = ['stale'];

/**
 * 4.00 naming the first query argument not in `allowed`, or a flag given a value (`stale=false`
 * would otherwise read as `stale`), else null. A misspelt argument is refused, not ignored: a PUT
 * with `leas=5` would store a key without its lease.
 */
export function unknownArgument(request: CoapRequest, allowed: readonly string[]): CoapResponse | null {
  for (const item of request.query) {
    const equals = item.indexOf('=');
    const name = equals < 0 ? item : item.slice(0, equals);
    if (!allowed.includes(name))
      return errorResponse(
        CoapResponseCode.BadRequest,
        `unknown query argument '${name.slice(0, 32)}'; expected ${allowed.length === 0 ? 'none' : allowed.join(', ')}`,
      );
    if (equals >= 0 && FLAG_ARGUMENTS.includes(name))
      return errorResponse(CoapResponseCode.BadRequest, `${name} takes no value: give ?${name} alone`);
  }
  return null;
}

/** Parses an integer query argument within [min, max]; a string is the 4.00 text of a bad one. */
export function integerArgument(text: string, name: string, min: number, max: number): number | string {
  const value = /^[0-9]{1,16}$/u.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    return `${name} must be an integer from ${min} to ${max}`;
  return value;
}
