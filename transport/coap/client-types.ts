/** Types of the CoAP client's interface (client.ts), apart from the exchange that uses them. */

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
