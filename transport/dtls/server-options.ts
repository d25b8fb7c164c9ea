/**
 * Options of {@link DtlsServerEndpoint}, their defaults and their validation.
 */
import { CONNECTION_ID_BYTES_MAX } from './constants.js';
import { Problems, checkReceiveBuffer, resolveSessionOptions, stripUndefined } from './options.js';
import type { DtlsSessionOptions, ResolvedSessionOptions } from './options.js';

/** Default of {@link DtlsServerOptions.handshakesInProgressMax}. */
export const DEFAULT_HANDSHAKES_IN_PROGRESS_MAX = 2048;

/**
 * Default of {@link DtlsServerOptions.sessionsPerIdentityMax}. A member needs one session per
 * link: our client keeps one per server address, resets it from the same port (which replaces
 * it at once), and takes it along when its address changes (connection ID). What adds sessions
 * is a client that comes back from a new port or address: an agent restarted (its socket is
 * bound anew), or a client without connection IDs (libcoap, OpenSSL) behind a NAT that
 * rebinds. The old session stays until sessionIdleTimeoutMs (10 minutes) unless its client
 * said close_notify. Four leaves room for three such comebacks within the idle timeout before
 * the oldest is replaced, and replacing it costs a stale session nothing; the live session is
 * the most recently used, so it is never the one replaced while stale ones remain.
 */
export const DEFAULT_SESSIONS_PER_IDENTITY_MAX = 4;

/**
 * Default of {@link DtlsServerOptions.clientFlightTimeoutMs}, ms. The server sends nothing on
 * its own while it waits for the client's second flight: recovery is the client's timer, which
 * RFC 6347 §4.2.4.1 starts at 1 s and doubles (OpenSSL, GnuTLS and libcoap do), so a lost
 * second flight goes again 1, 3 and 7 s after it first went. Ten seconds from the ServerHello
 * flight let that fourth copy in, even after a lost ServerHello flight (+1 s) or a slow round
 * trip; with 3 s, two or three losses in a row made such a client fail the handshake.
 */
export const DEFAULT_CLIENT_FLIGHT_TIMEOUT_MS = 10_000;

/** Where a handshake that presents a PSK identity comes from (its source address and port). */
export interface PskPeer {
  readonly address: string;
  readonly port: number;
}

