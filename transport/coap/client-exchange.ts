/**
 * One request of the CoAP client, from its first block to its last response block: the
 * messages it sends (RFC 7252 §5; Block1 and Block2 of RFC 7959; Request-Tag of RFC 9175)
 * and what each response it receives means for it. The client (client.ts) owns the timers,
 * the endpoint and the lookup tables; this file decides what to send next. It also holds the
 * types the client answers with (where a request goes, the counters).
 */
import type { TimerHandle } from '../../contracts/clock.js';
import { NetworkError, describeError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import type { DatagramPeer } from '../datagram.js';
import type { CoapClientRequest, CoapClientResponse } from './client-types.js';
import { QBlock1Sender, type QBlock1Servers } from './client-qblock.js';
import { CoapMethodCode, CoapOption, CoapResponseCode, CoapType, isCriticalOption } from './codes.js';
import type { CoapMessage, CoapOptionValue } from './message.js';
import { bytesOf, outgoingOf, type OutgoingMessage } from './outgoing.js';
import {
  BLOCK_NUM_MAX,
  blockSizeOf,
  decodeBlock,
  decodeUint,
  encodeBlock,
  firstOption,
  option,
  stringOption,
  uintOption,
} from './options.js';

const NO_PAYLOAD = new Uint8Array(0);

export type { CoapClientRequest, CoapClientResponse } from './client-types.js';

/** Options a response may carry that this client understands (critical ones matter). */
export const KNOWN_RESPONSE_OPTIONS: ReadonlySet<number> = new Set([
  CoapOption.ETag,
  CoapOption.Observe,
  CoapOption.LocationPath,
  CoapOption.ContentFormat,
  CoapOption.MaxAge,
  CoapOption.LocationQuery,
  CoapOption.Block2,
  CoapOption.Block1,
  CoapOption.QBlock1,
  CoapOption.Size2,
  CoapOption.Size1,
  CoapOption.CoraftPiece1,
]);

/** What a request starts with. */
export interface ExchangeInit {
  /** The lookup key of the token: its first four bytes. */
  readonly tokenId: number;
  /** 8 bytes. */
  readonly token: Uint8Array;
  readonly target: { readonly address: string; readonly port: number };
  readonly peerKey: string;
  readonly deadlineMs: number;
  readonly request: CoapClientRequest;
  readonly body: Uint8Array;
  /** The RFC 9175 Request-Tag of every message of the request. */
  readonly requestTag: Uint8Array;
  /** The preferred block size exponent. */
  readonly szx: number;
  /**
   * A body of at most this many bytes goes whole in one message; a larger one goes in Block1
   * blocks. At least the block size (then only a body that fits one block goes whole).
   */
  readonly wholeBodyBytesMax: number;
  readonly bodyBytesMax: number;
  /** What servers showed about Q-Block1 (client-qblock.ts); null: a body that goes block-wise uses Block1. */
  readonly qblock1Servers: QBlock1Servers | null;
  /** What servers showed about coraft's pieces (pieces.ts); null: no pieces, Q-Block1 or Block1. */
  readonly pieceServers: QBlock1Servers | null;
  /** The size of a piece (pieces.ts), whole KiB; 0: no pieces. */
  readonly pieceBytes: number;
  /** Builds a Uri-Path option (the client caches the encodings). */
  readonly uriPath: (segment: string) => CoapOptionValue;
}

/** The caller's promise of one request. */
export interface ExchangeSettler {
  readonly resolve: (response: CoapClientResponse) => void;
  readonly reject: (error: Error) => void;
}

/** What to do after a response message. */
export type ExchangeStep =
  | { readonly kind: 'send-next' }
  | { readonly kind: 'done'; readonly response: CoapClientResponse }
  | { readonly kind: 'failed'; readonly error: NetworkError };

/** The state of one request; see the module comment. */
export class ClientExchange {
  /** Where the next Block1 block starts (bytes of the body the server has acknowledged). */
  private block1Offset = 0;
  private block1Szx: number;
  /** The body goes whole in one message (no Block1) until the server asks for blocks. */
  private unfragmented: boolean;
  /** The Block2 block to ask for next, once the first response block arrived. */
  private block2Num = 0;
  private block2Szx: number;
  private firstResponse: CoapMessage | null = null;
  private readonly chunks: Uint8Array[] = [];
  private responseBytes = 0;
  private base: readonly CoapOptionValue[] | null = null;
  /** The message id and bytes of the message in flight (its payload not copied), and its retransmission state. */
  messageId = -1;
  outgoing: OutgoingMessage = { head: new Uint8Array(0), body: [], bodyBytes: 0 };
  retransmits = 0;
  /** When the endpoint took the message in flight, ms (its round trip starts); NaN before. */
  sentAtMs = Number.NaN;
  backoffMs = 0;
  retransmitAtMs = Number.POSITIVE_INFINITY;
  /** An empty ACK arrived: stop retransmitting, a separate response follows. */
  acknowledged = false;
  /** The endpoint has not yet taken the datagram (a DTLS handshake may be running). */
  sending = false;
  /** The caller's promise; null once the request is settled (Invariant: then it is in no table). */
  settle: ExchangeSettler | null = null;
  /** The one timer of the request: its next retransmission or its deadline. */
  timer: TimerHandle | null = null;

  readonly tokenId: number;
  readonly token: Uint8Array;
  readonly target: { readonly address: string; readonly port: number };
  readonly peerKey: string;
  readonly deadlineMs: number;
  private readonly request: CoapClientRequest;
  /** The body's pieces (CoapClientRequest.payloadParts), or null; `body` joins them when a block needs bytes. */
  private readonly parts: readonly Uint8Array[] | null;
  private joined: Uint8Array | null;
  /** The body's bytes. */
  private readonly bodyBytes: number;
  private readonly requestTag: Uint8Array;
  private readonly bodyBytesMax: number;
  /** True when the body goes block-wise (Block1): it is larger than the whole-body limit. */
  private readonly uriPath: (segment: string) => CoapOptionValue;
  /** The body goes in Q-Block1 payload sets (null: whole, or Block1). */
  private qblock: QBlock1Sender | null;
  private readonly qblock1Servers: QBlock1Servers | null;
  private readonly pieceServers: QBlock1Servers | null;
  private readonly pieceBytes: number;
  private readonly szx: number;

  constructor(init: ExchangeInit) {
    assert(init.token.length === 8, 'client tokens are 8 bytes');
    this.tokenId = init.tokenId;
    this.token = init.token;
    this.target = init.target;
    this.peerKey = init.peerKey;
    this.deadlineMs = init.deadlineMs;
    this.request = init.request;
    this.parts = init.request.payloadParts ?? null;
    assert(this.parts === null || init.body.length === 0, 'a request has a payload or payload parts, not both');
    this.joined = this.parts === null ? init.body : null;
    this.requestTag = init.requestTag;
    this.bodyBytesMax = init.bodyBytesMax;
    this.uriPath = init.uriPath;
    this.block1Szx = init.szx;
    this.block2Szx = init.szx;
    this.bodyBytes = this.parts === null ? init.body.length : bytesOf(this.parts);
    this.unfragmented = this.bodyBytes <= Math.max(blockSizeOf(init.szx), init.wholeBodyBytesMax);
    this.qblock1Servers = init.qblock1Servers;
    this.pieceServers = init.pieceServers;
    this.pieceBytes = init.pieceBytes;
    this.szx = init.szx;
    this.qblock = this.unfragmented ? null : this.setSender();
  }

  /** The body as one buffer: the caller's, or its parts joined (once, when a Block1 block needs it). */
  private get body(): Uint8Array {
    this.joined ??= Buffer.concat(this.parts ?? []);
    return this.joined;
  }

  /** The parts to send as the next message's whole body (outgoing.ts), or null: the message carries its payload. */
  private wholeParts(): readonly Uint8Array[] | null {
    return this.unfragmented && this.firstResponse === null ? this.parts : null;
  }

  /** How a body that goes block-wise goes: in pieces, in Q-Block1 sets, or (null) with Block1. */
  private setSender(): QBlock1Sender | null {
    const pieces = this.pieceBytes > 0 ? (this.pieceServers?.modeOf(this.peerKey) ?? 'off') : 'off';
    // The sets' blocks are views of the caller's pieces (a leader's AppendEntries: the log's own buffers), not a join.
    const body = { parts: this.parts ?? [this.body], bytes: this.bodyBytes };
    if (pieces !== 'off' && this.bodyBytes > this.pieceBytes)
      return new QBlock1Sender(body, CoapOption.CoraftPiece1, this.pieceBytes, pieces === 'probe');
    const mode = this.qblock1Servers?.modeOf(this.peerKey) ?? 'off';
    if (mode === 'off') return null;
    return new QBlock1Sender(body, CoapOption.QBlock1, blockSizeOf(this.szx), mode === 'probe');
  }

  /** True while the next response message may be the whole answer: no Block2 transfer or Q-Block1 set under way. */
  get awaitsWholeResponse(): boolean {
    return this.firstResponse === null && this.qblock === null;
  }

  /** True when `peer` is the endpoint this request went to. */
  isFrom(peer: DatagramPeer): boolean {
    return peer.address === this.target.address && peer.port === this.target.port;
  }

  /** The next message to send (a new message id each time, RFC 7252 §4.4), its payload not copied. */
  nextOutgoing(messageId: number): OutgoingMessage {
    const qnum = this.firstResponse === null ? (this.qblock?.confirmableNum ?? -1) : -1;
    return this.buildOutgoing(messageId, qnum, CoapType.CON);
  }

  /** The non-confirmable Q-Block1 blocks to send before the next message (once each); none outside Q-Block1. */
  leadingOutgoing(nextMessageId: () => number): OutgoingMessage[] {
    if (this.qblock === null || this.firstResponse !== null) return [];
    return this.qblock.takeLeading().map((num) => this.buildOutgoing(nextMessageId(), num, CoapType.NON));
  }

  /**
   * A message of this request; `qnum` >= 0: Q-Block1 block `qnum`, whose payload goes as views of
   * the body's parts beside the message (outgoing.ts), as does a whole body of parts.
   */
  private buildOutgoing(messageId: number, qnum: number, type: CoapType): OutgoingMessage {
    // Options are pushed in ascending number, so the encoder need not sort them.
    const options: CoapOptionValue[] = [...this.pathOptions()];
    // A body of parts goes whole beside the message (wholeParts); every other case sets the payload below.
    let payload = this.parts === null ? this.body : NO_PAYLOAD;
    let blockParts: readonly Uint8Array[] | null = null;
    const follow = this.firstResponse !== null;
    if (!follow && this.request.contentFormat !== undefined)
      options.push(uintOption(CoapOption.ContentFormat, this.request.contentFormat));
    for (const argument of this.request.query ?? []) options.push(stringOption(CoapOption.UriQuery, argument));
    if (this.request.accept !== undefined) options.push(uintOption(CoapOption.Accept, this.request.accept));
    let last: CoapOptionValue | null = null;
    if (this.qblock !== null && qnum >= 0) {
      // Every block carries Size1, so that any block of a set may be the first to arrive.
      const setOption = this.qblock.optionOf(qnum);
      // The piece option's number is above every other: it goes last, in order.
      if (setOption.number === CoapOption.CoraftPiece1) last = setOption;
      else options.push(setOption);
      options.push(uintOption(CoapOption.Size1, this.bodyBytes));
      payload = NO_PAYLOAD;
      blockParts = this.qblock.payloadOf(qnum);
    } else if (follow) {
      // A Block2 follow-up: the same request without its body (RFC 7959 §2.4, §3.3).
      options.push(option(CoapOption.Block2, encodeBlock({ num: this.block2Num, more: false, szx: this.block2Szx })));
      payload = new Uint8Array(0);
    } else if (!this.unfragmented) {
      const size = blockSizeOf(this.block1Szx);
      const more = this.block1Offset + size < this.bodyBytes;
      options.push(
        option(CoapOption.Block1, encodeBlock({ num: this.block1Offset / size, more, szx: this.block1Szx })),
      );
      if (this.block1Offset === 0) options.push(uintOption(CoapOption.Size1, this.bodyBytes));
      payload = this.body.subarray(this.block1Offset, this.block1Offset + size);
    }
    options.push(option(CoapOption.RequestTag, this.requestTag));
    if (!follow) options.push(...(this.request.options ?? []));
    if (last !== null) options.push(last);
    const message = { type, code: CoapMethodCode[this.request.method], messageId, token: this.token, options, payload };
    return outgoingOf(message, blockParts ?? this.wholeParts());
  }

  /** The Uri-Path options of this request, built once. */
  private pathOptions(): readonly CoapOptionValue[] {
    if (this.base !== null) return this.base;
    this.base = this.request.path.map(this.uriPath);
    return this.base;
  }

  /** Interprets a response message matched to this request. */
  onResponse(message: CoapMessage, peer: DatagramPeer): ExchangeStep {
    for (const o of message.options) {
      if (isCriticalOption(o.number) && !KNOWN_RESPONSE_OPTIONS.has(o.number))
        return failed('NET_REJECTED', `response carries unrecognised critical option ${o.number}`);
    }
    if (this.firstResponse === null && this.qblock !== null) {
      const step = this.onQBlockAnswer(message);
      if (step !== null) return step;
    }
    if (this.firstResponse === null && message.code === CoapResponseCode.Continue) return this.onContinue(message);
    if (this.firstResponse === null && message.code === CoapResponseCode.RequestEntityTooLarge) {
      const hint = this.blockHint(message);
      if (hint !== null) return hint;
    }
    const block2Value = firstOption(message.options, CoapOption.Block2);
    if (block2Value === null) {
      if (this.firstResponse !== null) return failed('NET_REJECTED', 'a Block2 follow-up was answered without Block2');
      return { kind: 'done', response: toResponse(message, message.payload, peer) };
    }
    const block = decodeBlock(block2Value);
    if (block === null || block.num !== this.block2Num)
      return failed('NET_REJECTED', 'unexpected Block2 block in response');
    if (block.more && message.payload.length !== blockSizeOf(block.szx))
      return failed('NET_REJECTED', 'a Block2 block before the last is not full-size');
    const first = this.firstResponse ?? message;
    if (this.firstResponse === null) {
      const size2 = decodeUint(firstOption(message.options, CoapOption.Size2) ?? new Uint8Array(0), 4) ?? 0;
      if (size2 > this.bodyBytesMax)
        return failed('NET_TOO_LARGE', `response body of ${size2} bytes exceeds ${this.bodyBytesMax}`);
      this.firstResponse = message;
    } else if (message.code !== first.code || !sameEtag(first, message)) {
      return failed('NET_REJECTED', 'the response changed during a Block2 transfer');
    }
    this.responseBytes += message.payload.length;
    if (this.responseBytes > this.bodyBytesMax)
      return failed('NET_TOO_LARGE', `response body exceeds ${this.bodyBytesMax} bytes`);
    this.chunks.push(message.payload);
    if (!block.more)
      return { kind: 'done', response: toResponse(first, Buffer.concat(this.chunks, this.responseBytes), peer) };
    this.block2Num = block.num + 1;
    this.block2Szx = block.szx;
    return { kind: 'send-next' };
  }

  /** 2.31 or 4.08 to a Q-Block1 set (the next set, or the missing blocks), 4.02 (Block1 instead); null: final. */
  private onQBlockAnswer(message: CoapMessage): ExchangeStep | null {
    assert(this.qblock !== null, 'a Q-Block1 answer to a Q-Block1 body');
    const outcome = this.qblock.onAnswer(message);
    if (outcome === 'final') return null;
    const pieces = this.qblock.optionNumber === CoapOption.CoraftPiece1;
    // RFC 9177 §4.1: a server that does not know Q-Block1 answers 4.02; the body goes again with Block1.
    // One that does not know pieces answers 4.02 too; the body goes again with Q-Block1 (or Block1).
    (pieces ? this.pieceServers : this.qblock1Servers)?.record(this.peerKey, outcome !== 'fallback');
    if (outcome === 'fallback') {
      this.qblock = pieces ? this.setSender() : null;
      this.block1Offset = 0;
      return { kind: 'send-next' };
    }
    return outcome === 'next' ? { kind: 'send-next' } : { kind: 'failed', error: outcome };
  }

  /**
   * A 4.13 with a Block1 option, to a body sent whole, asks for blocks of at most that size
   * (RFC 7959 §2.9.3): the body goes again, block-wise from block 0. Null: the 4.13 is the answer.
   */
  private blockHint(message: CoapMessage): ExchangeStep | null {
    const value = firstOption(message.options, CoapOption.Block1);
    const block = value === null ? null : decodeBlock(value);
    if (!this.unfragmented || block === null || this.bodyBytes <= blockSizeOf(block.szx)) return null;
    const szx = Math.min(this.block1Szx, block.szx);
    if ((this.bodyBytes - 1) / blockSizeOf(szx) > BLOCK_NUM_MAX)
      return failed('NET_TOO_LARGE', 'body too large for the block size the server asked for');
    this.unfragmented = false;
    this.block1Szx = szx;
    this.block1Offset = 0;
    return { kind: 'send-next' };
  }

  /** 2.31 Continue: the server took the block; send the next one at its block size (RFC 7959 §2.5). */
  private onContinue(message: CoapMessage): ExchangeStep {
    const value = firstOption(message.options, CoapOption.Block1);
    const block = value === null ? null : decodeBlock(value);
    const size = blockSizeOf(this.block1Szx);
    if (block === null || this.unfragmented) return failed('NET_REJECTED', '2.31 Continue without a Block1 transfer');
    if (block.num * blockSizeOf(block.szx) !== this.block1Offset)
      return failed('NET_REJECTED', '2.31 Continue for another block');
    const next = this.block1Offset + size;
    if (next >= this.bodyBytes) return failed('NET_REJECTED', '2.31 Continue after the last block');
    const szx = Math.min(this.block1Szx, block.szx);
    if ((this.bodyBytes - 1) / blockSizeOf(szx) > BLOCK_NUM_MAX)
      return failed('NET_TOO_LARGE', 'body too large for the block size the server asked for');
    this.block1Offset = next;
    this.block1Szx = szx;
    return { kind: 'send-next' };
  }
}

/** A response message (with its whole body) as the caller sees it. */
export function toResponse(first: CoapMessage, payload: Uint8Array, peer: DatagramPeer): CoapClientResponse {
  const format = firstOption(first.options, CoapOption.ContentFormat);
  return {
    code: first.code,
    payload,
    contentFormat: format === null ? null : decodeUint(format, 2),
    etag: firstOption(first.options, CoapOption.ETag),
    options: first.options,
    peer,
  };
}

function sameEtag(a: CoapMessage, b: CoapMessage): boolean {
  const x = firstOption(a.options, CoapOption.ETag);
  const y = firstOption(b.options, CoapOption.ETag);
  if (x === null || y === null) return x === y;
  return Buffer.from(x).equals(y);
}

function failed(code: 'NET_REJECTED' | 'NET_TOO_LARGE', message: string): ExchangeStep {
  return { kind: 'failed', error: new NetworkError(code, message) };
}

export type { CoapClientStats, CoapTarget } from './client-types.js';

/** Endpoint failures: a NetworkError (a refused DTLS handshake) as is, anything else as unreachable. */
export function asNetworkError(error: unknown): NetworkError {
  if (error instanceof NetworkError) return error;
  return new NetworkError('NET_UNREACHABLE', `send failed: ${describeError(error)}`, { cause: error });
}
