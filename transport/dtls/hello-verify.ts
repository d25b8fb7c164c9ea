/**
 * The stateless front door of a DTLS server (RFC 6347 §4.2.1): recognising a ClientHello
 * from its first record, and answering one without a valid cookie with a HelloVerifyRequest,
 * all without keeping any state for the client.
 */
import { CLIENT_HELLO_SEQUENCE_NUMBER_MAX, ContentType, DTLS_1_0, HandshakeType } from './constants.js';
import { encodeHandshakeFragment, parseHandshakeFragments } from './fragments.js';
import type { HandshakeFragment } from './fragments.js';
import { encodeHelloVerifyRequest, parseClientHelloPrefix } from './handshake-messages.js';
import type { ClientHelloPrefix } from './handshake-messages.js';
import { encodeRecord } from './record.js';
import type { RawRecord } from './record.js';

/** The leading ClientHello of a datagram: its first fragment and the fields a cookie covers. */
export interface InitialHello {
  readonly fragment: HandshakeFragment;
  readonly prefix: ClientHelloPrefix;
}

/**
 * Whether `record` starts with the first fragment of a ClientHello in epoch 0; null if not
 * (later fragments included), 'malformed' when it does but the fields up to the cookie
 * cannot be read, or its record sequence number leaves the server's records no room.
 */
export function readInitialHello(record: RawRecord): InitialHello | 'malformed' | null {
  if (record.type !== ContentType.handshake || record.epoch !== 0) return null;
  if (record.fragment[0] !== HandshakeType.clientHello) return null;
  if (record.seq > CLIENT_HELLO_SEQUENCE_NUMBER_MAX) return 'malformed';
  const fragments = parseHandshakeFragments(record.fragment, 16);
  const fragment = fragments?.[0];
  if (fragment === undefined) return 'malformed';
  // A later fragment of a ClientHello belongs to the handshake its first fragment started.
  if (fragment.fragmentOffset !== 0) return null;
  const prefix = parseClientHelloPrefix(fragment.body);
  if (prefix === null || prefix.version >>> 8 !== 0xfe) return 'malformed';
  return { fragment, prefix };
}

/**
 * The HelloVerifyRequest datagram for a ClientHello. Its record sequence number and
 * message_seq repeat the ClientHello's (RFC 6347 §4.2.1), and it carries DTLS 1.0 in both
 * version fields as RFC 6347 §4.2.1 recommends, so any client can read it.
 */
export function helloVerifyRequestDatagram(hello: RawRecord, messageSeq: number, cookie: Uint8Array): Uint8Array {
  const body = encodeHelloVerifyRequest(DTLS_1_0, cookie);
  const fragment = encodeHandshakeFragment(HandshakeType.helloVerifyRequest, body.length, messageSeq, 0, body);
  return encodeRecord(ContentType.handshake, DTLS_1_0, 0, hello.seq, fragment);
}