/** Options of a DTLS server endpoint. */
export interface DtlsServerOptions extends DtlsSessionOptions {
  /** Address to bind. Default '0.0.0.0'. */
  readonly host?: string;
  /** UDP port to bind; 0 picks a free one. Default 5684 (coaps). */
  readonly port?: number;
  /**
   * The receive buffer to ask the kernel for (SO_RCVBUF), bytes, or null for the system's
   * default (net.core.rmem_default, 208 KiB on Linux). Datagrams that arrive while it is full
   * are dropped and cost the sender a retransmission timeout, so a busy endpoint wants room
   * for a burst. Linux caps the request at net.core.rmem_max and reports twice what it grants
   * (see receiveBufferBytes()). Default null; 4096..67108864.
   */
  readonly receiveBufferBytes?: number | null;
  /**
   * Maps a PSK identity (UTF-8) to its key, or null when unknown or revoked; `peer` is the
   * address and port the handshake comes from (unauthenticated: for logs). Called for every
   * new handshake, so key changes and revocations apply to the next handshake; drop existing
   * sessions with {@link DtlsServerEndpoint.closeSessionsOf}.
   */
  readonly pskLookup: (identity: string, peer: PskPeer) => Uint8Array | null;
  /**
   * Most established sessions. A completed handshake never waits for room: when all are
   * taken, it replaces the least recently used session of the identity holding the most (its
   * own on a tie), so that the holder of one key cannot keep another identity out. Default
   * 1024; 1..65536.
   */
  readonly sessionsMax?: number;
  /**
   * Most established sessions of one PSK identity. A new session of an identity that holds
   * this many replaces that identity's least recently used session (a restarted peer is
   * never locked out by its own stale sessions). Default 4 (see DEFAULT_SESSIONS_PER_IDENTITY_MAX
   * for why), or sessionsMax if smaller; 1..sessionsMax. An endpoint whose identity is shared by
   * many clients (the local endpoint's `kv`) wants more.
   */
  readonly sessionsPerIdentityMax?: number;
  /**
   * Most handshakes past the cookie exchange at once (half-open handshakes), in total. When
   * it is reached, a new verified ClientHello pushes out the oldest half-open handshake it
   * may displace (see {@link DtlsServerOptions.handshakesReservedForMembers}); established
   * sessions are never pushed out. Default 2048; 1..65536.
   */
  readonly handshakesInProgressMax?: number;
  /**
   * Most half-open handshakes from one source address (all its ports). A new one from that
   * address pushes out its oldest. Default handshakesInProgressMax / 4 rounded up (512);
   * 1..handshakesInProgressMax.
   */
  readonly handshakesInProgressPerAddressMax?: number;
  /**
   * How many of the handshakesInProgressMax slots only members' addresses may use (see
   * {@link DtlsServerOptions.isMemberAddress}): other addresses share the rest and push out
   * only each other's handshakes, so a flood from them never keeps a member out. Ignored
   * without isMemberAddress. Default handshakesInProgressMax / 4 rounded down (512);
   * 0..handshakesInProgressMax - 1.
   */
  readonly handshakesReservedForMembers?: number;
  /**
   * Most bytes of memory the half-open handshakes may hold, in bytes. Each is charged an upper
   * bound of what it holds (1.5 KiB and the ClientHello while the server waits for the
   * client's second flight, 26 KiB once a session reassembles it; see HALF_OPEN_CHARGE_BYTES);
   * a newcomer pushes out the oldest to stay within it. Default 4 MiB (4194304);
   * 65536..1073741824.
   */
  readonly handshakesInProgressBytesMax?: number;
  /**
   * How long a half-open handshake waits for the client's second flight (ClientKeyExchange
   * to Finished) after the server's ServerHello flight, in ms; then it is dropped. Default
   * DEFAULT_CLIENT_FLIGHT_TIMEOUT_MS, 10000 (or handshakeTimeoutMs if shorter);
   * 100..handshakeTimeoutMs.
   */
  readonly clientFlightTimeoutMs?: number;
  /**
   * Whether a source address is a member's (a configured peer host), for the share of
   * half-open handshakes reserved to members; asked once per admitted handshake, so it may
   * follow membership changes. Default null: no address is special and nothing is reserved.
   */
  readonly isMemberAddress?: ((address: string) => boolean) | null;
  /** Period of the cookie secret, in ms; a cookie stays valid one to two periods. Default 60000; 1000..3600000. */
  readonly cookieSecretRotationMs?: number;
  /**
   * PSK identity hint sent in a ServerKeyExchange, or null to send no ServerKeyExchange.
   * Default null: node-dtls-client 1.1.1 fails on a hint.
   */
  readonly pskIdentityHint?: string | null;
  /**
   * Most fatal alerts per second sent in answer to protected records from peers without a
   * session, which tells a client that the server lost its session (after a restart).
   * 0 disables them. Default 100; 0..100000.
   */
  readonly unknownSessionAlertsPerSecondMax?: number;
  /**
   * Length of the connection ID (RFC 9146) this server asks of a client that offers the
   * connection_id extension, in bytes: with it the client's records find their session after
   * its address or port changes (a NAT rebinding). Clients that do not offer the extension
   * run without CIDs, as before. 0 ignores the extension. Default 8; 0..32.
   */
  readonly connectionIdBytes?: number;
}

/** Server options with every default filled in. */
export interface ResolvedServerOptions {
  readonly session: ResolvedSessionOptions;
  readonly host: string;
  readonly port: number;
  readonly receiveBufferBytes: number | null;
  readonly pskLookup: (identity: string, peer: PskPeer) => Uint8Array | null;
  readonly sessionsMax: number;
  readonly sessionsPerIdentityMax: number;
  readonly handshakesInProgressMax: number;
  readonly handshakesInProgressPerAddressMax: number;
  /** 0 when isMemberAddress is null. */
  readonly handshakesReservedForMembers: number;
  readonly handshakesInProgressBytesMax: number;
  readonly clientFlightTimeoutMs: number;
  readonly isMemberAddress: ((address: string) => boolean) | null;
  readonly cookieSecretRotationMs: number;
  readonly pskIdentityHint: Uint8Array | null;
  readonly unknownSessionAlertsPerSecondMax: number;
  readonly connectionIdBytes: number;
}

