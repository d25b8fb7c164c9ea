/**
 * A CoAP message as the client keeps it to send and to retransmit: its head (header, token,
 * options, payload marker: message.ts encodeMessageHead) and its payload, a view of the caller's
 * body that is never copied. A leader's AppendEntries body (up to 16 KiB) is encoded once for
 * every follower; with the endpoint's sendParts (DatagramEndpoint) each request's datagram is
 * the small head and that shared body, sealed (DTLS) or sent (UDP) from where they are, and a
 * retransmission sends the same two again. An endpoint without sendParts gets them joined.
 */
import type { DatagramEndpoint } from '../datagram.js';
import { encodeMessageHead, type CoapMessage } from './message.js';

/** A message's bytes: `head` followed by `body` (empty for a message without payload). */
export interface OutgoingMessage {
  readonly head: Uint8Array;
  readonly body: Uint8Array;
}

/** The message to send as head and body; nothing of its payload is copied. */
export function outgoingOf(message: CoapMessage): OutgoingMessage {
  return { head: encodeMessageHead(message), body: message.payload };
}

/** Sends `message` (an OutgoingMessage, or whole bytes) as one datagram to `to`. */
export function sendOutgoing(
  endpoint: DatagramEndpoint,
  message: OutgoingMessage | Uint8Array,
  to: { readonly address: string; readonly port: number },
): Promise<void> {
  if (message instanceof Uint8Array) return endpoint.send(message, to.address, to.port);
  if (message.body.length === 0) return endpoint.send(message.head, to.address, to.port);
  if (endpoint.sendParts !== undefined) return endpoint.sendParts(message.head, message.body, to.address, to.port);
  return endpoint.send(Buffer.concat([message.head, message.body]), to.address, to.port);
}
