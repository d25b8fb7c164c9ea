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
 * The cached responses are bounded in bytes too (`bytesMax`), and each is a copy that owns
 * exactly its bytes: the server encodes a response into Node's shared 8 KiB Buffer pool, and a
 * cached view of it kept the whole pool slab alive; 8,192 remembered 20-byte answers held
 * 10.6 MiB of slabs after a load stopped (heap snapshot, issue 17), and 8,192 cached 4 KiB GET
 * answers would hold 32 MiB. The copy is a one-byte string (latin1: one character per byte): one
 * heap object of the response's size, where a Uint8Array copy is three (the view, its
 * ArrayBuffer and the bytes) and about 250 bytes for a 50-byte answer, made for every
 * confirmable request; a retransmission gets the bytes back in a buffer of their own. A
 * response that would pass the bound evicts the oldest entries; one larger than the whole bound
 * is not kept, and its request is forgotten (a retransmission of it runs the handler again, like
 * one whose entry was evicted).
 */
import type { Clock } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import { RingBuffer } from '../ring-buffer.js';

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

interface Entry {
  readonly peerKey: string;
  readonly messageId: number;
  /** The token (at most 8 bytes) as numbers, so that remembering it copies nothing: see tokenWord. */
  readonly tokenLength: number;
  readonly tokenHigh: number;
  readonly tokenLow: number;
  readonly expiresAtMs: number;
  /** The encoded response as a latin1 string (see the module comment), once there is one. */
  response: string | null;
}

const NEW: DuplicateStatus = { kind: 'new' };
const IN_PROGRESS: DuplicateStatus = { kind: 'in-progress' };

/** Bounded (peer, message id) → response cache. */
export class DuplicateCache {
  /** Peer → message id → entry: numeric inner keys keep the per-request lookups cheap. */
  private readonly peers = new Map<string, Map<number, Entry>>();
  /**
   * The entries in insertion (= expiry) order. It may still hold entries the maps replaced;
   * they are skipped when they reach the front. Invariant: count <= order.length.
   */
  private readonly order: RingBuffer<Entry>;
  private count = 0;
  /** Bytes of the responses held by remembered entries. Invariant: responseBytes <= options.bytesMax. */
  private responseBytes = 0;
  private evictedCount = 0;

  constructor(
    private readonly options: DuplicateCacheOptions,
    private readonly clock: Clock,
  ) {
    assert(Number.isInteger(options.entriesMax) && options.entriesMax >= 1, 'duplicate cache holds at least one entry');
    assert(options.lifetimeMs > 0 && options.lifetimeMs <= 247_000, 'duplicate cache lifetime is in (0, 247000] ms');
    assert(Number.isInteger(options.bytesMax) && options.bytesMax >= 1, 'duplicate cache holds some bytes');
    this.order = new RingBuffer<Entry>(options.entriesMax);
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
    const entry = this.peers.get(peerKey)?.get(messageId);
    if (entry !== undefined && sameToken(entry, token)) {
      return entry.response === null ? IN_PROGRESS : { kind: 'answered', response: bytesOf(entry.response) };
    }
    if (entry !== undefined) this.remove(entry);
    if (this.order.isFull()) this.evictOldest();
    const fresh: Entry = {
      peerKey,
      messageId,
      tokenLength: token.length,
      tokenHigh: tokenWord(token, 0),
      tokenLow: tokenWord(token, 4),
      expiresAtMs: nowMs + this.options.lifetimeMs,
      response: null,
    };
    let inner = this.peers.get(peerKey);
    if (inner === undefined) {
      inner = new Map();
      this.peers.set(peerKey, inner);
    }
    inner.set(messageId, fresh);
    this.count += 1;
    this.order.push(fresh);
    assert(this.count <= this.order.length, 'every remembered request is in the expiry order');
    return NEW;
  }

  /**
   * Records (a copy of) the encoded response to a request recorded by `check`, if it is still
   * remembered, evicting the oldest entries to keep within bytesMax; a response larger than
   * bytesMax forgets the request instead.
   */
  answer(peerKey: string, messageId: number, token: Uint8Array, response: Uint8Array): void {
    const entry = this.peers.get(peerKey)?.get(messageId);
    if (entry === undefined || !sameToken(entry, token) || entry.response !== null) return;
    if (response.byteLength > this.options.bytesMax) {
      if (this.remove(entry)) this.evictedCount += 1;
      return;
    }
    while (this.responseBytes + response.byteLength > this.options.bytesMax) this.evictOldest();
    // The entry may have been the oldest: record the response only if it is still remembered.
    if (this.peers.get(peerKey)?.get(messageId) !== entry) return;
    entry.response = latin1Of(response);
    this.responseBytes += response.byteLength;
    assert(this.responseBytes <= this.options.bytesMax, 'cached responses stay within bytesMax');
  }

  /** Forgets everything (the server stopped). */
  clear(): void {
    this.peers.clear();
    this.order.clear();
    this.count = 0;
    this.responseBytes = 0;
  }

  private dropExpired(nowMs: number): void {
    for (
      let oldest = this.order.peek();
      oldest !== undefined && oldest.expiresAtMs <= nowMs;
      oldest = this.order.peek()
    ) {
      this.order.shift();
      this.remove(oldest);
    }
  }

  private evictOldest(): void {
    const oldest = this.order.shift();
    if (oldest !== undefined && this.remove(oldest)) this.evictedCount += 1;
  }

  /** Removes `entry` from the maps unless a newer request replaced it; true when it was there. */
  private remove(entry: Entry): boolean {
    const inner = this.peers.get(entry.peerKey);
    if (inner?.get(entry.messageId) !== entry) return false;
    inner.delete(entry.messageId);
    if (inner.size === 0) this.peers.delete(entry.peerKey);
    this.count -= 1;
    if (entry.response !== null) this.responseBytes -= entry.response.length;
    entry.response = null;
    assert(this.count >= 0, 'duplicate cache count never negative');
    assert(this.responseBytes >= 0, 'duplicate cache bytes never negative');
    return true;
  }
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

/** Whether `token` is the token `entry` remembers. */
function sameToken(entry: Entry, token: Uint8Array): boolean {
  return (
    entry.tokenLength === token.length &&
    entry.tokenHigh === tokenWord(token, 0) &&
    entry.tokenLow === tokenWord(token, 4)
  );
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
