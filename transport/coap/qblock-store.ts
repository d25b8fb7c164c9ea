/**
 * The server's bounded reassembly of request bodies sent with Q-Block1 (RFC 9177 §4): the
 * client sends a payload set of blocks (MAX_PAYLOADS) without waiting for each, in any order,
 * and the server answers once per set: 2.31 Continue with the set's last block number when
 * every block up to it arrived, 4.08 Request Entity Incomplete listing the missing block numbers
 * (application/missing-blocks+cbor-seq, RFC 9177 §5) when some did not, and the handler's
 * response once the whole body is in.
 *
 * When the server answers: a confirmable block always gets an answer (the client asked for
 * one and retransmits until it has one; our client sends only each set's last block
 * confirmable, so it learns the set's state in one round trip and the lost ones come back in
 * the next). A non-confirmable block is answered when it is the last of a set (block number
 * + 1 a multiple of MAX_PAYLOADS, RFC 9177 §4.4), the last of the body, or the block that
 * fills the last hole a 4.08 reported; other non-confirmable blocks get no answer.
 *
 * Limits are Block1's (block-store.ts), in the same table: a transfer owns one buffer,
 * preallocated from Size1 (or grown geometrically up to bodyBytesMax without it), which the
 * table counts by its byteLength against blockBytesTotalMax, per-peer and total transfer
 * counts, and the idle-transfer sweep. What arrived is kept in two numbers, not a buffer: the
 * count of blocks received from the start without a hole, and a 64-bit window of the blocks
 * after it (WINDOW_BLOCKS); a block beyond the window is not kept, and a 4.08 asks for it again
 * (a client sends a set only after the previous one is whole, so a set never reaches past it). A block beyond the
 * announced Size1 or beyond the body's end ends the transfer with 4.13 or 4.00; blocks below
 * block1BytesMin get 4.13 with a Q-Block1 size hint; a duplicate block changes nothing.
 */
