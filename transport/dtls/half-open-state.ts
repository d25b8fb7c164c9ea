/**
 * What a DTLS server keeps of one half-open handshake (see server-handshakes.ts), and what
 * each form is charged against handshakesInProgressBytesMax. While the server waits for the
 * client's second flight it keeps only the ClientHello, the server random and two sequence
 * numbers, and rebuilds the handshake from them: the same hello, random and options give the
 * same ServerHello flight and transcript as the first time.
 */
import { HandshakeType, RANDOM_BYTES } from './constants.js';
import { assert } from '../../contracts/assert.js';
import type { ServerHandshake } from './handshake-server.js';
import { RecordLayer } from './record-layer.js';
import type { FlightItem } from './record-layer.js';
import { MESSAGES_AHEAD_MAX } from './session.js';
import type { Session } from './session.js';

/**
 * Upper bounds of the heap one half-open handshake holds, in bytes, measured with
 * test/transport/dtls/half-open-memory.test.ts (which fails if they stop being bounds).
 */
export const HALF_OPEN_CHARGE_BYTES = {
  /** Waiting for the client's second flight, plus the ClientHello's length (measured: 0.8 to 1.1 KiB in all). */
  waiting: 1536,
  /** With a Session (retransmitter, reassembler, timers, keys), plus its reassembly buffers (measured: about 7 KiB). */
  session: 10240,
} as const;

/**
 * The charge of a half-open handshake with a Session: its base and its largest reassembly buffers (body and coverage
 * map).
 */
export function sessionChargeBytes(handshakeMessageBytesMax: number): number {
  return HALF_OPEN_CHARGE_BYTES.session + (MESSAGES_AHEAD_MAX.server + 1) * 2 * handshakeMessageBytesMax;
}

/** What rebuilds a handshake that waits for the client's second flight. */
export interface Waiting {
  readonly kind: 'waiting';
  /** The server random (32 bytes) followed by the ClientHello's body. */
  readonly bytes: Uint8Array;
  /** The ClientHello's message_seq. */
  readonly messageSeq: number;
  /** The epoch-0 sequence number of our next record. */
  nextWriteSeq: number;
}

/** A handshake that a Session runs. */
export interface Running {
  readonly kind: 'session';
  readonly session: Session;
  readonly role: ServerHandshake;
  readonly clientRandom: Uint8Array;
}

/** What the server keeps of one half-open handshake. */
export interface PendingHandshake {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  /** On the injected clock. */
  readonly admittedMs: number;
  state: Waiting | Running;
}

/** Offset of the client random in a ClientHello body (after client_version). */
const HELLO_RANDOM_OFFSET = 2;

/** The client random of a waiting handshake's ClientHello (a view into its bytes). */
export function clientRandomOf(state: Waiting): Uint8Array {
  return state.bytes.subarray(RANDOM_BYTES + HELLO_RANDOM_OFFSET, RANDOM_BYTES + HELLO_RANDOM_OFFSET + RANDOM_BYTES);
}

/**
 * The handshake of a waiting entry as it stood after its ServerHello flight, and that flight:
 * `newRole` makes a server role with the given record layer and server random.
 */
export function rebuildWaiting(
  state: Waiting,
  replayWindowSize: number,
  newRole: (layer: RecordLayer, serverRandom: Uint8Array) => ServerHandshake,
): { readonly layer: RecordLayer; readonly role: ServerHandshake; readonly flight: readonly FlightItem[] } {
  const layer = new RecordLayer(false, replayWindowSize);
  layer.setEpoch0WriteSeq(state.nextWriteSeq);
  const role = newRole(layer, state.bytes.subarray(0, RANDOM_BYTES));
  const outcome = role.handleMessage({
    msgType: HandshakeType.clientHello,
    messageSeq: state.messageSeq,
    body: state.bytes.subarray(RANDOM_BYTES),
  });
  assert(outcome.kind === 'flight', 'a ClientHello answered once is answered again');
  return { layer, role, flight: outcome.items };
}
