/**
 * CoAP message types, method and response codes, and option numbers (RFC 7252 §3, §5.8,
 * §5.9, §12; RFC 7959 §2.1; RFC 7641 §2; RFC 9175 §3). A code is kept as the raw byte of the
 * header, class in the top three bits and detail in the low five: 2.04 is (2 << 5) | 4 = 68.
 */

/** The four message types of RFC 7252 §3. */
export const CoapType = {
  /** Confirmable: retransmitted until acknowledged. */
  CON: 0,
  /** Non-confirmable. */
  NON: 1,
  /** Acknowledgement; may carry a piggybacked response. */
  ACK: 2,
  /** Reset: "I cannot process this message". */
  RST: 3,
} as const;

/** One of {@link CoapType}. */
export type CoapType = (typeof CoapType)[keyof typeof CoapType];

/** Builds a code byte from its class (0..7) and detail (0..31). */
export function coapCode(codeClass: number, detail: number): number {
  return ((codeClass & 0x07) << 5) | (detail & 0x1f);
}

/** The class of a code byte: 0 request, 2 success, 4 client error, 5 server error. */
export function codeClassOf(code: number): number {
  return code >>> 5;
}

/** Formats a code byte as "c.dd", e.g. 2.04. */
export function formatCode(code: number): string {
  const detail = code & 0x1f;
  return `${code >>> 5}.${detail < 10 ? '0' : ''}${detail}`;
}

/** Method codes (RFC 7252 §12.1.1, RFC 8132). */
export const CoapMethodCode = {
  GET: coapCode(0, 1),
  POST: coapCode(0, 2),
  PUT: coapCode(0, 3),
  DELETE: coapCode(0, 4),
  FETCH: coapCode(0, 5),
  PATCH: coapCode(0, 6),
  iPATCH: coapCode(0, 7),
} as const;

/** A request method name. */
export type CoapMethod = keyof typeof CoapMethodCode;

/** Every method name, in code order. */
export const COAP_METHODS: readonly CoapMethod[] = ['GET', 'POST', 'PUT', 'DELETE', 'FETCH', 'PATCH', 'iPATCH'];

const METHOD_BY_CODE: ReadonlyMap<number, CoapMethod> = new Map(
  COAP_METHODS.map((name) => [CoapMethodCode[name], name]),
);

/** The method of a request code, or null when the code is not a known method. */
export function methodOfCode(code: number): CoapMethod | null {
  return METHOD_BY_CODE.get(code) ?? null;
}

/** The response codes this layer produces or interprets (RFC 7252 §12.1.2, RFC 7959 §2.9). */
export const CoapResponseCode = {
  Created: coapCode(2, 1),
  Deleted: coapCode(2, 2),
  Valid: coapCode(2, 3),
  Changed: coapCode(2, 4),
  Content: coapCode(2, 5),
  Continue: coapCode(2, 31),
  BadRequest: coapCode(4, 0),
  Unauthorized: coapCode(4, 1),
  BadOption: coapCode(4, 2),
  Forbidden: coapCode(4, 3),
  NotFound: coapCode(4, 4),
  MethodNotAllowed: coapCode(4, 5),
  NotAcceptable: coapCode(4, 6),
  RequestEntityIncomplete: coapCode(4, 8),
  PreconditionFailed: coapCode(4, 12),
  RequestEntityTooLarge: coapCode(4, 13),
  UnsupportedContentFormat: coapCode(4, 15),
  InternalServerError: coapCode(5, 0),
  NotImplemented: coapCode(5, 1),
  ServiceUnavailable: coapCode(5, 3),
  ProxyingNotSupported: coapCode(5, 5),
} as const;

/** Option numbers (RFC 7252 §5.10, RFC 7641, RFC 7959, RFC 9175, RFC 9177). */
export const CoapOption = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6,
  UriPort: 7,
  LocationPath: 8,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  Accept: 17,
  /** RFC 9177 §4: a request body sent in payload sets without a round trip per block (critical). */
  QBlock1: 19,
  LocationQuery: 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  ProxyUri: 35,
  ProxyScheme: 39,
  Size1: 60,
  RequestTag: 292,
  /**
   * coraft's peer RPCs: the "host:port" the sending node's peer server listens at. Elective
   * (even), from the range for experimental use (RFC 7252 §12.2): other servers ignore it.
   */
  CoraftPeerAddress: 65004,
  /**
   * coraft's pieces (pieces.ts): a request body in payload sets of pieces as large as a datagram
   * allows. Critical and unsafe (odd, bit 1 set), from the experimental range: a server that does
   * not know it answers 4.02, and the body goes again with Q-Block1.
   */
  CoraftPiece1: 65007,
} as const;

/** True when an option number is critical: an unrecognised one must be rejected (RFC 7252 §5.4.1). */
export function isCriticalOption(optionNumber: number): boolean {
  return (optionNumber & 1) === 1;
}

/** Content-Format of a 4.08 listing missing Q-Block1 blocks: application/missing-blocks+cbor-seq (RFC 9177 §12.3). */
export const MISSING_BLOCKS_CONTENT_FORMAT = 272;
