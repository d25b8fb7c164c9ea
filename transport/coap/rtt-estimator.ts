/**
 * Retransmission timeouts that follow each peer's measured round-trip time: RFC 6298's
 * estimator (SRTT and RTTVAR, RTO = SRTT + max(G, 4 × RTTVAR)) applied to CoAP confirmable
 * messages, as draft-ietf-core-cocoa and RFC 8085 §3.1.1 advise for protocols over UDP that
 * exchange enough messages to measure.
 *
 * Why: a fixed initial timeout is wrong on both kinds of link. On a fast link (a LAN, loopback)
 * it waits far longer than a round trip before resending a lost datagram; on a slow one (a
 * site link, a follower syncing to a slow card) it fires before the answer can arrive, and
 * every request goes twice. The estimator keeps one RTO per peer.
 *
 * Rules (ours, from RFC 6298's):
 * - A sample is the time from a message's (only) transmission to its answer (a piggybacked
 *   response or an empty ACK). A message that was retransmitted gives no sample (Karn's rule,
 *   RFC 6298 §3): its answer may belong to either copy.
 * - The first sample R sets SRTT = R, RTTVAR = R / 2; later ones RTTVAR = 3/4 RTTVAR + 1/4
 *   |SRTT − R| (before SRTT moves), SRTT = 7/8 SRTT + 1/8 R (§2.2, §2.3).
 * - RTO = SRTT + max(G, 4 × RTTVAR), G = 1 ms, clamped to [rtoMinMs, rtoMaxMs] (§2.4, §2.5).
 * - When a message times out, the peer's RTO becomes at least twice the timeout that expired
 *   (§5.5), capped at rtoMaxMs, and stays so until the next valid sample recomputes it (§5.7).
 *   Taking the larger of the current RTO and the doubled timeout, rather than doubling the RTO
 *   per timeout, keeps one loss that hits many outstanding messages from doubling it many times.
 * - A peer with neither a sample nor an expiry has no RTO here: the caller uses its configured
 *   initial timeout. An expiry before the first sample sets the RTO too (twice the expired
 *   timeout): with Karn's rule, a link slower than the configured timeout would otherwise never
 *   give a sample, every message being sent twice.
 *
 * - An estimate neither sampled nor backed off for `lifetimeMs` is forgotten (the configured
 *   initial timeout applies again), as draft-ietf-core-cocoa ages its RTO. Without it, a peer
 *   this node stopped talking to keeps what it last learnt: a follower never sends to the other
 *   followers, so an RTO backed off to its cap while one of them was down (at start-up, say)
 *   would still be there when this node leads, and a lost append would not be resent within
 *   its deadline.
 *
 * The table holds at most `peersMax` peers; the one measured least recently is forgotten first.
 */
import { assert } from '../../contracts/assert.js';

/** The estimator's bounds. */
export interface RttEstimatorOptions {
  /** The least RTO, ms (RFC 6298's 1 s is for the Internet; peers here are LAN or site links). */
  readonly rtoMinMs: number;
  /** The greatest RTO, ms. */
  readonly rtoMaxMs: number;
  /** Most peers measured at once. */
  readonly peersMax: number;
  /** How long an estimate lasts without a sample or an expiry, ms. */
  readonly lifetimeMs: number;
}

/** RFC 6298 §2: the gains of SRTT and RTTVAR, and RTTVAR's weight in the RTO. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;
/** The clock granularity G of RFC 6298 §2, ms. */
const GRANULARITY_MS = 1;

/** One peer's estimate. Invariant: rtoMinMs <= rtoMs <= rtoMaxMs; srttMs, rttvarMs >= 0 once measured. */
interface PeerRtt {
  /** False until the first sample (the RTO then comes from expiries only). */
  measured: boolean;
  srttMs: number;
  rttvarMs: number;
  rtoMs: number;
  /** When a sample or an expiry last changed it, ms. */
  atMs: number;
}

