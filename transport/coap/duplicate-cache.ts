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
 */
import type { Clock } from '../../agent/contracts.js';
import { assert } from '../assert.js';
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
}

/** What the cache knows of a request. */
export type DuplicateStatus =
  | { readonly kind: 'new' }
  | { readonly kind: 'in-progress' }
  | { readonly kind: 'answered'; readonly response: Uint8Array };

interface Entry {
  readonly key: string;
  readonly token: Uint8Array;
  readonly expiresAtMs: number;
  response: Uint8Array | null;
}

const NEW: DuplicateStatus = { kind: 'new' };
const IN_PROGRESS: DuplicateStatus = { kind: 'in-progress' };

/** Bounded (peer, message id) → response cache. */
export class DuplicateCache {
  private readonly entries = new Map<string, Entry>();
  /**
   * The entries in insertion (= expiry) order. It may still hold entries the map replaced;
   * they are skipped when they reach the front. Invariant: entries.size <= order.length.
   */
  private readonly order: RingBuffer<Entry>;
  private evictedCount = 0;

  constructor(
    private readonly options: DuplicateCacheOptions,
    private readonly clock: Clock,
  ) {
    assert(Number.isInteger(options.entriesMax) && options.entriesMax >= 1, 'duplicate cache holds at least one entry');
    assert(options.lifetimeMs > 0 && options.lifetimeMs <= 247_000, 'duplicate cache lifetime is in (0, 247000] ms');
    this.order = new RingBuffer<Entry>(options.entriesMax);
  }

  /** How many entries were evicted before they expired, since the start. */
  get evictions(): number {
    return this.evictedCount;
  }

  /** How many requests are remembered. */
  get size(): number {
    return this.entries.size;
  }

  /** Looks a confirmable request up; a new one is recorded as in progress. */
  check(peerKey: string, messageId: number, token: Uint8Array): DuplicateStatus {
    const key = `${peerKey}#${messageId}`;
    const nowMs = this.clock.nowMs();
    this.dropExpired(nowMs);
    const entry = this.entries.get(key);
    if (entry !== undefined && sameBytes(entry.token, token)) {
      return entry.response === null ? IN_PROGRESS : { kind: 'answered', response: entry.response };
    }
    if (entry !== undefined) this.entries.delete(key);
    if (this.order.isFull()) this.evictOldest();
    const fresh: Entry = { key, token: Uint8Array.from(token), expiresAtMs: nowMs + this.options.lifetimeMs, response: null };
    this.entries.set(key, fresh);
    this.order.push(fresh);
    assert(this.entries.size <= this.order.length, 'every remembered request is in the expiry order');
    return NEW;
  }

  /** Records the encoded response to a request recorded by `check`, if it is still remembered. */
  answer(peerKey: string, messageId: number, token: Uint8Array, response: Uint8Array): void {
    const entry = this.entries.get(`${peerKey}#${messageId}`);
    if (entry !== undefined && sameBytes(entry.token, token)) entry.response = response;
  }

  /** Forgets everything (the server stopped). */
  clear(): void {
    this.entries.clear();
    this.order.clear();
  }

  private dropExpired(nowMs: number): void {
    for (let oldest = this.order.peek(); oldest !== undefined && oldest.expiresAtMs <= nowMs; oldest = this.order.peek()) {
      this.forget(oldest);
    }
  }

  private evictOldest(): void {
    const oldest = this.order.peek();
    if (oldest === undefined) return;
    if (this.entries.get(oldest.key) === oldest) this.evictedCount += 1;
    this.forget(oldest);
  }

  /** Drops the front of the order, and its map entry unless a newer request replaced it. */
  private forget(oldest: Entry): void {
    this.order.shift();
    if (this.entries.get(oldest.key) === oldest) this.entries.delete(oldest.key);
  }
}

/** Byte-wise equality of two short arrays (tokens are at most 8 bytes). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
