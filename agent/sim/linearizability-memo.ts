/**
 * The memo of the linearizability search (Lowe's optimisation): the set of states (operations
 * taken, register value) already explored, plus the set of operations taken now.
 *
 * States are stored compactly, since a search over n operations may remember about n of them:
 * a full bitset each would cost O(n²) memory. The ok operations are ranked by invoke time; in a
 * state, every ok operation below some rank `p` is taken (those that completed long ago), and
 * the ones taken at or above `p` lie within a short window (those concurrent with the search's
 * frontier). So a state is stored as `p`, the bitset words from `p` to the highest ok operation
 * taken, and a bitset of the info operations taken (usually few). Each state is hashed with
 * Zobrist hashing (a 32-bit word updated in O(1) per operation taken or undone, mixed with the
 * register value) into an open-addressing table of typed arrays; a hash match is confirmed by
 * comparing the value and the record.
 */
import { assert } from '../../contracts/assert.js';
import type { Prng } from '../../contracts/prng.js';
import type { HistoryOperation } from './history.js';

/** The outcome of offering a state to the memo. */
export type CacheOutcome = 'added' | 'seen' | 'full';

/** Limits of the memo. */
export interface StateCacheLimits {
  readonly statesMaxPerKey: number;
  readonly cacheBytesMaxPerKey: number;
}

function grow<T extends Int32Array | Uint32Array>(array: T, length: number, make: (n: number) => T): T {
  if (array.length >= length) return array;
  const next = make(Math.max(length, array.length * 2));
  next.set(array);
  return next;
}

/** The explored states and the current one. */
export class StateCache {
  private readonly limits: StateCacheLimits;
  /** For each operation: its rank among ok operations (by invoke time) or among info ones. */
  private readonly rank: Int32Array;
  private readonly isInfo: Uint8Array;
  private readonly okBits: Uint32Array;
  private readonly infoBits: Uint32Array;
  private readonly zobrist: Int32Array;
  /** The Zobrist hash of the operations taken: the XOR of their random words. */
  private takenHash = 0;
  /** Invariant: the lowest ok rank not taken (every lower ok rank is taken). */
  private prefix = 0;
  /** Invariant: the highest ok rank taken, or -1. */
  private okMax = -1;
  /** Records: [p, window length, ...window words, ...info words], one per state. */
  private arena = new Uint32Array(1 << 12);
  private arenaUsed = 0;
  private offsets = new Int32Array(1 << 10);
  private values = new Int32Array(1 << 10);
  private hashes = new Uint32Array(1 << 10);
  /** Open addressing: state index + 1, or 0 for an empty slot. Invariant: at most half full. */
  private table = new Int32Array(1 << 11);
  /** The number of states stored. */
  size = 0;

  constructor(ops: readonly HistoryOperation[], prng: Prng, limits: StateCacheLimits) {
    this.limits = limits;
    this.isInfo = Uint8Array.from(ops, (op) => (op.status === 'ok' ? 0 : 1));
    this.rank = new Int32Array(ops.length);
    const byInvoke = ops.map((op, i) => ({ i, t: op.invokeMs })).sort((a, b) => a.t - b.t || a.i - b.i);
    let okCount = 0;
    let infoCount = 0;
    for (const { i } of byInvoke) this.rank[i] = this.isInfo[i] === 1 ? infoCount++ : okCount++;
    this.okBits = new Uint32Array(Math.ceil(okCount / 32) + 1);
    this.infoBits = new Uint32Array(Math.ceil(infoCount / 32));
    this.zobrist = Int32Array.from(ops, () => prng.nextUint32() | 0);
  }

  /** Why the memo is full, for the `unknown` verdict. */
  limitReason(): string {
    return this.size >= this.limits.statesMaxPerKey
      ? `statesMaxPerKey ${this.limits.statesMaxPerKey}`
      : `cacheBytesMaxPerKey ${this.limits.cacheBytesMaxPerKey}`;
  }

  /** Marks `op` taken and offers the state; when seen before or the memo is full, unmarks it. */
  addIfAbsent(op: number, value: number): CacheOutcome {
    this.toggle(op);
    const hash = (this.takenHash ^ Math.imul(value + 1, 0x9e3779b1)) >>> 0;
    const mask = this.table.length - 1;
    let slot = hash & mask;
    for (let s = this.table[slot] ?? 0; s !== 0; s = this.table[slot] ?? 0) {
      if (this.hashes[s - 1] === hash && this.values[s - 1] === value && this.sameAsCurrent(s - 1)) {
        this.toggle(op);
        return 'seen';
      }
      slot = (slot + 1) & mask;
    }
    const recordWords = this.recordWords();
    if (!this.reserve(recordWords)) {
      this.toggle(op);
      return 'full';
    }
    const index = this.size;
    this.writeRecord(this.arenaUsed);
    this.offsets[index] = this.arenaUsed;
    this.arenaUsed += recordWords;
    this.values[index] = value;
    this.hashes[index] = hash;
    this.size += 1;
    if (this.size * 2 > this.table.length) this.rehash();
    else this.table[slot] = index + 1;
    return 'added';
  }

