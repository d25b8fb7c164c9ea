/**
 * Conditional requests for resources that carry an entity-tag (RFC 7252 §5.10.6, §5.10.8),
 * for the local endpoint's compare-and-set and cache validation: If-Match and If-None-Match
 * preconditions, and the 2.03 Valid answer to a GET whose ETag option names the current
 * representation.
 */
import { CoapResponseCode } from './codes.js';
import { sameBytes } from './duplicate-cache.js';
import { diagnosticResponse, type CoapRequest, type CoapResponse } from './request.js';

/**
 * The 4.12 Precondition Failed response when the request's preconditions do not hold for a
 * resource whose current entity-tag is `currentEtag` (null: the resource does not exist),
 * else null. If-Match holds when one of its values equals the current tag, or is empty and
 * the resource exists; If-None-Match holds when the resource does not exist.
 */
export function failedPrecondition(request: CoapRequest, currentEtag: Uint8Array | null): CoapResponse | null {
  if (request.ifMatch.length > 0) {
    const matches =
      currentEtag !== null && request.ifMatch.some((value) => value.length === 0 || sameBytes(value, currentEtag));
    if (!matches)
      return diagnosticResponse(
        CoapResponseCode.PreconditionFailed,
        'If-Match does not match the current representation',
      );
  }
  if (request.ifNoneMatch && currentEtag !== null)
    return diagnosticResponse(CoapResponseCode.PreconditionFailed, 'the resource exists (If-None-Match)');
  return null;
}

/** 2.03 Valid (with the tag) when a GET names the current entity-tag in an ETag option, else null. */
export function validResponse(request: CoapRequest, currentEtag: Uint8Array | null): CoapResponse | null {
  if (request.method !== 'GET' || currentEtag === null) return null;
  return request.etags.some((tag) => sameBytes(tag, currentEtag))
    ? { code: CoapResponseCode.Valid, etag: currentEtag }
    : null;
}
