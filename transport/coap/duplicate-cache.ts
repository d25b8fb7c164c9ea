/**
 * The server's duplicate detection (RFC 7252 §4.5): a bounded cache of recent confirmable
 * requests by (peer, message id), holding the encoded response once there is one, so that a
 * retransmitted request is answered from the cache instead of running its handler twice.
 *
 * An entry also records the request's token: a message id that comes back with another
 * token is a new request from a client whose 16-bit message ids wrapped around, not a
 * duplicate. Entries live for a fixed lifetime, so insertion order is expiry order and
 * expired entries are dropped from the front. When the cache is full the oldest entry is
 * evicted (and counted): a retransmission that arrives after its entry was evicted runs the
 * handler again, which Raft's RPCs tolerate (they are idempotent for a given term).
 *
 * The entries are kept in a ring of slots, oldest first, as columns of typed arrays, found through
 * a hash index of the slots (contracts/slot-index.ts) by a 16-byte key: the peer's number and the
 * message id. Every confirmable request makes an entry that lives until it expires or 8,192 later
 * ones push it out, a second at 8,000 requests/s, long enough to outlive the young generation:
 * held as an object in a Map per peer, each entry, its Map slot and every few thousand a new
 * Map table died old (heap sampling of a 64-client leader: 8.7 % of what its full collections
 * freed). A peer gets its number while it has entries (so a number is never another peer's
 * while an entry of the first remains); a replaced entry stays in the ring, dead, until it
 * reaches the front.
 *
 * The cached responses are bounded in bytes too (`bytesMax`), and each is a copy that owns
 * exactly its bytes: the server encodes a response into Node's shared 8 KiB Buffer pool, and a
 * cached view of it kept the whole pool slab alive; 8,192 remembered 20-byte answers held
 * 10.6 MiB of slabs after a load stopped (heap snapshot, issue 17), and 8,192 cached 4 KiB GET
 * answers would hold 32 MiB. The copy is a one-byte string (latin1: one character per byte): one
 * heap object of the response's size, where a Uint8Array copy is three (the view, its
 * ArrayBuffer and the bytes); a retransmission gets the bytes back in a buffer of their own. A
 * response that would pass the bound evicts the oldest entries; one larger than the whole bound
 * is not kept, and its request is forgotten (a retransmission of it runs the handler again, like
 * one whose entry was evicted).
 */
import { randomInt } from 'node:crypto';
import type { Clock } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import { SLOT_KEY_BYTES, SlotIndex } from '../../contracts/slot-index.js';
import { withoutKey } from '../../contracts/young-map.js';

/** Limits of the duplicate cache. */
export interface DuplicateCacheOptions {
  /** Most remembered requests. Default 8192; 1..1,000,000. */
  readonly entriesMax: number;
  /**
   * How long a request is remembered, in ms. Default 60,000; at most 247,000 (RFC 7252's
   * EXCHANGE_LIFETIME). It must exceed the longest deadline a client gives a request, since
   * a client retransmits only within that deadline.
   */
  readonly lifetimeMs: number;
  /** Most bytes of cached responses. Default 1 MiB; 1,024..1 GiB. */
  readonly bytesMax: number;
}

/** What the cache knows of a request. */
export type DuplicateStatus =
  | { readonly kind: 'new' }
  | { readonly kind: 'in-progress' }
  | { readonly kind: 'answered'; readonly response: Uint8Array };

const NEW: DuplicateStatus = { kind: 'new' };
const IN_PROGRESS: DuplicateStatus = { kind: 'in-progress' };

/** Slots of a new cache's ring (it doubles up to entriesMax as requests come). */
const RING_SLOTS_MIN = 64;

/** The peers that have entries, each under a small number while it has any (see the module comment). */
class PeerNumbers {
  private numbers = new Map<string, number>();
  private readonly keys: string[] = [];
  private readonly entries: number[] = [];
  private readonly free: number[] = [];

  /** The number of `peerKey`, or -1 when it has no entry. */
  find(peerKey: string): number {
    return this.numbers.get(peerKey) ?? -1;
  }

  /** The number of `peerKey`, counting one more entry of it. */
  acquire(peerKey: string): number {
    let n = this.numbers.get(peerKey);
    if (n === undefined) {
      n = this.free.pop() ?? this.keys.length;
      this.keys[n] = peerKey;
      this.entries[n] = 0;
      this.numbers.set(peerKey, n);
    }
    this.entries[n] = (this.entries[n] ?? 0) + 1;
    return n;
  }

