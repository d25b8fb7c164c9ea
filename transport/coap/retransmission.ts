/**
 * The CoAP client's retransmission timeouts (RFC 7252 §4.2, with the RTO of each peer following
 * its measured round trips, rtt-estimator.ts): the first timeout of each confirmable message,
 * the samples its answers give, and the back-off its expiries cause.
 *
 * Before a peer's first sample (and with `adaptiveRetransmission` off, the default) the first timeout is the
 * configured one: ackTimeoutMs, or a quarter of the request's remaining deadline when that is
 * shorter (at least ackTimeoutMinMs), so a short Raft deadline still leaves room for
 * retransmissions. Once measured, it is the peer's RTO, bounded by ackTimeoutMinMs below and
 * retransmitDelayMaxMs above. Either way it is drawn from [t, t × ackRandomFactor] (RFC 7252
 * §4.8), and a request's deadline still ends its retransmissions: rpcTimeoutMs keeps its meaning.
 */
import { assert } from '../../contracts/assert.js';
import type { Prng } from '../../contracts/prng.js';
import type { CoapClientOptions } from './config.js';
import { RttEstimator } from './rtt-estimator.js';

/** Most peers whose round trips one client keeps (the least recently measured is forgotten). */
export const RTT_PEERS_MAX = 1_024;
/** How long a peer's estimate lasts without a sample or an expiry, ms (rtt-estimator.ts). */
export const RTT_ESTIMATE_LIFETIME_MS = 5_000;

/** The retransmission state of the message in flight of one request (ClientExchange's fields). */
export interface RetransmittedMessage {
  readonly peerKey: string;
  readonly deadlineMs: number;
  /** Retransmissions of the message in flight (0: sent once). */
  retransmits: number;
  /** When the endpoint took the message in flight, ms (its round trip starts); NaN before. */
  sentAtMs: number;
  /** The timeout running now, ms: it doubles with each retransmission. */
  backoffMs: number;
  retransmitAtMs: number;
  /** An empty ACK arrived: a separate response follows, nothing is resent. */
  readonly acknowledged: boolean;
  /** The endpoint has not yet taken the datagram (a DTLS handshake may be running). */
  readonly sending: boolean;
}

/** The retransmission timeouts of one client; see the module comment. */
export class RetransmissionTimeouts {
  /** Null when `adaptiveRetransmission` is off. */
  readonly estimator: RttEstimator | null;

  constructor(
    private readonly options: CoapClientOptions,
    private readonly prng: Prng,
  ) {
    this.estimator = options.adaptiveRetransmission
      ? new RttEstimator({
          rtoMinMs: options.ackTimeoutMinMs,
          rtoMaxMs: options.retransmitDelayMaxMs,
          peersMax: RTT_PEERS_MAX,
          lifetimeMs: RTT_ESTIMATE_LIFETIME_MS,
        })
      : null;
  }

  /** A new message goes out at `nowMs`: its first timeout starts. */
  first(message: RetransmittedMessage, nowMs: number): void {
    const o = this.options;
    const remainingMs = message.deadlineMs - nowMs;
    const base =
      this.estimator?.rtoMs(message.peerKey, nowMs) ??
      Math.min(o.ackTimeoutMs, Math.max(o.ackTimeoutMinMs, remainingMs / 4));
    message.retransmits = 0;
    message.sentAtMs = Number.NaN;
    message.backoffMs = base * (1 + this.prng.nextFloat() * (o.ackRandomFactor - 1));
    message.retransmitAtMs = nowMs + message.backoffMs;
    assert(message.backoffMs > 0, 'a retransmission timeout is positive');
  }

  /** The endpoint took the message at `nowMs` (the round trip of a first transmission starts). */
  taken(message: RetransmittedMessage, nowMs: number): void {
    if (message.retransmits === 0) message.sentAtMs = nowMs;
  }

  /** The message was answered (a piggybacked response or its empty ACK) at `nowMs`. */
  answered(message: RetransmittedMessage, nowMs: number): void {
    // Karn's rule: the answer to a retransmitted message may be the first copy's.
    if (message.retransmits > 0 || message.acknowledged || !(nowMs >= message.sentAtMs)) return;
    this.estimator?.sample(message.peerKey, nowMs - message.sentAtMs, nowMs);
  }

  /**
   * The message's timeout expired at `nowMs`; true when it is to be sent again now (RFC 7252
   * §4.2: after a doubling timeout, maxRetransmit times), and the peer's RTO backs off.
   */
  expired(message: RetransmittedMessage, nowMs: number): boolean {
    if (message.sending) {
      // The endpoint still holds the first copy (a DTLS handshake): wait one more period.
      message.retransmitAtMs = nowMs + message.backoffMs;
      return false;
    }
    if (message.acknowledged || message.retransmits >= this.options.maxRetransmit) {
      message.retransmitAtMs = Number.POSITIVE_INFINITY;
      return false;
    }
    this.estimator?.backOff(message.peerKey, message.backoffMs, nowMs);
    message.retransmits += 1;
    message.backoffMs = Math.min(message.backoffMs * 2, this.options.retransmitDelayMaxMs);
    message.retransmitAtMs = nowMs + message.backoffMs;
    return true;
  }
}
