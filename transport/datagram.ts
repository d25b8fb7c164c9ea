/**
 * A datagram endpoint: the seam between the CoAP layer and what carries its datagrams. Plain
 * UDP and DTLS 1.2 PSK sessions both implement it, so the same CoAP code runs as `coap` and
 * as `coaps`.
 */

/** Who sent a datagram. */
export interface DatagramPeer {
  readonly address: string;
  readonly port: number;
  /** The authenticated PSK identity of a DTLS session; null over plain UDP. */
  readonly identity: string | null;
}

/**
 * Receives one datagram of application data. `data` is the receiver's to keep: a view of a
 * buffer made for this datagram alone (Node's per-datagram buffer over UDP, the record's fresh
 * plaintext over DTLS) that the endpoint never writes into or hands to anyone else afterwards,
 * so what is decoded from it may keep views of it (InboundContext.bytesOwned).
 */
export type DatagramHandler = (data: Uint8Array, peer: DatagramPeer) => void;

/**
 * One local socket exchanging application datagrams with peers. For a DTLS client endpoint,
 * `send` to a peer without a session first completes a handshake (and rejects with
 * NetworkError when it fails); a DTLS server endpoint only sends to peers with a session.
 */
export interface DatagramEndpoint {
  /** Sends one datagram to `address:port`; resolves once it is handed to the socket. */
  send(data: Uint8Array, address: string, port: number): Promise<void>;
  /**
   * Sends one datagram of `head` followed by the pieces of `body` to `address:port`, the bytes and
   * outcome of `send` of them all joined, without joining them: a CoAP message's header and its
   * payload, which a leader shares between the requests to all followers, or gives as pieces
   * that are its log's own commands (DTLS seals the record from them; UDP hands them all to one
   * sendmsg). Optional: senders join and `send` on endpoints without it. The endpoint reads them
   * before the promise settles and keeps none of them.
   */
  sendParts?(head: Uint8Array, body: readonly Uint8Array[], address: string, port: number): Promise<void>;
  /**
   * Sends one datagram to `address:port` for a sender that does not wait for it (a server's
   * answers), without a promise: a failure, `send`'s rejection, goes to `onFailure` instead,
   * perhaps before `post` returns. Optional: senders use `send` on endpoints without it.
   */
  post?(data: Uint8Array, address: string, port: number, onFailure: (error: Error) => void): void;
  /** Sets the receiver of every datagram that arrives (one handler; a later call replaces it). */
  onMessage(handler: DatagramHandler): void;
  /** The local address the endpoint is bound to. */
  localAddress(): { readonly address: string; readonly port: number };
  /** Closes the socket and every session (DTLS sends close_notify). */
  close(): Promise<void>;
}
