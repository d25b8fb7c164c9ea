/**
 * The client's side of Q-Block1 (RFC 9177 §4): which blocks of a request body go in which
 * payload set, and what a 2.31 Continue or a 4.08 Request Entity Incomplete means for the next
 * one. The exchange (client-exchange.ts) builds the messages and the client sends them.
 *
 * A set is MAX_PAYLOADS blocks, aligned on multiples of it (so the server's "last block of a
 * set" is ours). Its blocks go non-confirmable, one after another without waiting, except the
 * set's last block (or the body's last), which goes confirmable: the client's retransmission
 * timer covers it, and the server answers it with the set's state in one round trip (2.31
 * when every block up to it arrived, 4.08 listing the missing ones). The missing blocks go
 * again, non-confirmable but the last, which goes confirmable and is answered like the set's
 * end (a body completed by it gets the handler's response piggybacked); at most
 * INCOMPLETE_ROUNDS_MAX such rounds per request. A body whose server has not yet shown it
 * supports Q-Block1 starts with block 0 alone (RFC 9177 §4.1's probe): 2.31 means it does,
 * 4.02 Bad Option that it does not, and the body goes again with Block1.
 *
 * Deviation from RFC 9177, which expects all blocks of a body non-confirmable on UDP and the
 * server's NON_RECEIVE_TIMEOUT (4 s) to find losses: a confirmable set end lets a Raft
 * deadline of a few hundred ms recover a loss, and every block of one request shares the
 * request's token (RFC 9177 asks for a token per block; the server keys a body by
 * Request-Tag, not by token, so ours and other servers accept either).
 */
import { NetworkError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import { CoapOption, CoapResponseCode, MISSING_BLOCKS_CONTENT_FORMAT } from './codes.js';
import type { CoapMessage, CoapOptionValue } from './message.js';
import { decodeUint, firstOption } from './options.js';
import { decodeSetBlock, setBlockOption } from './pieces.js';
import { MAX_PAYLOADS, MISSING_BLOCKS_REPORTED_MAX, decodeMissingBlocks } from './qblock-store.js';

/** Most servers whose Q-Block1 support is remembered; the table is cleared when full. */
export const QBLOCK1_SERVERS_MAX = 1_024;

/** What each server (by "address|port") showed about Q-Block1 (or about pieces, pieces.ts); see the module comment. */
export class QBlock1Servers {
  private readonly supported = new Map<string, boolean>();

  /** How a body that goes block-wise goes to `peerKey`: Q-Block1, a probe, or Block1 ('off'). */
  modeOf(peerKey: string): 'known' | 'probe' | 'off' {
    const known = this.supported.get(peerKey);
    return known === undefined ? 'probe' : known ? 'known' : 'off';
  }

  /** Records what `peerKey` showed: 2.31 or 4.08 (true), 4.02 Bad Option (false). */
  record(peerKey: string, supported: boolean): void {
    if (this.supported.size >= QBLOCK1_SERVERS_MAX && !this.supported.has(peerKey)) this.supported.clear();
    this.supported.set(peerKey, supported);
  }
}

/** A request body as the caller gave it: one buffer or several pieces, in order, and their bytes together. */
export interface BodyParts {
  readonly parts: readonly Uint8Array[];
  readonly bytes: number;
}

/**
 * The bytes `start` to `end` (excluded, clamped to the end) of `parts` joined, as views of the
 * parts they fall in, in order: a block of a body given in pieces goes without joining them.
 */
export function slicedParts(parts: readonly Uint8Array[], start: number, end: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const part of parts) {
    const partEnd = at + part.length;
    if (partEnd > start && at < end && part.length > 0)
      out.push(part.subarray(Math.max(0, start - at), Math.min(part.length, end - at)));
    at = partEnd;
    if (at >= end) break;
  }
  return out;
}

/** Most 4.08 answers one request takes before it fails: each costs a round trip. */
export const INCOMPLETE_ROUNDS_MAX = 8;

/** The payload sets of one request body; see the module comment. */
export class QBlock1Sender {
  /** The body's last block number. */
  readonly lastNum: number;
  /** The last block of the set in flight (or the body's last): what a 2.31 names. */
  private setEnd: number;
  /** The confirmable block of the next transmission: the set's end, or the last block a 4.08 asked for. */
  private confirmable: number;
  /** The non-confirmable blocks to send before the set's end next time. */
  private pending: number[];
  private rounds = 0;

