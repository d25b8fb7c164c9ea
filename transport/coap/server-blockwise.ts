/**
 * The server's side of block-wise transfer (RFC 7959): it turns Block1 request blocks into
 * whole bodies (block-store.ts) and serves large response bodies as Block2 blocks
 * (block2-store.ts). It decides what to answer and leaves sending to the server; every
 * refusal by a limit is reported through `countLimit` with the option's name.
 */
import type { Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import { Block1Reassembler, refusalText, type RequestTransfer } from './block-store.js';
import { Block2Store, type StoredResponse } from './block2-store.js';
import { CoapOption, CoapResponseCode, codeClassOf } from './codes.js';
import type { CoapServerOptions } from './config.js';
import type { CoapOptionValue } from './message.js';
import { blockSizeOf, encodeBlock, encodeUint, option, szxOf, uintOption, type BlockValue } from './options.js';
import { QBlock1Reassembler } from './qblock-store.js';
import type { SetBlock } from './pieces.js';
import type { CoapBodyCheck } from './router.js';
import {
  busyResponse,
  diagnosticResponse,
  type CoapRequest,
  type CoapResponse,
  type RequestBlockFields,
} from './request.js';
import { TransferTable } from './transfer-table.js';

/** A response and the block options to add to it. */
export interface Answer {
  readonly response: CoapResponse;
  readonly extra: readonly CoapOptionValue[];
}

/**
 * The whole request body (`payload`: the request's own payload, the common case), the answer
 * that ends the request here, or no answer (a Q-Block1 block within a set).
 */
export type BodyOutcome =
  | { readonly kind: 'payload' }
  | { readonly kind: 'body'; readonly body: Uint8Array }
  | { readonly kind: 'answer'; readonly answer: Answer }
  | { readonly kind: 'none' };

const PAYLOAD_IS_BODY: BodyOutcome = Object.freeze({ kind: 'payload' });

/** Block-wise bodies of one server; see the module comment. */
export class ServerBlockwise {
  private readonly block1: Block1Reassembler;
  private readonly qblock1: QBlock1Reassembler;
  /** The Block1 and Q-Block1 transfers, in one table. */
  private readonly requestTransfers: TransferTable<RequestTransfer>;
  private readonly block2: Block2Store;
  private nextEtag = 0;
  /** The size exponent of options.blockBytes. */
  private readonly blockSzx: number;

  constructor(
    private readonly options: CoapServerOptions,
    timers: Timers,
    private readonly countLimit: (limit: string) => void,
    countEviction: () => void = () => undefined,
  ) {
    const o = options;
    this.blockSzx = szxOf(o.blockBytes);
    const table = {
      transfersMax: o.blockTransfersMax,
      transfersPerPeerMax: o.blockTransfersPerPeerMax,
      totalBytesMax: o.blockBytesTotalMax,
      lifetimeMs: o.blockTransferLifetimeMs,
    };
    const block1Options = { ...table, bodyBytesMax: o.bodyBytesMax, blockBytesMin: o.block1BytesMin };
    // Block1 and Q-Block1 transfers share one table, so its limits bound both together.
    this.requestTransfers = new TransferTable<RequestTransfer>(table, timers, countEviction);
    this.block1 = new Block1Reassembler(block1Options, timers, this.requestTransfers);
    this.qblock1 = new QBlock1Reassembler(block1Options, timers, this.requestTransfers);
    this.block2 = new Block2Store({ ...table, bodyBytesMax: o.bodyBytesMax }, timers, countEviction);
  }

  /** What the stores hold. */
  stats(): {
    block1Transfers: number;
    block1HeldBytes: number;
    block1BufferBytes: number;
    block2Bodies: number;
    block2HeldBytes: number;
  } {
    return {
      block1Transfers: this.block1.size,
      block1HeldBytes: this.block1.heldBytes,
      block1BufferBytes: this.block1.bufferBytes(),
      block2Bodies: this.block2.size,
      block2HeldBytes: this.block2.heldBytes,
    };
  }

  /** Forgets every transfer. */
  clear(): void {
    this.block1.clear();
    this.block2.clear();
  }

  /**
   * The answer to a Block2 follow-up (block > 0) from a stored body; null when nothing is
   * stored and the request should run again (a GET is stateless, RFC 7959 §2.4).
   */
  storedBlock(request: CoapRequest, block2: BlockValue, transferKey: string): Answer | null {
    const stored = this.block2.get(transferKey);
    if (stored !== null) return this.blockOf(stored, block2, transferKey, []);
    if (request.method === 'GET') return null;
    return {
      response: diagnosticResponse(
        CoapResponseCode.RequestEntityIncomplete,
        'no stored response body; repeat the request',
      ),
      extra: [],
    };
  }

  /** The whole request body, or the answer (2.31 Continue, or a refusal) to send instead. */
  requestBody(peerKey: string, request: CoapRequest, block: RequestBlockFields, transferKey: string): BodyOutcome {
    if (block.qblock1 !== null || block.piece1 !== null) return this.setBody(peerKey, request, block, transferKey);
    if (block.block1 === null) {
      if (request.payload.length <= this.options.bodyBytesMax) return PAYLOAD_IS_BODY;
      this.countLimit('bodyBytesMax');
      const response = diagnosticResponse(CoapResponseCode.RequestEntityTooLarge, 'request body too large');
      return { kind: 'answer', answer: { response, extra: [uintOption(CoapOption.Size1, this.options.bodyBytesMax)] } };
    }
    const outcome = this.block1.accept(peerKey, transferKey, block.block1, request.payload, block.size1);
    switch (outcome.kind) {
      case 'continue':
        return {
          kind: 'answer',
          answer: {
            response: { code: CoapResponseCode.Continue },
            extra: [option(CoapOption.Block1, encodeBlock(block.block1))],
          },
        };
      case 'refused':
        if (outcome.limit !== null) this.countLimit(outcome.limit);
        return { kind: 'answer', answer: { response: outcome.response, extra: [] } };
      case 'complete':
        return { kind: 'body', body: outcome.body };
    }
  }

  /**
   * The resource's refusal (`check`) of a body that comes in blocks, judged on this block before
   * it is kept: by Size1 when announced (at the first block, RFC 7959 §4), else by how far the
   * block reaches. A refused transfer is forgotten, so nothing of it stays held. Null when the
   * request carries no request block or `check` lets it go on.
   */
  bodyRefusal(
    check: CoapBodyCheck,
    request: CoapRequest,
    block: RequestBlockFields,
    transferKey: string,
  ): Answer | null {
    const b = block.block1 ?? block.qblock1;
    const unit = b === null ? block.piece1 : { num: b.num, bytes: blockSizeOf(b.szx) };
    if (unit === null) return null;
    const reached = unit.num * unit.bytes + request.payload.length;
    const size1 = block.size1 ?? -1;
    const response = check(size1 >= reached ? { bytes: size1, announced: true } : { bytes: reached, announced: false });
    if (response === null) return null;
    this.requestTransfers.delete(transferKey);
    return { response, extra: [] };
  }

  /**
   * A Q-Block1 block (RFC 9177 §4) or a piece (pieces.ts): the whole body, 2.31 or 4.08 for its
   * set, a refusal, or no answer.
   */
  private setBody(peerKey: string, request: CoapRequest, block: RequestBlockFields, transferKey: string): BodyOutcome {
    const q = block.qblock1;
    const unit: SetBlock | null = q === null ? block.piece1 : { num: q.num, more: q.more, bytes: blockSizeOf(q.szx) };
    assert(unit !== null, 'a body in payload sets carries Q-Block1 or a piece');
    const optionNumber = q === null ? CoapOption.CoraftPiece1 : CoapOption.QBlock1;
    const outcome = this.qblock1.accept(
      peerKey,
      transferKey,
      optionNumber,
      unit,
      request.payload,
      block.size1,
      request.confirmable,
    );
    switch (outcome.kind) {
      case 'silent':
        return { kind: 'none' };
      case 'answer':
        return { kind: 'answer', answer: { response: outcome.response, extra: [] } };
      case 'refused':
        if (outcome.limit !== null) this.countLimit(outcome.limit);
        return { kind: 'answer', answer: { response: outcome.response, extra: [] } };
      case 'continue':
        return { kind: 'answer', answer: { response: { code: CoapResponseCode.Continue }, extra: [] } };
      case 'complete':
        return { kind: 'body', body: outcome.body };
    }
  }

  /**
   * Whether `response` to a request with `block` goes whole with no option added (no Block1 to
   * echo, no Size2 asked for, a body within one block): what responseAnswer would answer with
   * `{ response, extra: [] }`.
   */
  goesWhole(block: RequestBlockFields, response: CoapResponse): boolean {
    return block.block1 === null && !block.size2 && this.fitsOneBlock(block, response);
  }

  /** The answer that carries a handler's response: whole, or its first (or asked-for) Block2 block. */
  responseAnswer(peerKey: string, block: RequestBlockFields, transferKey: string, response: CoapResponse): Answer {
    // RFC 7959 §2.3: the final response to a Block1 transfer echoes its last Block1 option.
    const echo = block.block1 === null ? [] : [option(CoapOption.Block1, encodeBlock(block.block1))];
    const szx = this.responseSzx(block);
    const payload = response.payload ?? new Uint8Array(0);
    if (this.fitsOneBlock(block, response)) {
      // RFC 7959 §4: Size2 in a request asks for the size of the body, in one block as in several.
      const size =
        block.size2 && codeClassOf(response.code) === 2 ? [uintOption(CoapOption.Size2, payload.length)] : [];
      return { response, extra: [...echo, ...size] };
    }
    // The later blocks answer GETs without Observe: only this first one registers (RFC 7959 §2.6, Figure 13).
    const { observe: _observe, ...later } = response;
    const stored: StoredResponse = { response: later, body: payload, etag: response.etag ?? this.newEtag() };
    const refusal = this.block2.put(peerKey, transferKey, stored);
    if (refusal !== null) {
      this.countLimit(refusal);
      const text =
        refusal === 'bodyBytesMax' ? 'response body exceeds bodyBytesMax' : `response body: ${refusalText(refusal)}`;
      return { response: busyResponse(text), extra: echo };
    }
    return this.blockOf(
      { ...(this.block2.get(transferKey) ?? stored), response },
      { num: block.block2?.num ?? 0, more: false, szx },
      transferKey,
      echo,
    );
  }

  /** Block `wanted.num` of a stored response body (RFC 7959 §2.4). */
  private blockOf(
    stored: StoredResponse,
    wanted: BlockValue,
    transferKey: string,
    extra: readonly CoapOptionValue[],
  ): Answer {
    const szx = Math.min(wanted.szx, szxOf(this.options.blockBytes));
    const size = blockSizeOf(szx);
    const offset = wanted.num * size;
    if (offset >= stored.body.length && offset > 0) {
      return { response: diagnosticResponse(CoapResponseCode.BadOption, 'block number beyond the body'), extra: [] };
    }
    const more = offset + size < stored.body.length;
    if (!more) this.block2.delete(transferKey);
    const response: CoapResponse = {
      ...stored.response,
      payload: stored.body.subarray(offset, offset + size),
      etag: stored.etag,
    };
    const blockOptions = [
      option(CoapOption.Block2, encodeBlock({ num: wanted.num, more, szx })),
      uintOption(CoapOption.Size2, stored.body.length),
    ];
    return { response, extra: [...extra, ...blockOptions] };
  }

  /** The block size exponent of a response to a request with `block`: ours, or a smaller one it asked for. */
  private responseSzx(block: RequestBlockFields): number {
    return Math.min(this.blockSzx, block.block2?.szx ?? Number.MAX_SAFE_INTEGER);
  }

  /** Whether the response's body fits its first block and that block is the one asked for. */
  private fitsOneBlock(block: RequestBlockFields, response: CoapResponse): boolean {
    const bytes = response.payload?.length ?? 0;
    return bytes <= blockSizeOf(this.responseSzx(block)) && (block.block2?.num ?? 0) === 0;
  }

  private newEtag(): Uint8Array {
    this.nextEtag = (this.nextEtag + 1) >>> 0;
    return encodeUint(this.nextEtag === 0 ? 1 : this.nextEtag);
  }
}

/**
 * `response` as an Observe notification of at most one block of `blockBytes`: itself when its body
 * fits, else its first Block2 block with Size2, as RFC 7959 §2.6 combines Observe and Block2; the
 * client GETs the other blocks and tells by the ETag whether they belong to the same representation.
 * A notification is one datagram: a whole large body would pass what a client reads at once
 * (libcoap drops it as too big) and, past 65,507 bytes, what UDP carries. A response without an
 * ETag (no way to match its blocks) goes whole, as does an error, which is never fetched block-wise.
 */
export function firstBlockOf(response: CoapResponse, blockBytes: number): CoapResponse {
  const payload = response.payload ?? new Uint8Array(0);
  if (payload.length <= blockBytes || response.etag === undefined || codeClassOf(response.code) !== 2) return response;
  const blockOptions = [
    option(CoapOption.Block2, encodeBlock({ num: 0, more: true, szx: szxOf(blockBytes) })),
    uintOption(CoapOption.Size2, payload.length),
  ];
  return {
    ...response,
    payload: payload.subarray(0, blockBytes),
    options: [...(response.options ?? []), ...blockOptions],
  };
}

/** Identifies a block-wise transfer: peer, method, resource, query and Request-Tag. */
export function transferKeyOf(peerKey: string, request: CoapRequest, block: RequestBlockFields): string {
  const tag = block.requestTag === null ? '' : Buffer.from(block.requestTag).toString('hex');
  return `${peerKey}|${request.method}|${request.path.join('/')}?${request.query.join('&')}|${tag}`;
}
