/**
 * Options of the DTLS endpoints, with their units, defaults and limits, and the one place
 * that validates them (STYLE §4: report every bad field by name, with its limit).
 */
import type { Timers } from '../../contracts/clock.js';
import { ConfigError } from '../../contracts/errors.js';
import type { Metrics } from '../../contracts/metrics.js';
import { REPLAY_WINDOW_SIZE_MAX, REPLAY_WINDOW_SIZE_MIN } from './replay-window.js';

/** Options shared by both roles: retransmission, limits and timeouts of one session. */
export interface DtlsSessionOptions {
  /** First retransmission timeout of a handshake flight, in ms (RFC 6347 §4.2.4.1). Default 1000; 10..60000. */
  readonly retransmitInitialMs?: number;
  /** Cap of the doubling retransmission timeout, in ms. Default 8000; retransmitInitialMs..60000. */
  readonly retransmitMaxMs?: number;
  /** Retransmissions of one flight before the handshake fails. Default 5; 0..20. */
  readonly retransmitCountMax?: number;
  /** Longest a handshake may take from its first message, in ms. Default 30000; 100..600000. */
  readonly handshakeTimeoutMs?: number;
  /**
   * Largest datagram of a handshake flight (the path MTU budget), in bytes. Default 1232;
   * 96..65507. The minimum keeps a ClientHello's fields up to its cookie in its first
   * fragment, which a server needs to check the cookie statelessly.
   */
  readonly handshakeDatagramBytesMax?: number;
  /** Largest application datagram sent or accepted, in bytes. Default 16384 (RFC 5246 record limit); 1..16384. */
  readonly applicationDataBytesMax?: number;
  /** A session without received traffic for this long is dropped, in ms. Default 600000; 100..86400000. */
  readonly sessionIdleTimeoutMs?: number;
  /** Size of the anti-replay window, in records (RFC 6347 §4.1.2.6). Default 64; 32..1024. */
  readonly replayWindowSize?: number;
  /** Largest handshake message reassembled, in bytes. Default 4096; 256..65536. */
  readonly handshakeMessageBytesMax?: number;
  /** Longest PSK identity accepted or sent, in bytes. Default 128; 1..1024. */
  readonly pskIdentityBytesMax?: number;
  /** Refuse peers that do not negotiate the extended master secret (RFC 7627). Default false. */
  readonly requireExtendedMasterSecret?: boolean;
}

/** Resolved session options: every field present. */
export type ResolvedSessionOptions = Required<DtlsSessionOptions>;

/** Dependencies of an endpoint; real ones by default. */
export interface DtlsDeps {
  /** Clock and timers. Default: the process's monotonic clock and setTimeout. */
  readonly timers?: Timers;
  /** Cryptographic randomness. Default: node:crypto randomBytes. */
  readonly randomBytes?: (count: number) => Uint8Array;
  /** Called with errors of protocol processing that were contained (bugs); default: none. */
  readonly onInternalError?: (error: unknown) => void;
  /** Looks up a host name given as the address to bind (either family). Default: getaddrinfo, first answer. */
  readonly resolveHost?: (host: string) => Promise<string>;
  /**
   * Where a server counts the times its session and half-open handshake limits are hit (besides
   * `stats()`): `dtls_half_open_evictions_total{limit}`, `dtls_half_open_refusals_total`,
   * `dtls_half_open_expired_total`; and the established sessions it replaced to make room,
   * `dtls_session_evictions_total{limit}` (limit: identity or total). Default: none.
   */
  readonly metrics?: Metrics;
  /**
   * Told when a completed handshake replaced an established session of its own identity
   * (server): see {@link SessionReplacement}. Called once per replaced session, after the new
   * session is recorded; it must not throw. Default: none (stats() counts the evictions).
   */
  readonly onSessionReplaced?: (replacement: SessionReplacement) => void;
}

/**
 * An established session that a newer one of the same PSK identity replaced: `reason` is
 * `address` when the new handshake came from the old session's address and port (its client
 * started over, RFC 6347 §4.2.8), `identity` when the identity held sessionsPerIdentityMax and
 * its least recently used session made room, `total` when every slot was taken and the identity
 * held the most. Two processes with one identity's keys replace each other's sessions.
 */
