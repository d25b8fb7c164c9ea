/**
 * The tokens of the confirmable requests whose handlers run, by peer (address, port, identity):
 * a request with the token of one still in progress from the same peer is refused (5.03, not
 * run), not run beside it.
 *
 * The answers of two such requests differ only in their message ids, and a client that matches a
 * piggybacked answer by its token alone (RFC 7252 §5.3.2 wants the message id too) takes
 * whichever comes first. Two libcoap coap-client processes did that: libcoap 4.3 gives every
 * process the same first token (0x01) and sets SO_REUSEADDR on its socket before the kernel picks
 * its port, so two processes running at once can get the same port, and the kernel hands every
 * datagram for that port to one of them. A PUT was answered with the revision of the other
 * process's PUT, whose own answer was lost until it retransmitted. Refused, the later request's
 * client gets an answer that is its own and true (nothing was run, retry), and the earlier one's
 * answer goes out as before. A client whose requests in flight to one server carry distinct
 * tokens (RFC 7252 §5.3.1) never meets the refusal; a token may be used again once its request is
 * answered.
 */
import { busyResponse, type CoapResponse } from './request.js';

/** The refusal of a request whose token is in progress from its peer; the same for every one. */
export const TOKEN_IN_PROGRESS_RESPONSE: CoapResponse = busyResponse(
  'another request with this token from this address and port is in progress; this one was not run: ' +
    'give each request in flight its own token (coap-client: -T), or retry once the other is answered',
);

/** See the module comment. */
export class TokensInProgress {
  /** `peerKey` and token of every request in progress; replaced when emptied (contracts/young-map.ts). */
  private running = new Set<string>();

  /** How many requests are in progress. */
  get size(): number {
    return this.running.size;
  }

  /** Marks request `token` of `peerKey` in progress; false, marking nothing, when one with that token is already. */
  begin(peerKey: string, token: Uint8Array): boolean {
    const key = keyOf(peerKey, token);
    if (this.running.has(key)) return false;
    this.running.add(key);
    return true;
  }

  /** The request `token` of `peerKey` that `begin` marked is answered. */
  end(peerKey: string, token: Uint8Array): void {
    this.running.delete(keyOf(peerKey, token));
    if (this.running.size === 0) this.running = new Set();
  }
}

/** The peer key and the token (at most 8 bytes, one latin1 character each) in one string. */
function keyOf(peerKey: string, token: Uint8Array): string {
  return `${peerKey}#${Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('latin1')}`;
}
