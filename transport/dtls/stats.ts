/**
 * Counters of a DTLS endpoint, for the transport's metrics. Records that fail a check are
 * dropped silently on the wire (RFC 6347 §4.1.2.7) but never silently here: each drop is
 * counted under its reason.
 */

/** Why a record or datagram was dropped. */
export const DROP_REASONS = [
  /** A record header, handshake fragment or alert that does not parse. */
  'malformed',
  /** A record whose version is not DTLS 1.0/1.2 where allowed. */
  'version',
  /** A record of an epoch the session cannot read (yet). */
  'epoch',
  /** A record already received, or too old for the replay window. */
  'replay',
  /** A protected record that fails authentication. */
  'auth',
  /** A record from a peer without a session that is not a ClientHello. */
  'unknownSession',
  /** A record not allowed in the session's state (e.g. data before the handshake ends). */
  'unexpected',
  /** Application data larger than applicationDataBytesMax, or a message over its limit. */
  'tooLarge',
  /** A handshake refused because a limit on sessions or handshakes was reached. */
  'limit',
] as const;

/** Why a half-open handshake was pushed out by a newer one (see HalfOpenTable). */
export const EVICTION_REASONS = [
  /** Its source address reached handshakesInProgressPerAddressMax. */
  'address',
  /** handshakesInProgressMax (or the share left to non-members) was reached. */
  'total',
  /** handshakesInProgressBytesMax was reached. */
  'bytes',
] as const;

/** One reason from {@link EVICTION_REASONS}. */
export type EvictionReason = (typeof EVICTION_REASONS)[number];

/** One reason from {@link DROP_REASONS}. */
export type DropReason = (typeof DROP_REASONS)[number];

/** A snapshot of an endpoint's counters and gauges. */
export interface DtlsStats {
  /** Handshakes that ended with both Finished messages verified. */
  readonly handshakesCompleted: number;
  /** Handshakes that ended otherwise (alert, timeout, bad key, limit). */
  readonly handshakesFailed: number;
  /**
   * Of handshakesFailed, those that failed authentication: a record or Finished that did not
   * verify under the key looked up for the presented identity (a wrong key, or a name that is
   * not a member). Evicted, expired and timed-out handshakes are not counted here.
   */
  readonly handshakesAuthFailed: number;
  /** Handshakes in progress now (gauge; on a server, half-open handshakes past the cookie). */
  readonly handshakesInProgress: number;
  /** Bytes charged for the half-open handshakes now (gauge, server; an upper bound of their memory). */
  readonly handshakesInProgressBytes: number;
  /** Half-open handshakes from members' addresses now (gauge, server; see isMemberAddress). */
  readonly handshakesInProgressMembers: number;
  /** Half-open handshakes pushed out by newer ones, by the limit that was reached (server). */
  readonly handshakesEvicted: Readonly<Record<EvictionReason, number>>;
  /** Handshakes started over after the server said it lost them (client; see handshakeRestartsMax). */
  readonly handshakesRestarted: number;
  /**
   * Half-open handshakes dropped because the client's second flight did not come within clientFlightTimeoutMs (server).
   */
  readonly handshakesExpired: number;
  /** Established sessions now (gauge). */
  readonly sessions: number;
  /** HelloVerifyRequests sent (server). */
  readonly helloVerifyRequestsSent: number;
  /** ClientHellos whose cookie was present but invalid or expired (server). */
  readonly cookiesRejected: number;
  /** Flights retransmitted, by timer or on the peer's retransmission. */
  readonly retransmissions: number;
  readonly alertsSent: number;
  readonly alertsReceived: number;
  readonly datagramsReceived: number;
  readonly datagramsSent: number;
  /** Sessions closed for idleness. */
  readonly sessionsExpired: number;
  /**
   * Established sessions closed to make room for a newer one (server): the least recently
   * used of an identity at sessionsPerIdentityMax, or, with all sessionsMax taken, of the
   * identity holding the most.
   */
  readonly sessionsEvicted: number;
  /**
   * Sessions that moved to a new peer address and port (server): a record carrying their
   * connection ID arrived from there, authenticated, and was the newest (RFC 9146 §6).
   */
  readonly sessionsMigrated: number;
  /** Records and datagrams dropped, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /** Errors contained while processing a datagram (bugs; the session involved was closed). */
  readonly internalErrors: number;
}

/** The gauges an endpoint supplies to a snapshot (the half-open ones only on a server). */
export interface DtlsGauges {
  readonly sessions: number;
  readonly handshakesInProgress: number;
  readonly handshakesInProgressBytes?: number;
  readonly handshakesInProgressMembers?: number;
}

/** The mutable counters behind {@link DtlsStats}. */
export class StatsCounters {
  handshakesCompleted = 0;
  handshakesFailed = 0;
  handshakesAuthFailed = 0;
  helloVerifyRequestsSent = 0;
  cookiesRejected = 0;
  retransmissions = 0;
  alertsSent = 0;
  alertsReceived = 0;
  datagramsReceived = 0;
  datagramsSent = 0;
  sessionsExpired = 0;
  sessionsEvicted = 0;
  sessionsMigrated = 0;
  internalErrors = 0;
  handshakesExpired = 0;
  handshakesRestarted = 0;
  readonly handshakesEvicted: Record<EvictionReason, number> = { address: 0, total: 0, bytes: 0 };
  readonly dropped: Record<DropReason, number> = {
    malformed: 0,
    version: 0,
    epoch: 0,
    replay: 0,
    auth: 0,
    unknownSession: 0,
    unexpected: 0,
    tooLarge: 0,
    limit: 0,
  };

  drop(reason: DropReason): void {
    this.dropped[reason] += 1;
  }

  /** A snapshot with the gauges supplied by the endpoint. */
  snapshot(gauges: DtlsGauges): DtlsStats {
    return {
      handshakesCompleted: this.handshakesCompleted,
      handshakesFailed: this.handshakesFailed,
      handshakesAuthFailed: this.handshakesAuthFailed,
      handshakesInProgress: gauges.handshakesInProgress,
      handshakesInProgressBytes: gauges.handshakesInProgressBytes ?? 0,
      handshakesInProgressMembers: gauges.handshakesInProgressMembers ?? 0,
      handshakesEvicted: { ...this.handshakesEvicted },
      handshakesExpired: this.handshakesExpired,
      handshakesRestarted: this.handshakesRestarted,
      sessions: gauges.sessions,
      helloVerifyRequestsSent: this.helloVerifyRequestsSent,
      cookiesRejected: this.cookiesRejected,
      retransmissions: this.retransmissions,
      alertsSent: this.alertsSent,
      alertsReceived: this.alertsReceived,
      datagramsReceived: this.datagramsReceived,
      datagramsSent: this.datagramsSent,
      sessionsExpired: this.sessionsExpired,
      sessionsEvicted: this.sessionsEvicted,
      sessionsMigrated: this.sessionsMigrated,
      dropped: { ...this.dropped },
      internalErrors: this.internalErrors,
    };
  }
}