  /**
   * The blocks are `blockBytes` long and carry option `optionNumber`: Q-Block1, or coraft's
   * pieces (pieces.ts), which follow the same rules. `probe`: the server has not shown that it
   * supports that option, so block 0 goes alone.
   */
  constructor(
    private readonly body: BodyParts,
    readonly optionNumber: number,
    readonly blockBytes: number,
    probe: boolean,
  ) {
    const size = blockBytes;
    assert(body.bytes > size, 'a Q-Block1 body spans several blocks');
    this.lastNum = Math.ceil(body.bytes / size) - 1;
    this.setEnd = probe ? 0 : Math.min(this.lastNum, MAX_PAYLOADS - 1);
    this.confirmable = this.setEnd;
    this.pending = range(0, this.setEnd);
  }

  /** The block number of the confirmable message of the set in flight. */
  get confirmableNum(): number {
    return this.confirmable;
  }

  /** The non-confirmable blocks to send (once) before the confirmable one. */
  takeLeading(): readonly number[] {
    const leading = this.pending;
    this.pending = [];
    return leading;
  }

  /** The option (Q-Block1 or piece) of block `num`. */
  optionOf(num: number): CoapOptionValue {
    return setBlockOption(this.optionNumber, { num, more: num < this.lastNum, bytes: this.blockBytes });
  }

  /** The payload of block `num`, as views of the body's parts (nothing copied). */
  payloadOf(num: number): readonly Uint8Array[] {
    const size = this.blockBytes;
    return slicedParts(this.body.parts, num * size, (num + 1) * size);
  }

  /**
   * What an answer to a set means: 'next' (send the next set or the missing blocks),
   * 'fallback' (4.02: the server does not know Q-Block1), 'final' (the request's response),
   * or the error that ends the request.
   */
  onAnswer(message: CoapMessage): 'next' | 'fallback' | 'final' | NetworkError {
    let error: NetworkError | null;
    if (message.code === CoapResponseCode.Continue) {
      const value = firstOption(message.options, this.optionNumber);
      const block = value === null ? null : decodeSetBlock(this.optionNumber, value);
      error = block === null ? new NetworkError('NET_REJECTED', '2.31 without Q-Block1') : this.onContinue(block.num);
    } else if (message.code === CoapResponseCode.RequestEntityIncomplete) {
      const format = decodeUint(firstOption(message.options, CoapOption.ContentFormat) ?? new Uint8Array(0), 2);
      if (format !== MISSING_BLOCKS_CONTENT_FORMAT) return 'final';
      error = this.onIncomplete(decodeMissingBlocks(message.payload, MISSING_BLOCKS_REPORTED_MAX));
    } else {
      return message.code === CoapResponseCode.BadOption ? 'fallback' : 'final';
    }
    return error ?? 'next';
  }

  /** 2.31 with Q-Block1 `num`: every block up to the set's end arrived; the next set follows. */
  onContinue(num: number): NetworkError | null {
    if (num !== this.setEnd)
      return new NetworkError('NET_REJECTED', `2.31 Continue for Q-Block1 ${num}, not ${this.setEnd}`);
    if (num >= this.lastNum) return new NetworkError('NET_REJECTED', '2.31 Continue after the last Q-Block1 block');
    const start = num + 1;
    this.setEnd = Math.min(this.lastNum, Math.floor(start / MAX_PAYLOADS) * MAX_PAYLOADS + MAX_PAYLOADS - 1);
    this.confirmable = this.setEnd;
    this.pending = range(start, this.setEnd);
    return null;
  }

  /** 4.08 listing `missing` block numbers: they go again, then the set's end. */
  onIncomplete(missing: readonly number[] | null): NetworkError | null {
    if (missing === null || missing.length === 0 || missing.length > MISSING_BLOCKS_REPORTED_MAX)
      return new NetworkError('NET_REJECTED', '4.08 without a list of missing Q-Block1 blocks');
    if (missing.some((num) => !Number.isInteger(num) || num > this.setEnd))
      return new NetworkError('NET_REJECTED', '4.08 lists a Q-Block1 block not yet sent');
    this.rounds += 1;
    if (this.rounds > INCOMPLETE_ROUNDS_MAX)
      return new NetworkError('NET_REJECTED', `Q-Block1 blocks still missing after ${INCOMPLETE_ROUNDS_MAX} rounds`);
    // The last missing block goes confirmable: its answer tells whether the set (or body) is whole.
    this.confirmable = missing[missing.length - 1] ?? this.setEnd;
    this.pending = missing.slice(0, -1);
    return null;
  }
}

/** The integers from `start` to `end`, `end` excluded. */
function range(start: number, end: number): number[] {
  const out: number[] = [];
  for (let num = start; num < end; num += 1) out.push(num);
  return out;
}
