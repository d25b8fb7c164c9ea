/**
 * How a session treats a handshake message that asks for a new handshake. Such a message
 * restarts message_seq at 0 (RFC 6347 §4.2.2), so it is recognised before the reassembler's
 * retransmission check and never reaches the reassembler or the transcript.
 */
import { HandshakeType } from './constants.js';
import type { HandshakeFragment } from './fragments.js';

/**
 * - `ignore`: a HelloRequest to a client. RFC 5246 §7.4.1.1: a client ignores it while it
 *   negotiates, and may ignore it (or answer no_renegotiation) afterwards. We always ignore it:
 *   OpenSSL, the usual server that sends one, answers no_renegotiation with a fatal
 *   handshake_failure and ends a session that could have gone on.
 * - `malformed`: a HelloRequest to a client with a body (it has none).
 * - `refuse`: a protected ClientHello to an established server, refused with a
 *   no_renegotiation warning (RFC 5246 §7.2.2); the session goes on (RFC 5746 §4.4).
 * - `none`: any other message, handled as the handshake state says.
 */
export type RenegotiationRequest = 'ignore' | 'malformed' | 'refuse' | 'none';

/** Classifies `fragment`, received in a record of `epoch` by a session in `role`. */
export function renegotiationRequest(
  role: 'client' | 'server',
  established: boolean,
  epoch: number,
  fragment: HandshakeFragment,
): RenegotiationRequest {
  if (role === 'client') {
    if (fragment.msgType !== HandshakeType.helloRequest) return 'none';
    return fragment.length === 0 ? 'ignore' : 'malformed';
  }
  return established && epoch === 1 && fragment.msgType === HandshakeType.clientHello ? 'refuse' : 'none';
}
