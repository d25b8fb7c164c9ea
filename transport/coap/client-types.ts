/** Types of the CoAP client's interface (client.ts), apart from the exchange that uses them, and its tokens. */

import { NetworkError } from '../../contracts/errors.js';
import type { DatagramEndpoint, DatagramPeer } from '../datagram.js';
import type { CoapMethod } from './codes.js';
import type { CoapClientOptions } from './config.js';
import type { CoapOptionValue } from './message.js';

/** Most requests outstanding to all peers: each holds a 16-bit message id, unique while it may be ACKed (§4.4). */
export const OUTSTANDING_TOTAL_MAX = 32_768;

/** Where a request goes: an IP address literal and a port. */
export interface CoapTarget {
  readonly address: string;
  readonly port: number;
}

/** Counters of a client, since it was built. */
export interface CoapClientStats {
  requests: number;
  retransmissions: number;
  timeouts: number;
  /** Requests refused because `outstandingPerPeerMax` was reached. */
  refusedOutstanding: number;
  /** Datagrams that were malformed or matched no request. */
  ignored: number;
  /** Empty ACKs and RSTs the endpoint failed to send. */
  sendFailures: number;
}

/** The lookup key of one of our tokens: its first four bytes. */
export function tokenIdOf(token: Uint8Array): number {
  return tokenIdAt(token, 0);
}

/** The lookup key of a token at `at` in `bytes`. */
export function tokenIdAt(bytes: Uint8Array, at: number): number {
  return (
    (((bytes[at] ?? 0) << 24) | ((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0)) >>> 0
  );
}

/** An 8-byte token: the 32-bit lookup key, then 32 random bits. */
export function tokenOf(tokenId: number, random: number): Uint8Array {
  const token = Buffer.allocUnsafe(8);
  token.writeUInt32BE(tokenId >>> 0, 0);
  token.writeUInt32BE(random >>> 0, 4);
  return token;
}

/** Why a request of `bodyBytes` may not go, with `count` outstanding to its target and `total` in all; null: it may. */
export function requestRefusal(
  bodyBytes: number,
  count: number,
  total: number,
  options: CoapClientOptions,
  target: CoapTarget,
): NetworkError | null {
  if (bodyBytes > options.bodyBytesMax) {
    const text = `request body of ${bodyBytes} bytes exceeds bodyBytesMax ${options.bodyBytesMax}`;
    return new NetworkError('NET_TOO_LARGE', text);
  }
  if (count < options.outstandingPerPeerMax && total < OUTSTANDING_TOTAL_MAX) return null;
  const bound =
    count >= options.outstandingPerPeerMax
      ? `outstandingPerPeerMax (${options.outstandingPerPeerMax})`
      : `OUTSTANDING_TOTAL_MAX (${OUTSTANDING_TOTAL_MAX})`;
  const text = `${bound} requests already outstanding, to ${target.address}:${target.port}`;
  return new NetworkError('NET_BUSY', text);
}

/** Closes the endpoint `opening` gives, once it opened; nothing when it failed to open. */
export async function closeWhenOpen(opening: Promise<DatagramEndpoint>): Promise<void> {
  let endpoint: DatagramEndpoint;
  try {
    endpoint = await opening;
  } catch (error: unknown) {
    // The endpoint never opened, so there is nothing to close.
    if (error instanceof NetworkError) return;
    throw error;
  }
  await endpoint.close();
}

/** A request the client sends. */
export interface CoapClientRequest {
  readonly method: CoapMethod;
  readonly path: readonly string[];
  readonly query?: readonly string[];
  readonly contentFormat?: number;
  readonly accept?: number;
  readonly payload?: Uint8Array;
  /**
   * The payload as pieces, instead of `payload`: sent as they are while the body goes whole (joined
   * once only if it goes block-wise); never written to (outgoing.ts).
   */
  readonly payloadParts?: readonly Uint8Array[];
  /** Further options (ETag, If-Match, If-None-Match, Observe, ...). */
  readonly options?: readonly CoapOptionValue[];
}

/** A complete response: the first response message, with the whole body reassembled. */
export interface CoapClientResponse {
  readonly code: number;
  readonly payload: Uint8Array;
  readonly contentFormat: number | null;
  readonly etag: Uint8Array | null;
  /** Every option of the first response message. */
  readonly options: readonly CoapOptionValue[];
  readonly peer: DatagramPeer;
}
