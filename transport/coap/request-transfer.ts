/**
 * The state of one request-body transfer as the server's shared transfer table holds it: a
 * Block1 reassembly (block-store.ts) or a Q-Block1 one (qblock-store.ts). Both stores import it
 * from here, so neither imports the other's types.
 */
import type { TransferEntry } from './transfer-table.js';

/** A Block1 transfer's state (the shared table also holds Q-Block1 ones, qblock-store.ts). */
export interface Reassembly {
  readonly kind: 'block1';
  readonly peerKey: string;
  heldBytes: number;
  expiresAtMs: number;
  /** Owns its ArrayBuffer (never a view of a datagram). Invariant: buffer.byteLength === heldBytes. */
  buffer: Uint8Array;
  /** Bytes received. Invariant: bytes <= buffer.byteLength. */
  bytes: number;
}

/** A transfer in payload sets: Q-Block1 (RFC 9177) or coraft's pieces (pieces.ts). */
export interface QReassembly extends TransferEntry {
  readonly kind: 'qblock1';
  /** CoapOption.QBlock1 or CoapOption.CoraftPiece1: every block of the body carries the same one. */
  readonly optionNumber: number;
  /** The size of every block but the last. */
  readonly blockBytes: number;
  /** Owns its ArrayBuffer. Invariant: heldBytes === buffer.byteLength. */
  buffer: Uint8Array;
  /** Every block below it arrived, block `prefix` did not. */
  prefix: number;
  /** Bit i: block prefix + i arrived (i < 32; bit 0 is always clear). */
  windowLow: number;
  /** Bit i: block prefix + 32 + i arrived. */
  windowHigh: number;
  /** The body's length once its last block (M unset) arrived, else -1. */
  bodyBytes: number;
  /** Size1 of the block that opened the transfer, else -1. */
  readonly announcedBytes: number;
  /** The block number a 4.08 asked to be filled up to, else -1. */
  awaitedNum: number;
}

/** A request-body transfer of either kind, as the shared table holds it. */
export type RequestTransfer = Reassembly | QReassembly;
