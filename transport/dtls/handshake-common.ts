/**
 * What the two handshake roles share: the transcript of handshake messages, the key schedule
 * of a PSK handshake, and the interface through which a {@link Session} drives a role.
 */
import { timingSafeEqual } from 'node:crypto';
import { encodeHandshakeMessage } from './fragments.js';
import type { HandshakeMessage } from './fragments.js';
import { masterSecret, pskPremasterSecret, sha256, trafficKeys, verifyData } from './prf.js';
import type { TrafficKeys } from './prf.js';
import type { FlightItem } from './record-layer.js';

/** Most messages one handshake's transcript holds; a PSK handshake has at most seven. */
const TRANSCRIPT_MESSAGES_MAX = 16;

/**
 * The handshake messages hashed for the session hash and Finished (RFC 5246 §7.4.9), each as
 * if unfragmented (RFC 6347 §4.2.6). The first ClientHello and the HelloVerifyRequest are
 * left out (RFC 6347 §4.2.1), so a transcript starts at the ClientHello with the cookie.
 */
export class Transcript {
  private readonly parts: Uint8Array[] = [];

  /** Appends a message; false when the transcript is full (a malformed handshake). */
  add(message: HandshakeMessage): boolean {
    if (this.parts.length >= TRANSCRIPT_MESSAGES_MAX) return false;
    this.parts.push(encodeHandshakeMessage(message));
    return true;
  }

  /** SHA-256 over the messages so far. */
  hash(): Uint8Array {
    return sha256(this.parts);
  }

  /** Forgets every message (after a HelloVerifyRequest). */
  clear(): void {
    this.parts.length = 0;
  }
}

/** The secrets of a completed key exchange. */
export interface KeySchedule {
  readonly master: Uint8Array;
  readonly keys: TrafficKeys;
}

/**
 * Derives the master secret and traffic keys from the PSK. With the extended master secret
 * the session hash is the transcript up to and including ClientKeyExchange (RFC 7627 §3).
 */
export function deriveKeySchedule(
  psk: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  sessionHash: Uint8Array | null,
): KeySchedule {
  const master = masterSecret(pskPremasterSecret(psk), clientRandom, serverRandom, sessionHash);
  return { master, keys: trafficKeys(master, clientRandom, serverRandom) };
}

/** Whether `received` is the verify_data expected from `side` over `handshakeHash`. */
export function finishedMatches(
  master: Uint8Array,
  side: 'client' | 'server',
  handshakeHash: Uint8Array,
  received: Uint8Array,
): boolean {
  const expected = verifyData(master, side, handshakeHash);
  return received.length === expected.length && timingSafeEqual(expected, received);
}

/** Why a handshake failed, as the endpoints report it. */
export type FailureKind =
  /** The peer did not answer in time (retransmissions or the handshake deadline ran out). */
  | 'timeout'
  /** The key or identity was refused (bad Finished, bad record MAC, unknown identity). */
  | 'auth'
  /** The peer broke the protocol or offered nothing we support. */
  | 'protocol';

/** What a role asks the session to do after one message. */
export type RoleOutcome =
  | { readonly kind: 'none' }
  | { readonly kind: 'flight'; readonly items: readonly FlightItem[] }
  | { readonly kind: 'established'; readonly identity: string; readonly finalFlight: readonly FlightItem[] | null }
  | { readonly kind: 'fail'; readonly alert: number; readonly failure: FailureKind; readonly message: string };

/** The outcome "nothing to do". */
export const NO_OUTCOME: RoleOutcome = { kind: 'none' };

/** Helper building a failure outcome. */
export function failOutcome(alert: number, failure: FailureKind, message: string): RoleOutcome {
  return { kind: 'fail', alert, failure, message };
}

/** One side of a handshake, driven by its {@link Session} with complete, in-order messages. */
export interface HandshakeRole {
  /** Processes the next handshake message (message_seq order, read epoch checked). */
  handleMessage(message: HandshakeMessage): RoleOutcome;
  /** Whether a ChangeCipherSpec is expected now (keys derived, peer's Finished not yet read). */
  expectsChangeCipherSpec(): boolean;
}