export interface SessionReplacement {
  readonly identity: string;
  readonly reason: 'address' | 'identity' | 'total';
  /** The replaced session's peer address and port. */
  readonly previous: { readonly address: string; readonly port: number };
  /** The new session's. */
  readonly next: { readonly address: string; readonly port: number };
}

/** The defaults of every session option (documented on {@link DtlsSessionOptions}). */
export const DEFAULT_SESSION_OPTIONS: ResolvedSessionOptions = {
  retransmitInitialMs: 1000,
  retransmitMaxMs: 8000,
  retransmitCountMax: 5,
  handshakeTimeoutMs: 30_000,
  handshakeDatagramBytesMax: 1232,
  applicationDataBytesMax: 16384,
  sessionIdleTimeoutMs: 600_000,
  replayWindowSize: 64,
  handshakeMessageBytesMax: 4096,
  pskIdentityBytesMax: 128,
  requireExtendedMasterSecret: false,
};

/** Collects problems of integer fields against their limits. */
export class Problems {
  readonly list: string[] = [];

  int(name: string, value: number, min: number, max: number): void {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.list.push(`${name} must be an integer in ${min}..${max} (got ${String(value)})`);
    }
  }

  check(condition: boolean, problem: string): void {
    if (!condition) this.list.push(problem);
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new ConfigError(this.list);
  }
}

/** Least and most receive buffer an endpoint may ask for (SO_RCVBUF), bytes. */
const RECEIVE_BUFFER_BYTES_MIN = 4096;
const RECEIVE_BUFFER_BYTES_MAX = 64 * 1024 * 1024;

/** Records a receiveBufferBytes that is neither null nor within its limits. */
export function checkReceiveBuffer(bytes: number | null, problems: Problems): void {
  if (bytes !== null) problems.int('receiveBufferBytes', bytes, RECEIVE_BUFFER_BYTES_MIN, RECEIVE_BUFFER_BYTES_MAX);
}

/** Fills defaults and records every out-of-range session option in `problems`. */
export function resolveSessionOptions(options: DtlsSessionOptions, problems: Problems): ResolvedSessionOptions {
  const o: ResolvedSessionOptions = { ...DEFAULT_SESSION_OPTIONS, ...stripUndefined(options) };
  problems.int('retransmitInitialMs', o.retransmitInitialMs, 10, 60_000);
  problems.int('retransmitMaxMs', o.retransmitMaxMs, Math.max(10, o.retransmitInitialMs), 60_000);
  problems.int('retransmitCountMax', o.retransmitCountMax, 0, 20);
  problems.int('handshakeTimeoutMs', o.handshakeTimeoutMs, 100, 600_000);
  problems.int('handshakeDatagramBytesMax', o.handshakeDatagramBytesMax, 96, 65_507);
  problems.int('applicationDataBytesMax', o.applicationDataBytesMax, 1, 16_384);
  problems.int('sessionIdleTimeoutMs', o.sessionIdleTimeoutMs, 100, 86_400_000);
  problems.int('replayWindowSize', o.replayWindowSize, REPLAY_WINDOW_SIZE_MIN, REPLAY_WINDOW_SIZE_MAX);
  problems.int('handshakeMessageBytesMax', o.handshakeMessageBytesMax, 256, 65_536);
  problems.int('pskIdentityBytesMax', o.pskIdentityBytesMax, 1, 1024);
  return o;
}

/** Copies `options` without its undefined fields, so that spreading keeps the defaults. */
export function stripUndefined<T extends object>(options: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(options)) {
    const value: unknown = Reflect.get(options, key);
    if (value !== undefined) Object.assign(out, { [key]: value });
  }
  return out;
}

/** Checks a pre-shared key: 1..256 bytes (RFC 4279 §5.3 requires support up to 64). */
export function checkPsk(name: string, psk: Uint8Array, problems: Problems): void {
  problems.check(psk.length >= 1 && psk.length <= 256, `${name} must be 1..256 bytes (got ${psk.length})`);
}