/** What the estimator shows of one peer (for tests and status). */
export interface PeerRttView {
  readonly srttMs: number;
  readonly rttvarMs: number;
  readonly rtoMs: number;
}

/** Per-peer retransmission timeouts from measured round trips; see the module comment. */
export class RttEstimator {
  /** By peer key, least recently measured first (a Map keeps insertion order). Bounded by peersMax. */
  private readonly peers = new Map<string, PeerRtt>();

  constructor(private readonly options: RttEstimatorOptions) {
    assert(options.rtoMinMs >= GRANULARITY_MS, 'rtoMinMs is at least the clock granularity');
    assert(options.rtoMaxMs >= options.rtoMinMs, 'rtoMaxMs is at least rtoMinMs');
    assert(Number.isSafeInteger(options.peersMax) && options.peersMax >= 1, 'peersMax is a positive integer');
    assert(options.lifetimeMs > 0, 'lifetimeMs is positive');
  }

  /** The peer's retransmission timeout at `nowMs`, ms; null before its first sample or expiry, or once aged out. */
  rtoMs(peer: string, nowMs: number): number | null {
    const p = this.peers.get(peer);
    if (p === undefined) return null;
    if (nowMs - p.atMs <= this.options.lifetimeMs) return p.rtoMs;
    this.peers.delete(peer);
    return null;
  }

  /** The peer's estimate, or null before its first sample. */
  view(peer: string): PeerRttView | null {
    const p = this.peers.get(peer);
    return p === undefined || !p.measured ? null : { srttMs: p.srttMs, rttvarMs: p.rttvarMs, rtoMs: p.rtoMs };
  }

  /** Peers measured. */
  get size(): number {
    return this.peers.size;
  }

  /** A round trip of `rttMs` to `peer`, measured at `nowMs` on a message sent once (Karn's rule is the caller's). */
  sample(peer: string, rttMs: number, nowMs: number): void {
    assert(Number.isFinite(rttMs) && rttMs >= 0, 'a round trip is a finite, non-negative time');
    const known = this.peers.get(peer);
    let p: PeerRtt;
    if (known?.measured === true) {
      p = known;
      p.rttvarMs = (1 - BETA) * p.rttvarMs + BETA * Math.abs(p.srttMs - rttMs);
      p.srttMs = (1 - ALPHA) * p.srttMs + ALPHA * rttMs;
    } else {
      if (known === undefined && this.peers.size >= this.options.peersMax) this.forgetOldest();
      p = { measured: true, srttMs: rttMs, rttvarMs: rttMs / 2, rtoMs: 0, atMs: nowMs };
    }
    // Re-inserted: the most recently measured peer goes last.
    this.peers.delete(peer);
    p.rtoMs = this.clamp(p.srttMs + Math.max(GRANULARITY_MS, K * p.rttvarMs));
    p.atMs = nowMs;
    this.peers.set(peer, p);
    assert(this.peers.size <= this.options.peersMax, 'the table stays within peersMax');
  }

  /** A message to `peer` waited `expiredMs` without an answer (at `nowMs`): its RTO backs off (RFC 6298 §5.5). */
  backOff(peer: string, expiredMs: number, nowMs: number): void {
    assert(Number.isFinite(expiredMs) && expiredMs >= 0, 'an expired timeout is a finite, non-negative time');
    const p = this.peers.get(peer);
    if (p !== undefined) {
      p.rtoMs = this.clamp(Math.max(p.rtoMs, 2 * expiredMs));
      p.atMs = nowMs;
      return;
    }
    if (this.peers.size >= this.options.peersMax) this.forgetOldest();
    this.peers.set(peer, { measured: false, srttMs: 0, rttvarMs: 0, rtoMs: this.clamp(2 * expiredMs), atMs: nowMs });
  }

  private clamp(ms: number): number {
    return Math.min(this.options.rtoMaxMs, Math.max(this.options.rtoMinMs, ms));
  }

  private forgetOldest(): void {
    for (const key of this.peers.keys()) {
      this.peers.delete(key);
      return;
    }
  }
}