import type { Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import {
  blockTooSmallRefusal,
  refuse,
  refusalText,
  tooLargeRefusal,
  type Block1Outcome,
  type BlockStoreOptions,
  type RequestTransfer,
} from './block-store.js';
import { CoapOption, CoapResponseCode, MISSING_BLOCKS_CONTENT_FORMAT } from './codes.js';
import { setBlockOption, type SetBlock } from './pieces.js';
import type { CoapResponse } from './request.js';
import type { QReassembly } from './request-transfer.js';
import type { TransferTable } from './transfer-table.js';

export type { QReassembly } from './request-transfer.js';

/** Blocks of one payload set (RFC 9177 §7.2 MAX_PAYLOADS, its default). */
export const MAX_PAYLOADS = 10;

/** Most block numbers one 4.08 lists, so that it fits one small datagram (RFC 9177 §4.4). */
export const MISSING_BLOCKS_REPORTED_MAX = 64;

/** Blocks after the first hole whose arrival a transfer records (two 32-bit words). */
export const WINDOW_BLOCKS = 64;

/** The outcome of one Q-Block1 block: Block1's outcomes, or no answer at all. */
export type QBlock1Outcome =
  Block1Outcome | { readonly kind: 'silent' } | { readonly kind: 'answer'; readonly response: CoapResponse };

/**
 * Reassembles request bodies sent in payload sets within bounds: Q-Block1 blocks, and coraft's
 * pieces (pieces.ts), which follow the same rules with larger blocks; see the module comment.
 */
export class QBlock1Reassembler {
  constructor(
    private readonly options: BlockStoreOptions,
    private readonly timers: Timers,
    private readonly table: TransferTable<RequestTransfer>,
  ) {}

  /**
   * Accepts one block of the transfer `key`, sent with option `optionNumber` (Q-Block1 or
   * pieces); `confirmable` blocks always get an answer.
   */
  accept(
    peerKey: string,
    key: string,
    optionNumber: number,
    block: SetBlock,
    payload: Uint8Array,
    size1: number | null,
    confirmable: boolean,
  ): QBlock1Outcome {
    const blockBytes = block.bytes;
    if (block.more && payload.length !== blockBytes)
      return refuse(CoapResponseCode.BadRequest, 'a Q-Block1 block before the last is not full-size', null);
    if (payload.length > blockBytes)
      return refuse(CoapResponseCode.BadRequest, 'a Q-Block1 block is larger than its size', null);
    const existing = this.table.get(key);
    if (blockBytes < this.options.blockBytesMin && (block.more || block.num > 0)) {
      this.table.delete(key);
      return blockTooSmallRefusal(this.options.blockBytesMin, this.options.bodyBytesMax, CoapOption.QBlock1);
    }
    if (existing?.kind === 'block1') this.table.delete(key);
    // The whole body in one block: nothing to reassemble or hold.
    if (existing?.kind !== 'qblock1' && block.num === 0 && !block.more) return { kind: 'complete', body: payload };
    const opened =
      existing?.kind === 'qblock1' ? existing : this.open(peerKey, key, optionNumber, block, payload.length, size1);
    if (opened.kind !== 'qblock1') return opened;
    if (opened.blockBytes !== blockBytes || opened.optionNumber !== optionNumber) {
      this.table.delete(key);
      return refuse(CoapResponseCode.BadRequest, 'the Q-Block1 block size changed within a body', null);
    }
    const refusal = this.place(key, opened, block, payload);
    if (refusal !== null) return refusal;
    return this.answer(key, opened, block, confirmable);
  }

  /** A new transfer for a block of a body not seen before, or the refusal. */
  private open(
    peerKey: string,
    key: string,
    optionNumber: number,
    block: SetBlock,
    length: number,
    size1: number | null,
  ): QReassembly | Block1Outcome {
    const bodyBytesMax = this.options.bodyBytesMax;
    const blockBytes = block.bytes;
    const end = block.num * blockBytes + length;
    if ((size1 !== null && size1 > bodyBytesMax) || end > bodyBytesMax) return tooLargeRefusal(bodyBytesMax);
    const announced = size1 !== null && size1 >= end ? size1 : -1;
    const capacity = announced >= 0 ? announced : Math.min(bodyBytesMax, Math.max(end, 4 * blockBytes));
    const limit = this.table.admit(peerKey, capacity);
    if (limit !== null) return refuse(CoapResponseCode.ServiceUnavailable, refusalText(limit), limit);
    const transfer: QReassembly = {
      kind: 'qblock1',
      peerKey,
      heldBytes: capacity,
      expiresAtMs: this.timers.nowMs() + this.options.lifetimeMs,
      optionNumber,
      blockBytes,
      buffer: new Uint8Array(capacity),
      prefix: 0,
      windowLow: 0,
      windowHigh: 0,
      bodyBytes: -1,
      announcedBytes: announced,
      awaitedNum: -1,
    };
    this.table.add(key, transfer);
    return transfer;
  }

  /** Copies the block into the transfer's buffer; a refusal ends the transfer. */
  private place(key: string, t: QReassembly, block: SetBlock, payload: Uint8Array): Block1Outcome | null {
    const offset = block.num * t.blockBytes;
    const end = offset + payload.length;
    const refusal = this.inconsistency(t, block, end);
    if (refusal !== null) {
      this.table.delete(key);
      return refusal;
    }
    if (end > t.buffer.byteLength && !this.grow(t, end)) {
      this.table.delete(key);
      return refuse(CoapResponseCode.ServiceUnavailable, refusalText('blockBytesTotalMax'), 'blockBytesTotalMax');
    }
    if (!block.more) t.bodyBytes = end;
    t.expiresAtMs = this.timers.nowMs() + this.options.lifetimeMs;
    // A duplicate block changes nothing (the first copy stays); one beyond the window is not kept.
    if (received(t, block.num) || block.num - t.prefix >= WINDOW_BLOCKS) return null;
    t.buffer.set(payload, offset);
    markReceived(t, block.num);
    return null;
  }

  /** The refusal of a block that does not fit the body as announced or as ended, or null. */
  private inconsistency(t: QReassembly, block: SetBlock, end: number): Block1Outcome | null {
    if (end > this.options.bodyBytesMax) return tooLargeRefusal(this.options.bodyBytesMax);
    if (t.announcedBytes >= 0 && end > t.announcedBytes)
      return refuse(CoapResponseCode.RequestEntityTooLarge, 'a Q-Block1 block beyond the announced Size1', null);
    const lastNum = t.bodyBytes < 0 ? -1 : Math.ceil(t.bodyBytes / t.blockBytes) - 1;
    const beyondEnd = t.bodyBytes >= 0 && (block.num > lastNum || (block.num === lastNum && block.more));
    const earlyEnd = !block.more && t.bodyBytes >= 0 && end !== t.bodyBytes;
    const blocksAfter = !block.more && receivedAfter(t, block.num);
    if (beyondEnd || earlyEnd || blocksAfter)
      return refuse(CoapResponseCode.BadRequest, 'a Q-Block1 block beyond the end of the body', null);
    return null;
  }

  /** Grows the buffer (and the block map) to hold `needed` bytes; false when the total bound refuses. */
  private grow(t: QReassembly, needed: number): boolean {
    const doubled = Math.min(this.options.bodyBytesMax, Math.max(needed, 2 * t.buffer.byteLength));
    const capacity = this.table.canResize(t, doubled) ? doubled : needed;
    if (!this.table.canResize(t, capacity)) return false;
    const buffer = new Uint8Array(capacity);
    buffer.set(t.buffer);
    t.buffer = buffer;
    this.table.resize(t, capacity);
    assert(t.heldBytes === t.buffer.byteLength, 'a transfer counts what it holds');
    return true;
  }

  /** The answer after a block was placed: the body, 2.31, 4.08, or none. */
  private answer(key: string, t: QReassembly, block: SetBlock, confirmable: boolean): QBlock1Outcome {
    const lastNum = t.bodyBytes < 0 ? -1 : Math.ceil(t.bodyBytes / t.blockBytes) - 1;
    if (lastNum >= 0 && t.prefix > lastNum) {
      this.table.delete(key);
      // An announced buffer larger than the body is trimmed, so the handler keeps only the body.
      const body = t.bodyBytes === t.buffer.byteLength ? t.buffer : t.buffer.slice(0, t.bodyBytes);
      return { kind: 'complete', body };
    }
    const setEnd = (block.num + 1) % MAX_PAYLOADS === 0;
    const filled = t.awaitedNum >= 0 && t.prefix > t.awaitedNum;
    if (!confirmable && block.more && !setEnd && !filled) return { kind: 'silent' };
    // While a 4.08 awaits its blocks, an answer covers everything it asked for.
    const upTo = lastNum >= 0 ? lastNum : Math.max(block.num, t.awaitedNum);
    if (t.prefix > upTo) {
      t.awaitedNum = -1;
      const continueOption = setBlockOption(t.optionNumber, { num: upTo, more: true, bytes: t.blockBytes });
      return { kind: 'answer', response: { code: CoapResponseCode.Continue, options: [continueOption] } };
    }
    t.awaitedNum = upTo;
    const missing: number[] = [];
    for (let num = t.prefix; num <= upTo && missing.length < MISSING_BLOCKS_REPORTED_MAX; num += 1)
      if (!received(t, num)) missing.push(num);
    assert(missing.length > 0, 'a 4.08 lists a missing block');
    return {
      kind: 'answer',
      response: {
        code: CoapResponseCode.RequestEntityIncomplete,
        contentFormat: MISSING_BLOCKS_CONTENT_FORMAT,
        payload: encodeMissingBlocks(missing),
      },
    };
  }
}

/** Whether block `num` of the transfer arrived. */
function received(t: QReassembly, num: number): boolean {
  const d = num - t.prefix;
  if (d < 0) return true;
  if (d >= WINDOW_BLOCKS) return false;
  return ((d < 32 ? t.windowLow >>> d : t.windowHigh >>> (d - 32)) & 1) === 1;
}

/** Whether any block after `num` arrived. */
function receivedAfter(t: QReassembly, num: number): boolean {
  if (num + 1 < t.prefix) return true;
  for (let n = Math.max(num + 1, t.prefix); n < t.prefix + WINDOW_BLOCKS; n += 1) if (received(t, n)) return true;
  return false;
}

/** Records block `num` (within the window) and slides the window past every block now contiguous. */
function markReceived(t: QReassembly, num: number): void {
  const d = num - t.prefix;
  assert(d >= 0 && d < WINDOW_BLOCKS, 'a recorded block is in the window');
  if (d < 32) t.windowLow = (t.windowLow | (1 << d)) >>> 0;
  else t.windowHigh = (t.windowHigh | (1 << (d - 32))) >>> 0;
  while ((t.windowLow & 1) === 1) {
    t.windowLow = ((t.windowLow >>> 1) | ((t.windowHigh & 1) << 31)) >>> 0;
    t.windowHigh >>>= 1;
    t.prefix += 1;
  }
}

/** A CBOR sequence of unsigned integers (RFC 8742, RFC 8949 major type 0): the missing block numbers. */
export function encodeMissingBlocks(nums: readonly number[]): Uint8Array {
  const out: number[] = [];
  for (const num of nums) {
    assert(Number.isInteger(num) && num >= 0 && num <= 0xffffffff, 'a block number fits 32 bits');
    if (num < 24) out.push(num);
    else if (num < 0x100) out.push(0x18, num);
    else if (num < 0x10000) out.push(0x19, num >>> 8, num & 0xff);
    else out.push(0x1a, num >>> 24, (num >>> 16) & 0xff, (num >>> 8) & 0xff, num & 0xff);
  }
  return Uint8Array.from(out);
}

/** Decodes a CBOR sequence of unsigned integers; null when it holds anything else or more than `countMax`. */
export function decodeMissingBlocks(bytes: Uint8Array, countMax: number): number[] | null {
  const nums: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (nums.length >= countMax) return null;
    const head = bytes[at] ?? 0xff;
    const width = head < 24 ? 0 : head === 0x18 ? 1 : head === 0x19 ? 2 : head === 0x1a ? 4 : -1;
    if (width < 0 || at + 1 + width > bytes.length) return null;
    let value = width === 0 ? head : 0;
    for (let i = 1; i <= width; i += 1) value = value * 256 + (bytes[at + i] ?? 0);
    nums.push(value);
    at += 1 + width;
  }
  return nums;
}