  /** Counts one entry of peer `n` fewer; its number is free again once it has none. */
  release(n: number): void {
    const left = (this.entries[n] ?? 0) - 1;
    assert(left >= 0, 'a peer releases only entries it holds');
    this.entries[n] = left;
    if (left > 0) return;
    this.numbers = withoutKey(this.numbers, this.keys[n] ?? '');
    this.keys[n] = '';
    this.free.push(n);
  }

  clear(): void {
    this.numbers = new Map();
    this.keys.length = 0;
    this.entries.length = 0;
    this.free.length = 0;
  }
}

/** The entries' fields, a column each, indexed by slot. */
interface Columns {
  /** Each slot's key, SLOT_KEY_BYTES a slot: its peer's number (4 bytes), its message id (2 bytes), zeros. */
  readonly keys: Uint8Array;
  readonly peerOf: Int32Array;
  /** 1: a live entry; 0: dead (replaced or removed), or no entry. */
  readonly live: Uint8Array;
  /** The token (at most 8 bytes) as its length and two words, so that remembering it copies nothing: see tokenWord. */
  readonly tokenLength: Uint8Array;
  readonly tokenHigh: Int32Array;
  readonly tokenLow: Int32Array;
  readonly expiresAtMs: Float64Array;
  /** The encoded response as a latin1 string (see the module comment), once there is one. */
  readonly responses: (string | null)[];
}

function newColumns(slots: number): Columns {
  return {
    keys: new Uint8Array(slots * SLOT_KEY_BYTES),
    peerOf: new Int32Array(slots),
    live: new Uint8Array(slots),
    tokenLength: new Uint8Array(slots),
    tokenHigh: new Int32Array(slots),
    tokenLow: new Int32Array(slots),
    expiresAtMs: new Float64Array(slots),
    responses: new Array<string | null>(slots).fill(null),
  };
}

/** Copies the entry at slot `from` of `source` to slot `to` of `target`. */
function copyEntry(source: Columns, from: number, target: Columns, to: number): void {
  target.keys.set(source.keys.subarray(from * SLOT_KEY_BYTES, (from + 1) * SLOT_KEY_BYTES), to * SLOT_KEY_BYTES);
  target.peerOf[to] = source.peerOf[from] ?? 0;
  target.live[to] = source.live[from] ?? 0;
  target.tokenLength[to] = source.tokenLength[from] ?? 0;
  target.tokenHigh[to] = source.tokenHigh[from] ?? 0;
  target.tokenLow[to] = source.tokenLow[from] ?? 0;
  target.expiresAtMs[to] = source.expiresAtMs[from] ?? 0;
  target.responses[to] = source.responses[from] ?? null;
}

/** Bounded (peer, message id) → response cache. */
export class DuplicateCache {
  private readonly peers = new PeerNumbers();
  private readonly index: SlotIndex;
  /** Slots in the ring; doubles up to entriesMax. Invariant: used <= slots <= max(entriesMax, RING_SLOTS_MIN). */
  private slots: number;
  /** The slot of the oldest entry. */
  private head = 0;
  /** Entries in the ring, dead (replaced) ones included: slots head, head + 1, ... (mod slots). */
  private used = 0;
  /** Live entries. Invariant: count <= used <= entriesMax. */
  private count = 0;
  private c: Columns;
  /** The key looked up, reused. */
  private readonly probe = new Uint8Array(SLOT_KEY_BYTES);
  /** Bytes of the responses held by live entries. Invariant: responseBytes <= options.bytesMax. */
  private responseBytes = 0;
  private evictedCount = 0;

  constructor(
    private readonly options: DuplicateCacheOptions,
    private readonly clock: Clock,
  ) {
    assert(Number.isInteger(options.entriesMax) && options.entriesMax >= 1, 'duplicate cache holds at least one entry');
    assert(options.lifetimeMs > 0 && options.lifetimeMs <= 247_000, 'duplicate cache lifetime is in (0, 247000] ms');
    assert(Number.isInteger(options.bytesMax) && options.bytesMax >= 1, 'duplicate cache holds some bytes');
    this.slots = Math.min(options.entriesMax, RING_SLOTS_MIN);
    this.c = newColumns(this.slots);
    // The seed places keys in the index and nothing else (contracts/slot-index.ts).
    this.index = new SlotIndex(this.slots, randomInt(0, 2 ** 32));
  }

