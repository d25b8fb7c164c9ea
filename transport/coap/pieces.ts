/**
 * coraft's pieces: a request body sent in payload sets like Q-Block1 (RFC 9177), but in pieces
 * as large as one datagram or DTLS record allows instead of 1 KiB blocks. Both ends of a peer
 * link are coraft agents, so the protocol is ours: a 64 KiB AppendEntries goes to a follower in
 * 5 records of 15 KiB (one round trip) instead of 65 of 1 KiB (7 round trips), and a 64 KiB
 * value reaches a loopback endpoint in 2 datagrams instead of 65.
 *
 * The option (CoapOption.CoraftPiece1, 65007, from the range for experimental use of RFC 7252
 * §12.2) is critical and unsafe-to-forward: a server that does not know it answers 4.02 Bad
 * Option, and the client sends the body again with Q-Block1 (remembered per server, as
 * Q-Block1's own probe). Its value is an unsigned integer of at most 4 bytes:
 * `num << 8 | M << 7 | (units - 1)`, where the piece size is `units` KiB (1..128), the piece
 * starts at byte `num × units × 1024` and M says that more pieces follow. Every piece but the
 * last is full-size, and every piece of one body has the same size. Everything else is
 * Q-Block1's: payload sets of MAX_PAYLOADS pieces, the set's last piece confirmable, 2.31 with
 * the option naming the set's last piece, 4.08 listing the missing piece numbers, Size1 on
 * every piece, Request-Tag naming the body; the server reassembles them in the same bounded
 * table as Block1 and Q-Block1 (qblock-store.ts).
 */
import { assert } from '../../contracts/assert.js';
import { CoapOption } from './codes.js';
import type { CoapOptionValue } from './message.js';
import { blockSizeOf, decodeBlock, decodeUint, encodeBlock, encodeUint, szxOf } from './options.js';

/** A block of a body sent in payload sets: a Q-Block1 block or a piece. */
export interface SetBlock {
  /** Its number: it starts at byte num × bytes. */
  readonly num: number;
  /** More blocks follow. */
  readonly more: boolean;
  /** The size of every block of the body but the last, in bytes. */
  readonly bytes: number;
}

/** Pieces are whole KiB. */
export const PIECE_UNIT_BYTES = 1_024;
/** The largest piece, in units (128 KiB: larger than any UDP datagram). */
export const PIECE_UNITS_MAX = 128;
/** The largest piece number the option carries (24 bits). */
export const PIECE_NUM_MAX = 0xffffff;

/** Encodes a piece option value; see the module comment. */
export function encodePiece(piece: SetBlock): Uint8Array {
  const units = piece.bytes / PIECE_UNIT_BYTES;
  assert(Number.isInteger(units) && units >= 1 && units <= PIECE_UNITS_MAX, 'a piece is 1..128 KiB');
  assert(Number.isInteger(piece.num) && piece.num >= 0 && piece.num <= PIECE_NUM_MAX, 'piece num fits 24 bits');
  return encodeUint(piece.num * 256 + (piece.more ? 128 : 0) + units - 1);
}

/** Decodes a piece option value; null when longer than four bytes. */
export function decodePiece(value: Uint8Array): SetBlock | null {
  const raw = decodeUint(value, 4);
  if (raw === null) return null;
  return { num: Math.floor(raw / 256), more: (raw & 0x80) !== 0, bytes: ((raw & 0x7f) + 1) * PIECE_UNIT_BYTES };
}

/** The option of block `block` of a body sent in sets with option `optionNumber` (Q-Block1 or pieces). */
export function setBlockOption(optionNumber: number, block: SetBlock): CoapOptionValue {
  if (optionNumber === CoapOption.CoraftPiece1) return { number: optionNumber, value: encodePiece(block) };
  assert(optionNumber === CoapOption.QBlock1, 'a set block is Q-Block1 or a piece');
  return { number: optionNumber, value: encodeBlock({ num: block.num, more: block.more, szx: szxOf(block.bytes) }) };
}

/** Decodes the value of option `optionNumber` (Q-Block1 or pieces); null when malformed. */
export function decodeSetBlock(optionNumber: number, value: Uint8Array): SetBlock | null {
  if (optionNumber === CoapOption.CoraftPiece1) return decodePiece(value);
  const block = decodeBlock(value);
  return block === null ? null : { num: block.num, more: block.more, bytes: blockSizeOf(block.szx) };
}

/**
 * The piece size for a client whose whole-body limit is `wholeBodyBytesMax`: whole KiB, so that a
 * piece with its header fits where a whole body does; 0 (no pieces) below 2 KiB, where 1 KiB
 * Q-Block1 blocks are as large.
 */
export function pieceBytesFor(wholeBodyBytesMax: number): number {
  const units = Math.min(PIECE_UNITS_MAX, Math.floor(wholeBodyBytesMax / PIECE_UNIT_BYTES));
  return units >= 2 ? units * PIECE_UNIT_BYTES : 0;
}
