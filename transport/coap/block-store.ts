/**
 * The server's bounded buffers for block-wise transfers (RFC 7959): request bodies being
 * reassembled from Block1 blocks, and response bodies being served as Block2 blocks. Each
 * store bounds the size of one body, the number of bodies, their total bytes and their
 * lifetime; a transfer that would exceed a bound is refused with a CoAP error, never
 * buffered. A transfer is keyed by peer, resource and Request-Tag (RFC 9175), so that one
 * client may run many transfers to one resource at once.
 */
import type { Clock } from '../../agent/contracts.js';
import { assert } from '../assert.js';
import { CoapOption, CoapResponseCode } from './codes.js';
import { blockSizeOf, uintOption, type BlockValue } from './options.js';
import { diagnosticResponse, type CoapResponse } from './request.js';

/** Limits of one block store. */
export interface BlockStoreOptions {
  /** Largest body, in bytes. Default 8 MiB; 1 KiB..64 MiB. */
  readonly bodyBytesMax: number;
  /** Most bodies held at once. Default 256; 1..65,536. */
  readonly transfersMax: number;
  /** Most bytes held across all bodies. Default 64 MiB; at least bodyBytesMax. */
  readonly totalBytesMax: number;
  /** How long an idle transfer is kept, in ms. Default 30,000; 100..247,000. */
  readonly lifetimeMs: number;
}

interface Reassembly {
  readonly chunks: Uint8Array[];
  bytes: number;
  expiresAtMs: number;
}

/** The outcome of accepting one Block1 block. */
export type Block1Outcome =
  | { readonly kind: 'continue' }
  | { readonly kind: 'complete'; readonly body: Uint8Array }
  | { readonly kind: 'refused'; readonly response: CoapResponse };

/** Reassembles request bodies from Block1 blocks, within bounds. */
export class Block1Reassembler {
  private readonly transfers = new Map<string, Reassembly>();
  private totalBytes = 0;
  private nextSweepAtMs = 0;

  constructor(
    private readonly options: BlockStoreOptions,
    private readonly clock: Clock,
  ) {
    assert(options.totalBytesMax >= options.bodyBytesMax, 'block store total bound holds one body');
  }

  /** Bodies being reassembled. */
  get size(): number {
    return this.transfers.size;
  }

  /** Accepts the block `block` carrying `payload` of the transfer `key`. */
  accept(key: string, block: BlockValue, payload: Uint8Array, size1: number | null): Block1Outcome {
    const nowMs = this.clock.nowMs();
    this.dropExpired(nowMs);
    const blockBytes = blockSizeOf(block.szx);
    if (block.more && payload.length !== blockBytes) return refuse(CoapResponseCode.BadRequest, 'a Block1 block before the last is not full-size');
    if (payload.length > blockBytes) return refuse(CoapResponseCode.BadRequest, 'a Block1 block is larger than its size');
    if (block.num === 0) {
      this.drop(key);
      if (size1 !== null && size1 > this.options.bodyBytesMax) return this.tooLarge();
      if (this.transfers.size >= this.options.transfersMax) {
        return refuse(CoapResponseCode.ServiceUnavailable, 'too many block-wise transfers in progress');
      }
      this.transfers.set(key, { chunks: [], bytes: 0, expiresAtMs: nowMs });
    }
    const transfer = this.transfers.get(key);
    if (transfer === undefined || (block.num > 0 && transfer.expiresAtMs <= nowMs)) {
      this.drop(key);
      return refuse(CoapResponseCode.RequestEntityIncomplete, 'no transfer in progress for this block');
    }
    const offset = block.num * blockBytes;
    // The previous block again, under a new message id: acknowledge it again.
    if (offset + payload.length === transfer.bytes && block.more && block.num > 0) return { kind: 'continue' };
    if (offset !== transfer.bytes) {
      this.drop(key);
      return refuse(CoapResponseCode.RequestEntityIncomplete, `expected the block at offset ${transfer.bytes}`);
    }
    if (transfer.bytes + payload.length > this.options.bodyBytesMax) {
      this.drop(key);
      return this.tooLarge();
    }
    if (this.totalBytes + payload.length > this.options.totalBytesMax) {
      this.drop(key);
      return refuse(CoapResponseCode.ServiceUnavailable, 'block-wise buffer full');
    }
    transfer.chunks.push(payload);
    transfer.bytes += payload.length;
    this.totalBytes += payload.length;
    transfer.expiresAtMs = nowMs + this.options.lifetimeMs;
    if (block.more) return { kind: 'continue' };
    this.drop(key);
    return { kind: 'complete', body: Buffer.concat(transfer.chunks, transfer.bytes) };
  }