  /** Bytes of the cached responses. */
  get bytes(): number {
    return this.responseBytes;
  }

  /** How many entries were evicted before they expired, since the start. */
  get evictions(): number {
    return this.evictedCount;
  }

  /** How many requests are remembered. */
  get size(): number {
    return this.count;
  }

  /** Looks a confirmable request up; a new one is recorded as in progress. */
  check(peerKey: string, messageId: number, token: Uint8Array): DuplicateStatus {
    const nowMs = this.clock.nowMs();
    this.dropExpired(nowMs);
    const slot = this.find(peerKey, messageId);
    if (slot >= 0 && this.sameToken(slot, token)) {
      const response = this.c.responses[slot] ?? null;
      return response === null ? IN_PROGRESS : { kind: 'answered', response: bytesOf(response) };
    }
    if (slot >= 0) this.remove(slot);
    if (this.used === this.options.entriesMax) this.evictOldest();
    if (this.used === this.slots) this.resize(Math.min(this.options.entriesMax, this.slots * 2));
    this.add(peerKey, messageId, token, nowMs + this.options.lifetimeMs);
    return NEW;
  }

  /**
   * Records (a copy of) the encoded response to a request recorded by `check`, if it is still
   * remembered, evicting the oldest entries to keep within bytesMax; a response larger than
   * bytesMax forgets the request instead.
   */
  answer(peerKey: string, messageId: number, token: Uint8Array, response: Uint8Array): void {
    const slot = this.find(peerKey, messageId);
    if (slot < 0 || !this.sameToken(slot, token) || this.c.responses[slot] !== null) return;
    if (response.byteLength > this.options.bytesMax) {
      this.remove(slot);
      this.evictedCount += 1;
      return;
    }
    while (this.responseBytes + response.byteLength > this.options.bytesMax) this.evictOldest();
    // The entry may have been the oldest: record the response only if it is still remembered.
    if (this.c.live[slot] !== 1) return;
    this.c.responses[slot] = latin1Of(response);
    this.responseBytes += response.byteLength;
    assert(this.responseBytes <= this.options.bytesMax, 'cached responses stay within bytesMax');
  }

  /** Forgets everything (the server stopped). */
  clear(): void {
    for (let i = 0; i < this.used; i += 1) this.c.responses[this.slotAt(i)] = null;
    this.c.live.fill(0);
    this.index.reset(this.slots);
    this.peers.clear();
    this.head = 0;
    this.used = 0;
    this.count = 0;
    this.responseBytes = 0;
  }

  /** Checks the counts, the ring and the index; throws InvariantError on the first broken one. */
  checkInvariants(): void {
    assert(this.used <= this.options.entriesMax && this.used <= this.slots, 'the ring within its bounds');
    let live = 0;
    let bytes = 0;
    for (let i = 0; i < this.used; i += 1) {
      const slot = this.slotAt(i);
      if (this.c.live[slot] !== 1) continue;
      live += 1;
      bytes += this.c.responses[slot]?.length ?? 0;
      const key = this.c.keys.subarray(slot * SLOT_KEY_BYTES, (slot + 1) * SLOT_KEY_BYTES);
      assert(this.index.find(this.c.keys, key) === slot, 'the index finds each live entry at its slot');
    }
    assert(live === this.count && this.index.count() === live, 'the count and the index hold every live entry');
    assert(bytes === this.responseBytes, 'responseBytes counts the responses held');
  }

  /** The slot of the live entry of (peer, message id), or -1. */
  private find(peerKey: string, messageId: number): number {
    const peer = this.peers.find(peerKey);
    if (peer < 0) return -1;
    writeKey(this.probe, 0, peer, messageId);
    return this.index.find(this.c.keys, this.probe);
  }

  /** The slot of the i-th oldest entry. */
  private slotAt(i: number): number {
    return (this.head + i) % this.slots;
  }

