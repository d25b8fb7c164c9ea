/**
 * Options of {@link DtlsServerEndpoint}, their defaults and their validation.
 */
import { Problems, resolveSessionOptions, stripUndefined } from './options.js';
import type { DtlsSessionOptions, ResolvedSessionOptions } from './options.js';

/** Options of a DTLS server endpoint. */
export interface DtlsServerOptions extends DtlsSessionOptions {
  /** Address to bind. Default '0.0.0.0'. */
  readonly host?: string;
  /** UDP port to bind; 0 picks a free one. Default 5684 (coaps). */
  readonly port?: number;
  /**
   * Maps a PSK identity (UTF-8) to its key, or null when unknown or revoked. Called for every
   * new handshake, so key changes and revocations apply to the next handshake; drop existing
   * sessions with {@link DtlsServerEndpoint.closeSessionsOf}.
   */
  readonly pskLookup: (identity: string) => Uint8Array | null;
  /** Most established sessions. Default 1024; 1..65536. */
  readonly sessionsMax?: number;
  /** Most handshakes past the cookie exchange at once (half-open sessions). Default 128; 1..65536. */
  readonly handshakesInProgressMax?: number;
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
}

/** Server options with every default filled in. */
export interface ResolvedServerOptions {
  readonly session: ResolvedSessionOptions;
  readonly host: string;
  readonly port: number;
  readonly pskLookup: (identity: string) => Uint8Array | null;
  readonly sessionsMax: number;
  readonly handshakesInProgressMax: number;
  readonly cookieSecretRotationMs: number;
  readonly pskIdentityHint: Uint8Array | null;
  readonly unknownSessionAlertsPerSecondMax: number;
}

/** Fills defaults and validates; throws ConfigError naming every bad field. */
export function resolveServerOptions(options: DtlsServerOptions): ResolvedServerOptions {
  const problems = new Problems();
  const session = resolveSessionOptions(options, problems);
  const o = {
    host: '0.0.0.0',
    port: 5684,
    sessionsMax: 1024,
    handshakesInProgressMax: 128,
    cookieSecretRotationMs: 60_000,
    pskIdentityHint: null,
    unknownSessionAlertsPerSecondMax: 100,
    ...stripUndefined(options),
  };
  problems.check(typeof o.pskLookup === 'function', 'pskLookup must be a function');
  problems.check(typeof o.host === 'string' && o.host.length > 0, 'host must be a non-empty address');
  problems.int('port', o.port, 0, 65_535);
  problems.int('sessionsMax', o.sessionsMax, 1, 65_536);
  problems.int('handshakesInProgressMax', o.handshakesInProgressMax, 1, 65_536);
  problems.int('cookieSecretRotationMs', o.cookieSecretRotationMs, 1000, 3_600_000);
  problems.int('unknownSessionAlertsPerSecondMax', o.unknownSessionAlertsPerSecondMax, 0, 100_000);
  const hint = o.pskIdentityHint === null ? null : new TextEncoder().encode(o.pskIdentityHint);
  problems.check(hint === null || hint.length <= session.pskIdentityBytesMax, `pskIdentityHint must be at most pskIdentityBytesMax (${session.pskIdentityBytesMax}) bytes`);
  problems.throwIfAny();
  return {
    session,
    host: o.host,
    port: o.port,
    pskLookup: options.pskLookup,
    sessionsMax: o.sessionsMax,
    handshakesInProgressMax: o.handshakesInProgressMax,
    cookieSecretRotationMs: o.cookieSecretRotationMs,
    pskIdentityHint: hint,
    unknownSessionAlertsPerSecondMax: o.unknownSessionAlertsPerSecondMax,
  };
}
