/**
 * A CoAP message as the client keeps it to send and to retransmit: its head (header, token,
 * options, payload marker: message.ts encodeMessageHead) and its payload, the caller's body that
 * is never copied: one buffer, or the pieces the caller gave (CoapClientRequest.payloadParts: a
 * leader's AppendEntries of large commands, whose commands are the log's own buffers). With the
 * endpoint's sendParts (DatagramEndpoint) each request's datagram is the small head and those
 * pieces, sealed (DTLS) or sent (UDP) from where they are, and a retransmission sends the same
 * again. An endpoint without sendParts gets them joined.
 */
import { assert } from '../../contracts/assert.js';
import type { DatagramEndpoint } from '../datagram.js';
import { encodeMessageHead, type CoapMessage } from './message.js';

/** A message's bytes: `head` followed by the pieces of `body` (none for a message without payload). */
export interface OutgoingMessage {
  readonly head: Uint8Array;
  readonly body: readonly Uint8Array[];
  /** The bytes of `body`'s pieces together. */
  readonly bodyBytes: number;
}

/**
 * The message to send as head and body; nothing of its payload is copied. `parts`: the payload is
 * these pieces, in order (the request's body as the caller gave it, ClientExchange.wholeParts),
 * and the message's own payload is empty.
 */
export function outgoingOf(message: CoapMessage, parts: readonly Uint8Array[] | null = null): OutgoingMessage {
  if (parts === null) {
    const body = message.payload.length === 0 ? [] : [message.payload];
    return { head: encodeMessageHead(message), body, bodyBytes: message.payload.length };
  }
  assert(message.payload.length === 0, 'a message sent from parts has no payload of its own');
  const bodyBytes = bytesOf(parts);
  return { head: encodeMessageHead(message, bodyBytes), body: parts, bodyBytes };
}

/** The bytes of `pieces` together. */
export function bytesOf(pieces: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const piece of pieces) bytes += piece.length;
  return bytes;
}

/** Sends `message` (an OutgoingMessage, or whole bytes) as one datagram to `to`. */
export function sendOutgoing(
  endpoint: DatagramEndpoint,
  message: OutgoingMessage | Uint8Array,
  to: { readonly address: string; readonly port: number },
): Promise<void> {
  if (message instanceof Uint8Array) return endpoint.send(message, to.address, to.port);
  if (message.bodyBytes === 0) return endpoint.send(message.head, to.address, to.port);
  if (endpoint.sendParts !== undefined) return endpoint.sendParts(message.head, message.body, to.address, to.port);
  return endpoint.send(Buffer.concat([message.head, ...message.body]), to.address, to.port);
}