  /** Unmarks `op` (the search undid it). */
  unmark(op: number): void {
    assert(this.isTaken(op), 'only a taken operation is undone');
    this.toggle(op);
  }

  private isTaken(op: number): boolean {
    const r = this.rank[op] ?? 0;
    const bits = this.isInfo[op] === 1 ? this.infoBits : this.okBits;
    return ((bits[r >>> 5] ?? 0) & (1 << (r & 31))) !== 0;
  }

  private toggle(op: number): void {
    const r = this.rank[op] ?? 0;
    this.takenHash ^= this.zobrist[op] ?? 0;
    if (this.isInfo[op] === 1) {
      this.infoBits[r >>> 5] = (this.infoBits[r >>> 5] ?? 0) ^ (1 << (r & 31));
      return;
    }
    const word = r >>> 5;
    const bit = 1 << (r & 31);
    const taking = ((this.okBits[word] ?? 0) & bit) === 0;
    this.okBits[word] = (this.okBits[word] ?? 0) ^ bit;
    if (taking) {
      this.okMax = Math.max(this.okMax, r);
      if (r === this.prefix) this.advancePrefix();
    } else {
      if (r < this.prefix) this.prefix = r;
      if (r === this.okMax) this.okMax = this.highestTakenBelow(r);
    }
  }

  private advancePrefix(): void {
    let p = this.prefix;
    while (((this.okBits[p >>> 5] ?? 0) & (1 << (p & 31))) !== 0)
      p += (p & 31) === 0 && this.okBits[p >>> 5] === 0xffffffff ? 32 : 1;
    this.prefix = p;
  }

  /** The highest ok rank taken below `r`, or -1. */
  private highestTakenBelow(r: number): number {
    let word = r >>> 5;
    // (1 << k) - 1 keeps the bits below k; for k = 31 it is 0x7fffffff once taken as int32.
    let bits = (this.okBits[word] ?? 0) & ((1 << (r & 31)) - 1);
    while (bits === 0) {
      word -= 1;
      if (word < 0) return -1;
      bits = this.okBits[word] ?? 0;
    }
    return word * 32 + 31 - Math.clz32(bits);
  }

  private windowStart(): number {
    return this.prefix >>> 5;
  }

  private windowLength(): number {
    return this.okMax >= this.prefix ? (this.okMax >>> 5) + 1 - this.windowStart() : 0;
  }

  private recordWords(): number {
    return 2 + this.windowLength() + this.infoBits.length;
  }

  private writeRecord(at: number): void {
    const start = this.windowStart();
    const length = this.windowLength();
    this.arena[at] = this.prefix;
    this.arena[at + 1] = length;
    this.arena.set(this.okBits.subarray(start, start + length), at + 2);
    this.arena.set(this.infoBits, at + 2 + length);
  }

  private sameAsCurrent(index: number): boolean {
    const at = this.offsets[index] ?? 0;
    const length = this.windowLength();
    if (this.arena[at] !== this.prefix || this.arena[at + 1] !== length) return false;
    const start = this.windowStart();
    for (let w = 0; w < length; w += 1) if (this.arena[at + 2 + w] !== this.okBits[start + w]) return false;
    const infoAt = at + 2 + length;
    for (let w = 0; w < this.infoBits.length; w += 1) if (this.arena[infoAt + w] !== this.infoBits[w]) return false;
    return true;
  }

  /** Makes room for one more state of `recordWords` words; false when a limit forbids it. */
  private reserve(recordWords: number): boolean {
    if (this.size >= this.limits.statesMaxPerKey) return false;
    const bytes = (this.arenaUsed + recordWords) * 4 + (this.size + 1) * 20;
    if (bytes > this.limits.cacheBytesMaxPerKey) return false;
    this.arena = grow(this.arena, this.arenaUsed + recordWords, (n) => new Uint32Array(n));
    this.offsets = grow(this.offsets, this.size + 1, (n) => new Int32Array(n));
    this.values = grow(this.values, this.size + 1, (n) => new Int32Array(n));
    this.hashes = grow(this.hashes, this.size + 1, (n) => new Uint32Array(n));
    return true;
  }

  /** Doubles the table and reinserts every state by its stored hash. */
  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2);
    const mask = this.table.length - 1;
    for (let i = 0; i < this.size; i += 1) {
      let slot = (this.hashes[i] ?? 0) & mask;
      while ((this.table[slot] ?? 0) !== 0) slot = (slot + 1) & mask;
      this.table[slot] = i + 1;
    }
  }
}
