/**
 * The types a CoAP server (server.ts) is built with and reports: its dependencies, its counters,
 * what its block-wise stores hold, and the notifications it sends.
 */
import type { Timers } from '../../contracts/clock.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { DatagramEndpoint, DatagramPeer } from '../datagram.js';
import type { ConfirmableOutcome } from './confirmables.js';

/** What a CoAP server is given. */
export interface CoapServerDeps {
  /** Opens the endpoint to listen on; `start` calls it, `stop` closes what it returned. */
  readonly openEndpoint: () => Promise<DatagramEndpoint>;
  /** The clock of lifetimes, and the timers of expiry sweeps and notification retransmissions. */
  readonly timers: Timers;
  /**
   * Counts every refusal by a limit (`coap_limit_refusals_total`, dimensions `server` and
   * `limit`: the option's name) and every confirmable notification's outcome
   * (`coap_notifications_total`, dimensions `server` and `outcome`). Default: none (the
   * counters in `stats` only).
   */
  readonly metrics?: Metrics;
  /** The `server` dimension of the metrics, e.g. "endpoint" or "peer". Default "coap". */
  readonly name?: string;
}

/** A notification sent by {@link CoapServer.notify}. */
export interface Notification {
  readonly messageId: number;
  /** False also when a confirmable one was asked for but notificationsPendingMax was reached. */
  readonly confirmable: boolean;
  /** 'sent' for a non-confirmable notification; how a confirmable one ended otherwise. */
  readonly outcome: Promise<ConfirmableOutcome | 'sent'>;
}

/** What the block-wise stores and the notification table hold. */
export interface CoapServerBlockStats {
  readonly block1Transfers: number;
  /** Counted against blockBytesTotalMax. */
  readonly block1HeldBytes: number;
  /** The byteLength of the ArrayBuffers the transfers keep alive (equals block1HeldBytes). */
  readonly block1BufferBytes: number;
  readonly block2Bodies: number;
  readonly block2HeldBytes: number;
  readonly notificationsPending: number;
}

/** Counters of a server, since it was built. */
export interface CoapServerStats {
  requests: number;
  duplicates: number;
  malformed: number;
  /** Requests refused with 5.03 because `requestsInFlightMax` was reached. */
  busy: number;
  /** Response datagrams the endpoint failed to send. */
  sendFailures: number;
  /** Refusals by a limit, by the option's name (blockBytesTotalMax, block1BytesMin, ...). */
  readonly limitRefusals: Record<string, number>;
}

/** How one request message is answered (a ReceivedRequest is one). */
export interface Exchange {
  readonly peer: DatagramPeer;
  readonly peerKey: string;
  readonly messageId: number;
  readonly token: Uint8Array;
  readonly confirmable: boolean;
}
