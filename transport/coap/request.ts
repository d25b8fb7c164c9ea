/**
 * What a CoAP resource handler sees and returns (request-parser.ts reads requests from
 * datagrams).
 */
import type { DatagramPeer } from '../datagram.js';
import { CoapResponseCode, type CoapMethod } from './codes.js';
import type { CoapOptionValue } from './message.js';
import type { BlockValue } from './options.js';
import type { SetBlock } from './pieces.js';

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
  /** The request carries Size2: the client asks for the size of the response body (RFC 7959 §4). */
  readonly size2: boolean;
  /** Distinguishes concurrent block-wise transfers of one client to one resource (RFC 9175 §3). */
  readonly requestTag: Uint8Array | null;
}

const DIAGNOSTIC_BYTES_MAX = 200;
const utf8 = new TextEncoder();

/** A response with a diagnostic payload (RFC 7252 §5.5.2), cut to a size that fits any datagram. */
export function diagnosticResponse(code: number, text: string): CoapResponse {
  const bytes = utf8.encode(text);
  return { code, payload: bytes.length <= DIAGNOSTIC_BYTES_MAX ? bytes : bytes.subarray(0, DIAGNOSTIC_BYTES_MAX) };
}

/** The Max-Age of a 5.03 refusal by a limit, seconds: when to try again. */
export const BUSY_RETRY_AFTER_S = 1;

/**
 * 5.03 for a request refused by a limit before anything ran, with Max-Age as the retry hint (RFC 7252
 * §5.9.3.4): without it a client takes the default Max-Age, 60 s (§5.10.5), as the time to wait.
 */
export function busyResponse(text: string): CoapResponse {
  return { ...diagnosticResponse(CoapResponseCode.ServiceUnavailable, text), maxAge: BUSY_RETRY_AFTER_S };
}