  /** Adds a live entry as the newest; the caller made room in the ring. */
  private add(peerKey: string, messageId: number, token: Uint8Array, expiresAtMs: number): void {
    assert(this.used < this.slots && this.used < this.options.entriesMax, 'an entry is added to a ring with room');
    const slot = this.slotAt(this.used);
    const peer = this.peers.acquire(peerKey);
    writeKey(this.c.keys, slot * SLOT_KEY_BYTES, peer, messageId);
    this.c.peerOf[slot] = peer;
    this.c.live[slot] = 1;
    this.c.tokenLength[slot] = token.length;
    this.c.tokenHigh[slot] = tokenWord(token, 0);
    this.c.tokenLow[slot] = tokenWord(token, 4);
    this.c.expiresAtMs[slot] = expiresAtMs;
    this.c.responses[slot] = null;
    this.index.add(this.c.keys, slot);
    this.used += 1;
    this.count += 1;
  }

  /** Makes the live entry at `slot` dead: out of the index, its peer and bytes released; it stays in the ring. */
  private remove(slot: number): void {
    assert(this.c.live[slot] === 1, 'a removed entry is live');
    this.index.remove(this.c.keys, slot);
    this.peers.release(this.c.peerOf[slot] ?? -1);
    this.c.live[slot] = 0;
    this.responseBytes -= this.c.responses[slot]?.length ?? 0;
    this.c.responses[slot] = null;
    this.count -= 1;
    assert(this.count >= 0 && this.responseBytes >= 0, 'duplicate cache counts never negative');
  }

  /** Takes the oldest entry out of the ring; true when it was live. */
  private shift(): boolean {
    assert(this.used > 0, 'a ring with entries has an oldest');
    const slot = this.head;
    const wasLive = this.c.live[slot] === 1;
    if (wasLive) this.remove(slot);
    this.head = (this.head + 1) % this.slots;
    this.used -= 1;
    return wasLive;
  }

  private dropExpired(nowMs: number): void {
    while (this.used > 0 && (this.c.expiresAtMs[this.head] ?? 0) <= nowMs) this.shift();
  }

  private evictOldest(): void {
    if (this.used > 0 && this.shift()) this.evictedCount += 1;
  }

  /** Whether `token` is the token of the entry at `slot`. */
  private sameToken(slot: number, token: Uint8Array): boolean {
    return (
      this.c.tokenLength[slot] === token.length &&
      this.c.tokenHigh[slot] === tokenWord(token, 0) &&
      this.c.tokenLow[slot] === tokenWord(token, 4)
    );
  }

  /** Moves the entries, oldest first, into a ring of `slots` slots from slot 0, and indexes the live ones again. */
  private resize(slots: number): void {
    assert(slots >= this.used, 'a ring holds its entries');
    const next = newColumns(slots);
    for (let i = 0; i < this.used; i += 1) copyEntry(this.c, this.slotAt(i), next, i);
    this.c = next;
    this.slots = slots;
    this.head = 0;
    this.index.reset(slots);
    for (let slot = 0; slot < this.used; slot += 1) if (next.live[slot] === 1) this.index.add(next.keys, slot);
  }
}

/** Writes the key of (peer number, message id) at `at` of `into` (SLOT_KEY_BYTES; the rest zeros). */
function writeKey(into: Uint8Array, at: number, peer: number, messageId: number): void {
  into.fill(0, at, at + SLOT_KEY_BYTES);
  into[at] = peer & 0xff;
  into[at + 1] = (peer >>> 8) & 0xff;
  into[at + 2] = (peer >>> 16) & 0xff;
  into[at + 3] = peer >>> 24;
  into[at + 4] = messageId & 0xff;
  into[at + 5] = messageId >>> 8;
}

/** `bytes` as a string of one latin1 character per byte. */
function latin1Of(bytes: Uint8Array): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buffer.toString('latin1');
  assert(text.length === bytes.byteLength, 'a latin1 string has one character per byte');
  return text;
}

/** The bytes of a latin1Of string, in a buffer that owns exactly them. */
function bytesOf(text: string): Uint8Array {
  const bytes = Buffer.allocUnsafeSlow(text.length);
  bytes.write(text, 'latin1');
  return bytes;
}

/** Bytes start..start+3 of a token (zeros past its end) as one 32-bit integer; with the length, two name a token. */
function tokenWord(token: Uint8Array, start: number): number {
  assert(token.length <= 8, 'a coap token is at most 8 bytes');
  return (
    ((token[start] ?? 0) << 24) |
    ((token[start + 1] ?? 0) << 16) |
    ((token[start + 2] ?? 0) << 8) |
    (token[start + 3] ?? 0)
  );
}

/** Byte-wise equality of two short arrays (tokens are at most 8 bytes). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
