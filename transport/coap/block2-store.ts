/**
 * The server's bounded store of response bodies served as Block2 blocks (RFC 7959 §2.4):
 * a body is held from its first block until its last block is served or it expires. It
 * shares the transfer table's limits with Block1 reassembly (total bodies, bodies per peer,
 * bytes, lifetime), and holds a body in a buffer of its own, so what it counts is what it
 * keeps alive.
 */
import type { Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import type { CoapResponse } from './request.js';
import { TransferTable, type TransferLimitName, type TransferTableLimits } from './transfer-table.js';

/** A response body held for Block2 follow-up requests. */
export interface StoredResponse {
  readonly response: CoapResponse;
  readonly body: Uint8Array;
  readonly etag: Uint8Array;
}

interface Held {
  readonly peerKey: string;
  heldBytes: number;
  expiresAtMs: number;
  readonly stored: StoredResponse;
}

/** Limits of the Block2 store. */
export interface Block2StoreOptions extends TransferTableLimits {
  /** Largest body, in bytes. */
  readonly bodyBytesMax: number;
}

/** Holds response bodies served block by block, within bounds. */
export class Block2Store {
  private readonly table: TransferTable<Held>;

  /** `onEvict` is told of every body evicted to make room for another (transfer-table.ts). */
  constructor(
    private readonly options: Block2StoreOptions,
    private readonly timers: Timers,
    onEvict: () => void = () => undefined,
  ) {
    this.table = new TransferTable(options, timers, onEvict);
  }

  /** Bodies held. */
  get size(): number {
    return this.table.size;
  }

  /** Bytes held, as counted against the total bound. */
  get heldBytes(): number {
    return this.table.bytes;
  }

  /**
   * Holds `stored` under `key` for peer `peerKey`; returns the limit that refused it, or null.
   * A body that is a view of a larger buffer is copied, so the store never keeps more alive
   * than it counts.
   */
  put(peerKey: string, key: string, stored: StoredResponse): TransferLimitName | 'bodyBytesMax' | null {
    this.table.delete(key);
    if (stored.body.byteLength > this.options.bodyBytesMax) return 'bodyBytesMax';
    const limit = this.table.admit(peerKey, stored.body.byteLength);
    if (limit !== null) return limit;
    // new Uint8Array(view) copies (a Buffer's slice would not).
    const body = stored.body.byteLength === stored.body.buffer.byteLength ? stored.body : new Uint8Array(stored.body);
    assert(body.buffer.byteLength === body.byteLength, 'a held body owns its buffer');
    this.table.add(key, {
      peerKey,
      heldBytes: body.byteLength,
      expiresAtMs: this.timers.nowMs() + this.options.lifetimeMs,
      stored: { ...stored, body },
    });
    return null;
  }

  /** The body held under `key`, or null. */
  get(key: string): StoredResponse | null {
    return this.table.get(key)?.stored ?? null;
  }

  /** Releases the body under `key` (its last block was served). */
  delete(key: string): void {
    this.table.delete(key);
  }

  /** Forgets every body. */
  clear(): void {
    this.table.clear();
  }
}
