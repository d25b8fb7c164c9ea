/**
 * An index of the slots of a table by a 16-byte key held in the table's own bytes: an
 * open-addressing hash index (linear probing, at most half full) of slot numbers in one
 * Int32Array. It holds no object, string or Map entry per key. A table whose entries come and go
 * under load (the request id table, agent/kv/request-ids.ts; the CoAP server's duplicate cache,
 * transport/coap/duplicate-cache.ts) with a Map of keys to records made three or four heap
 * objects per entry (the record, the key string, the Map's entry and, every few thousand entries,
 * a whole new Map table) that all died old, in every member (issue 16: the mark-compacts behind
 * the 64-client latency tail).
 *
 * A key is found by hashing its 16 bytes with a seed of the index's own: request ids are SHA-256
 * digests, but of fields a client chooses, so a client could grind keys that all land in one run
 * of the index if the hash were fixed. The seed places keys in the index and nothing else; the
 * table that owns the index draws it (node:crypto), since contracts/ takes no ambient randomness.
 * Deletion shifts the run after the deleted slot back (no tombstones), so a lookup stops at the
 * first empty position.
 */
import { assert } from './assert.js';

/** The length of a key, bytes. */
export const SLOT_KEY_BYTES = 16;

/** The index of slot numbers; `ids` holds each slot's key (SLOT_KEY_BYTES per slot, owned by the table). */
export class SlotIndex {
  /** slot + 1 at each position; 0: empty. Invariant: at most half full, so every run ends at an empty position. */
  private positions: Int32Array;
  private mask: number;

  constructor(
    slotCount: number,
    private readonly seed: number,
  ) {
    this.positions = new Int32Array(indexSizeFor(slotCount));
    this.mask = this.positions.length - 1;
  }

  /** Empties the index and sizes it for `slotCount` slots. */
  reset(slotCount: number): void {
    const size = indexSizeFor(slotCount);
    if (size === this.positions.length) this.positions.fill(0);
    else this.positions = new Int32Array(size);
    this.mask = size - 1;
  }

  /** The slot holding the id `id[at..at+16)` in `ids`, or -1. */
  find(ids: Uint8Array, id: Uint8Array, at = 0): number {
    for (let p = this.hashOf(id, at) & this.mask; ; p = (p + 1) & this.mask) {
      const held = this.positions[p] ?? 0;
      if (held === 0) return -1;
      if (sameId(ids, (held - 1) * SLOT_KEY_BYTES, id, at)) return held - 1;
    }
  }

  /** Adds `slot`, whose id is already in `ids` and in no other slot of the index. */
  add(ids: Uint8Array, slot: number): void {
    let p = this.hashOf(ids, slot * SLOT_KEY_BYTES) & this.mask;
    while ((this.positions[p] ?? 0) !== 0) p = (p + 1) & this.mask;
    this.positions[p] = slot + 1;
  }

  /** Removes `slot` (its id still in `ids`), shifting back the run after it. */
  remove(ids: Uint8Array, slot: number): void {
    let p = this.hashOf(ids, slot * SLOT_KEY_BYTES) & this.mask;
    for (let held = this.positions[p] ?? 0; held !== slot + 1; held = this.positions[p] ?? 0) {
      assert(held !== 0, 'a removed slot is in the index');
      p = (p + 1) & this.mask;
    }
    this.positions[p] = 0;
    for (let q = (p + 1) & this.mask; ; q = (q + 1) & this.mask) {
      const held = this.positions[q] ?? 0;
      if (held === 0) return;
      const home = this.hashOf(ids, (held - 1) * SLOT_KEY_BYTES) & this.mask;
      // The entry at q may move to the hole at p unless its home lies cyclically within (p, q].
      const stays = p <= q ? home > p && home <= q : home > p || home <= q;
      if (stays) continue;
      this.positions[p] = held;
      this.positions[q] = 0;
      p = q;
    }
  }

  /** The number of slots indexed. */
  count(): number {
    let n = 0;
    for (const held of this.positions) if (held !== 0) n += 1;
    return n;
  }

  /** A 32-bit hash of the id `bytes[at..at+16)`, keyed by the seed. */
  private hashOf(bytes: Uint8Array, at: number): number {
    let h = this.seed;
    for (let i = at; i < at + SLOT_KEY_BYTES; i += 4) {
      const word =
        (bytes[i] ?? 0) | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24);
      h = Math.imul(h ^ word, 0x9e3779b1);
      h ^= h >>> 15;
    }
    h = Math.imul(h ^ (h >>> 13), 0x85ebca6b);
    return (h ^ (h >>> 16)) >>> 0;
  }
}

/** The index size for `slotCount` slots: a power of two at least twice it (at most half full). */
function indexSizeFor(slotCount: number): number {
  let size = 8;
  while (size < 2 * slotCount) size *= 2;
  return size;
}

/** Whether `a[ai..ai+16)` and `b[bi..bi+16)` are the same bytes. */
function sameId(a: Uint8Array, ai: number, b: Uint8Array, bi: number): boolean {
  for (let i = 0; i < SLOT_KEY_BYTES; i += 1) if (a[ai + i] !== b[bi + i]) return false;
  return true;
}