  /** Forgets every transfer. */
  clear(): void {
    this.transfers.clear();
    this.totalBytes = 0;
  }

  private tooLarge(): Block1Outcome {
    return {
      kind: 'refused',
      response: {
        ...diagnosticResponse(CoapResponseCode.RequestEntityTooLarge, `request body exceeds ${this.options.bodyBytesMax} bytes`),
        options: [uintOption(CoapOption.Size1, this.options.bodyBytesMax)],
      },
    };
  }

  private drop(key: string): void {
    const transfer = this.transfers.get(key);
    if (transfer === undefined) return;
    this.totalBytes -= transfer.bytes;
    this.transfers.delete(key);
    assert(this.totalBytes >= 0, 'block store byte count never negative');
  }

  /** Sweeps at most every quarter lifetime, so an idle transfer lives at most 1.25 lifetimes. */
  private dropExpired(nowMs: number): void {
    if (nowMs < this.nextSweepAtMs) return;
    this.nextSweepAtMs = nowMs + this.options.lifetimeMs / 4;
    for (const [key, transfer] of this.transfers) if (transfer.expiresAtMs <= nowMs) this.drop(key);
  }
}

/** A response body held for Block2 follow-up requests. */
export interface StoredResponse {
  readonly response: CoapResponse;
  readonly body: Uint8Array;
  readonly etag: Uint8Array;
}

/** Holds response bodies served block by block, within bounds. */
export class Block2Store {
  private readonly bodies = new Map<string, StoredResponse & { readonly expiresAtMs: number }>();
  private totalBytes = 0;
  private nextSweepAtMs = 0;

  constructor(
    private readonly options: BlockStoreOptions,
    private readonly clock: Clock,
  ) {}

  /** Bodies held. */
  get size(): number {
    return this.bodies.size;
  }

  /** Holds `stored` under `key`; false when a bound refuses it. */
  put(key: string, stored: StoredResponse): boolean {
    const nowMs = this.clock.nowMs();
    this.dropExpired(nowMs);
    this.delete(key);
    if (stored.body.length > this.options.bodyBytesMax) return false;
    if (this.bodies.size >= this.options.transfersMax) return false;
    if (this.totalBytes + stored.body.length > this.options.totalBytesMax) return false;
    this.bodies.set(key, { ...stored, expiresAtMs: nowMs + this.options.lifetimeMs });
    this.totalBytes += stored.body.length;
    return true;
  }

  /** The body held under `key`, or null. */
  get(key: string): StoredResponse | null {
    const nowMs = this.clock.nowMs();
    this.dropExpired(nowMs);
    const stored = this.bodies.get(key);
    if (stored === undefined || stored.expiresAtMs <= nowMs) {
      this.delete(key);
      return null;
    }
    return stored;
  }

  /** Releases the body under `key` (its last block was served). */
  delete(key: string): void {
    const stored = this.bodies.get(key);
    if (stored === undefined) return;
    this.totalBytes -= stored.body.length;
    this.bodies.delete(key);
  }

  /** Forgets every body. */
  clear(): void {
    this.bodies.clear();
    this.totalBytes = 0;
  }

  /** Sweeps at most every quarter lifetime, as Block1Reassembler does. */
  private dropExpired(nowMs: number): void {
    if (nowMs < this.nextSweepAtMs) return;
    this.nextSweepAtMs = nowMs + this.options.lifetimeMs / 4;
    for (const [key, stored] of this.bodies) if (stored.expiresAtMs <= nowMs) this.delete(key);
  }
}

function refuse(code: number, text: string): Block1Outcome {
  return { kind: 'refused', response: diagnosticResponse(code, text) };
}