/** Fills defaults and validates; throws ConfigError naming every bad field. */
export function resolveServerOptions(options: DtlsServerOptions): ResolvedServerOptions {
  const problems = new Problems();
  const session = resolveSessionOptions(options, problems);
  const o = {
    host: '0.0.0.0',
    port: 5684,
    receiveBufferBytes: null,
    sessionsMax: 1024,
    handshakesInProgressMax: DEFAULT_HANDSHAKES_IN_PROGRESS_MAX,
    handshakesInProgressBytesMax: 4 * 1024 * 1024,
    // The default never exceeds a shorter handshakeTimeoutMs.
    clientFlightTimeoutMs: Math.min(DEFAULT_CLIENT_FLIGHT_TIMEOUT_MS, session.handshakeTimeoutMs),
    isMemberAddress: null,
    cookieSecretRotationMs: 60_000,
    pskIdentityHint: null,
    unknownSessionAlertsPerSecondMax: 100,
    connectionIdBytes: 8,
    ...stripUndefined(options),
  };
  // The default share never exceeds a smaller sessionsMax; a sessionsMax that is itself bad is reported alone.
  const sessionsBound = Number.isSafeInteger(o.sessionsMax) && o.sessionsMax >= 1 ? o.sessionsMax : 65_536;
  const perIdentity = options.sessionsPerIdentityMax ?? Math.min(DEFAULT_SESSIONS_PER_IDENTITY_MAX, sessionsBound);
  // A quarter of the total each by default, so that a smaller total keeps them consistent.
  const perAddress = options.handshakesInProgressPerAddressMax ?? Math.ceil(o.handshakesInProgressMax / 4);
  const reserved = options.handshakesReservedForMembers ?? Math.floor(o.handshakesInProgressMax / 4);
  problems.check(typeof o.pskLookup === 'function', 'pskLookup must be a function');
  problems.check(typeof o.host === 'string' && o.host.length > 0, 'host must be a non-empty address');
  problems.int('port', o.port, 0, 65_535);
  checkReceiveBuffer(o.receiveBufferBytes, problems);
  problems.int('sessionsMax', o.sessionsMax, 1, 65_536);
  problems.int('sessionsPerIdentityMax', perIdentity, 1, sessionsBound);
  problems.int('handshakesInProgressMax', o.handshakesInProgressMax, 1, 65_536);
  problems.int('handshakesInProgressPerAddressMax', perAddress, 1, o.handshakesInProgressMax);
  problems.int('handshakesReservedForMembers', reserved, 0, o.handshakesInProgressMax - 1);
  problems.int('handshakesInProgressBytesMax', o.handshakesInProgressBytesMax, 65_536, 1_073_741_824);
  problems.int('clientFlightTimeoutMs', o.clientFlightTimeoutMs, 100, session.handshakeTimeoutMs);
  problems.check(
    o.isMemberAddress === null || typeof o.isMemberAddress === 'function',
    'isMemberAddress must be a function or null',
  );
  problems.int('cookieSecretRotationMs', o.cookieSecretRotationMs, 1000, 3_600_000);
  problems.int('unknownSessionAlertsPerSecondMax', o.unknownSessionAlertsPerSecondMax, 0, 100_000);
  problems.int('connectionIdBytes', o.connectionIdBytes, 0, CONNECTION_ID_BYTES_MAX);
  const hint = o.pskIdentityHint === null ? null : new TextEncoder().encode(o.pskIdentityHint);
  problems.check(
    hint === null || hint.length <= session.pskIdentityBytesMax,
    `pskIdentityHint must be at most pskIdentityBytesMax (${session.pskIdentityBytesMax}) bytes`,
  );
  problems.throwIfAny();
  return {
    session,
    host: o.host,
    port: o.port,
    receiveBufferBytes: o.receiveBufferBytes,
    pskLookup: options.pskLookup,
    sessionsMax: o.sessionsMax,
    sessionsPerIdentityMax: perIdentity,
    handshakesInProgressMax: o.handshakesInProgressMax,
    handshakesInProgressPerAddressMax: perAddress,
    handshakesReservedForMembers: o.isMemberAddress === null ? 0 : reserved,
    handshakesInProgressBytesMax: o.handshakesInProgressBytesMax,
    clientFlightTimeoutMs: o.clientFlightTimeoutMs,
    isMemberAddress: o.isMemberAddress,
    cookieSecretRotationMs: o.cookieSecretRotationMs,
    pskIdentityHint: hint,
    unknownSessionAlertsPerSecondMax: o.unknownSessionAlertsPerSecondMax,
    connectionIdBytes: o.connectionIdBytes,
  };
}
