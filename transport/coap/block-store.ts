/**
 * The server's bounded reassembly of request bodies from Block1 blocks (RFC 7959). What it
 * counts is what it holds: every transfer copies its blocks into one buffer of its own
 * (preallocated from Size1 when the client announces a size within bodyBytesMax, else grown
 * geometrically up to bodyBytesMax), and the table counts that buffer's byteLength against
 * the total bound. No block's datagram is kept alive by a transfer, so a flood of tiny blocks
 * costs what its bytes cost and no more.
 *
 * A transfer is keyed by peer, resource and Request-Tag (RFC 9175), so one client may run
 * several transfers to one resource at once, up to a per-peer limit. A block size below
 * `blockBytesMin` is refused with 4.13 carrying a Block1 option with the smallest accepted
 * size and Size1 with bodyBytesMax (RFC 7959 §2.9.3 makes a 4.13 with Block1 a block-size
 * hint); a body that fits one block is accepted at any size. Every refusal names the limit
 * that refused it, for the server's metrics.
 */
import type { Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import { CoapOption, CoapResponseCode } from './codes.js';
import { blockSizeOf, encodeBlock, option, szxOf, uintOption, type BlockValue } from './options.js';
import { busyResponse, diagnosticResponse, type CoapResponse } from './request.js';
import type { Reassembly, RequestTransfer } from './request-transfer.js';
import type { TransferTable, TransferLimitName, TransferTableLimits } from './transfer-table.js';

export type { Reassembly, RequestTransfer } from './request-transfer.js';

/** Limits of one block store. */
export interface BlockStoreOptions extends TransferTableLimits {
  /** Largest body, in bytes. */
  readonly bodyBytesMax: number;
  /** Smallest Block1 block size of a body that needs reassembly, in bytes (a power of two, 16..1024). */
  readonly blockBytesMin: number;
}

/** The option whose limit refused a block-wise transfer. */
export type BlockLimitName = TransferLimitName | 'bodyBytesMax' | 'block1BytesMin';

/** The outcome of accepting one Block1 block. */
export type Block1Outcome =
  | { readonly kind: 'continue' }
  | { readonly kind: 'complete'; readonly body: Uint8Array }
  | { readonly kind: 'refused'; readonly response: CoapResponse; readonly limit: BlockLimitName | null };

/** Transfers start with room for this many blocks when the client announces no Size1. */
const INITIAL_BLOCKS = 4;

/** Reassembles request bodies from Block1 blocks, within bounds; see the module comment. */
export class Block1Reassembler {
  private readonly szxMin: number;

  /** `table` is shared with the Q-Block1 store: both kinds count against the same limits. */
  constructor(
    private readonly options: BlockStoreOptions,
    private readonly timers: Timers,
    private readonly table: TransferTable<RequestTransfer>,
  ) {
    assert(options.totalBytesMax >= options.bodyBytesMax, 'block store total bound holds one body');
    this.szxMin = szxOf(options.blockBytesMin);
  }

  /** Bodies being reassembled. */
  get size(): number {
    return this.table.size;
  }

  /** Bytes held, as counted against the total bound. */
  get heldBytes(): number {
    return this.table.bytes;
  }

  /** The byteLength of every ArrayBuffer the transfers of both kinds keep alive (equals heldBytes). */
  bufferBytes(): number {
    let sum = 0;
    for (const transfer of this.table.values()) sum += transfer.buffer.buffer.byteLength;
    return sum;
  }

  /** Accepts the block `block` carrying `payload` of the transfer `key` of peer `peerKey`. */
  accept(peerKey: string, key: string, block: BlockValue, payload: Uint8Array, size1: number | null): Block1Outcome {
    const blockBytes = blockSizeOf(block.szx);
    if (block.more && payload.length !== blockBytes)
      return refuse(CoapResponseCode.BadRequest, 'a Block1 block before the last is not full-size', null);
    if (payload.length > blockBytes)
      return refuse(CoapResponseCode.BadRequest, 'a Block1 block is larger than its size', null);
    if (block.szx < this.szxMin && (block.more || block.num > 0)) {
      this.table.delete(key);
      return blockTooSmallRefusal(this.options.blockBytesMin, this.options.bodyBytesMax, CoapOption.Block1);
    }
    if (block.num === 0) return this.begin(peerKey, key, block, payload, size1);
    const transfer = this.table.get(key);
    if (transfer?.kind !== 'block1')
      return refuse(CoapResponseCode.RequestEntityIncomplete, 'no transfer in progress for this block', null);
    const offset = block.num * blockBytes;
    // The previous block again, under a new message id: acknowledge it again.
    if (offset + payload.length === transfer.bytes && block.more) return { kind: 'continue' };
    if (offset !== transfer.bytes) {
      this.table.delete(key);
      return refuse(CoapResponseCode.RequestEntityIncomplete, `expected the block at offset ${transfer.bytes}`, null);
    }
    return this.append(key, transfer, block.more, payload);
  }

  /** Forgets every transfer. */
  clear(): void {
    this.table.clear();
  }

  private begin(
    peerKey: string,
    key: string,
    block: BlockValue,
    payload: Uint8Array,
    size1: number | null,
  ): Block1Outcome {
    this.table.delete(key);
    if (size1 !== null && size1 > this.options.bodyBytesMax) return tooLargeRefusal(this.options.bodyBytesMax);
    // The whole body in one block: nothing to reassemble or hold.
    if (!block.more) return { kind: 'complete', body: payload };
    const announced = size1 !== null && size1 >= payload.length ? size1 : 0;
    const capacity =
      announced > 0 ? announced : Math.min(this.options.bodyBytesMax, INITIAL_BLOCKS * blockSizeOf(block.szx));
    const limit = this.table.admit(peerKey, capacity);
    if (limit !== null) return refuse(CoapResponseCode.ServiceUnavailable, refusalText(limit), limit);
    const buffer = new Uint8Array(capacity);
    buffer.set(payload);
    this.table.add(key, {
      kind: 'block1',
      peerKey,
      heldBytes: capacity,
      expiresAtMs: this.timers.nowMs() + this.options.lifetimeMs,
      buffer,
      bytes: payload.length,
    });
    return { kind: 'continue' };
  }

  private append(key: string, transfer: Reassembly, more: boolean, payload: Uint8Array): Block1Outcome {
    const needed = transfer.bytes + payload.length;
    if (needed > this.options.bodyBytesMax) {
      this.table.delete(key);
      return tooLargeRefusal(this.options.bodyBytesMax);
    }
    if (needed > transfer.buffer.byteLength && !this.grow(transfer, needed)) {
      this.table.delete(key);
      return refuse(CoapResponseCode.ServiceUnavailable, refusalText('blockBytesTotalMax'), 'blockBytesTotalMax');
    }
    transfer.buffer.set(payload, transfer.bytes);
    transfer.bytes = needed;
    transfer.expiresAtMs = this.timers.nowMs() + this.options.lifetimeMs;
    assert(transfer.bytes <= transfer.buffer.byteLength, 'a transfer holds what it received');
    if (more) return { kind: 'continue' };
    this.table.delete(key);
    // A buffer announced larger than the body is trimmed, so the handler keeps only the body.
    const body =
      transfer.bytes === transfer.buffer.byteLength ? transfer.buffer : transfer.buffer.slice(0, transfer.bytes);
    return { kind: 'complete', body };
  }

  /** Moves the transfer into a buffer of at least `needed` bytes; false when the total bound refuses. */
  private grow(transfer: Reassembly, needed: number): boolean {
    const doubled = Math.min(this.options.bodyBytesMax, Math.max(needed, 2 * transfer.buffer.byteLength));
    const capacity = this.table.canResize(transfer, doubled) ? doubled : needed;
    if (!this.table.canResize(transfer, capacity)) return false;
    const buffer = new Uint8Array(capacity);
    buffer.set(transfer.buffer.subarray(0, transfer.bytes));
    transfer.buffer = buffer;
    this.table.resize(transfer, capacity);
    assert(transfer.heldBytes === transfer.buffer.byteLength, 'a transfer counts its buffer');
    return true;
  }
}

/** 4.13 with Size1: the body exceeds bodyBytesMax (RFC 7959 §2.9.3, §4). */
export function tooLargeRefusal(bodyBytesMax: number): Block1Outcome {
  return {
    kind: 'refused',
    limit: 'bodyBytesMax',
    response: {
      ...diagnosticResponse(CoapResponseCode.RequestEntityTooLarge, `request body exceeds ${bodyBytesMax} bytes`),
      options: [uintOption(CoapOption.Size1, bodyBytesMax)],
    },
  };
}

/**
 * 4.13 with the smallest block size accepted as a hint in the option `optionNumber` (Block1,
 * RFC 7959 §2.9.3; Q-Block1, RFC 9177 §4.4), and Size1.
 */
export function blockTooSmallRefusal(blockBytesMin: number, bodyBytesMax: number, optionNumber: number): Block1Outcome {
  return {
    kind: 'refused',
    limit: 'block1BytesMin',
    response: {
      ...diagnosticResponse(
        CoapResponseCode.RequestEntityTooLarge,
        `blocks must be at least ${blockBytesMin} bytes (block1BytesMin)`,
      ),
      options: [
        option(optionNumber, encodeBlock({ num: 0, more: false, szx: szxOf(blockBytesMin) })),
        uintOption(CoapOption.Size1, bodyBytesMax),
      ],
    },
  };
}

/** The diagnostic of a refusal by a table limit. */
export function refusalText(limit: TransferLimitName): string {
  switch (limit) {
    case 'blockTransfersMax':
      return 'too many block-wise transfers in progress (blockTransfersMax)';
    case 'blockTransfersPerPeerMax':
      return 'too many block-wise transfers in progress from this peer (blockTransfersPerPeerMax)';
    case 'blockBytesTotalMax':
      return 'block-wise buffer full (blockBytesTotalMax)';
  }
}

/** A refusal with a diagnostic. */
export function refuse(code: number, text: string, limit: BlockLimitName | null): Block1Outcome {
  const response = code === CoapResponseCode.ServiceUnavailable ? busyResponse(text) : diagnosticResponse(code, text);
  return { kind: 'refused', response, limit };
}
