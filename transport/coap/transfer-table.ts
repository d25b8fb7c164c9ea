/**
 * The bookkeeping shared by the server's two block-wise stores (block-store.ts): transfers by
 * key, how many each peer runs, the bytes they hold, and their expiry. Expired transfers are
 * swept by a timer that runs only while the table holds something, so an abandoned transfer
 * releases its memory even when no further block-wise request ever arrives.
 *
 * "Bytes held" is what the owner says a transfer really keeps alive (the byteLength of the
 * buffers it owns); the table never estimates.
 *
 * A full table does not simply refuse (`admit`): it first evicts a transfer that has been idle for
 * EVICTABLE_IDLE_MS, taken from the peer that holds the most transfers (the oldest idle one of
 * that peer), when that peer holds more than the newcomer, or is the newcomer itself. Otherwise
 * 64 abandoned first blocks from 64 source ports held every slot for a whole lifetime and every
 * other client got 5.03; now a client that stops sending gives its slots up to those that come
 * after it, while a transfer that goes on (a block at least every EVICTABLE_IDLE_MS) is never
 * evicted, and a peer never takes a slot from one that holds fewer than itself.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';

/** The limits one table enforces. */
export interface TransferTableLimits {
  /** Most transfers at once. */
  readonly transfersMax: number;
  /** Most transfers of one peer at once (transfersMax bounds it too). */
  readonly transfersPerPeerMax: number;
  /** Most bytes held across all transfers. */
  readonly totalBytesMax: number;
  /** How long an idle transfer is kept, in ms. */
  readonly lifetimeMs: number;
}

/** The option that refused a transfer, by its name in CoapServerOptions. */
export type TransferLimitName = 'blockTransfersMax' | 'blockTransfersPerPeerMax' | 'blockBytesTotalMax';

/**
 * How long a transfer must have gone without a block before a newcomer may evict it: longer than
 * a client's first retransmission (ACK_TIMEOUT × ACK_RANDOM_FACTOR, 3 s, RFC 7252 §4.8), so a
 * client that lost one block and sends it again keeps its transfer. Half the lifetime when that is shorter.
 */
export const EVICTABLE_IDLE_MS = 4_000;

/** What the table needs of an entry. */
export interface TransferEntry {
  readonly peerKey: string;
  /** Bytes this entry keeps alive; changed only through `TransferTable.resize`. */
  heldBytes: number;
  expiresAtMs: number;
}

/** Transfers by key within limits; see the module comment. */
export class TransferTable<T extends TransferEntry> {
  private readonly entries = new Map<string, T>();
  private readonly perPeer = new Map<string, number>();
  // Invariant: heldBytes is the sum of every entry's heldBytes, and at most totalBytesMax.
  private heldBytes = 0;
  private sweepTimer: TimerHandle | null = null;

  /** `onEvict` is told of every transfer `admit` evicts. */
  constructor(
    private readonly limits: TransferTableLimits,
    private readonly timers: Timers,
    private readonly onEvict: () => void = () => undefined,
  ) {
    assert(limits.transfersPerPeerMax >= 1, 'a peer may run a transfer');
    assert(limits.lifetimeMs > 0, 'transfers expire');
  }

  /** Transfers held. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes held, as counted against totalBytesMax. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Every entry (for inspection). */
  values(): IterableIterator<T> {
    return this.entries.values();
  }

  /** The live entry under `key`; an expired one is dropped and undefined returned. */
  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs > this.timers.nowMs()) return entry;
    this.delete(key);
    return undefined;
  }

  /** The limit that refuses a new transfer of `peerKey` holding `bytes`, or null when it fits. */
  refusalOf(peerKey: string, bytes: number): TransferLimitName | null {
    if (this.entries.size >= this.limits.transfersMax) return 'blockTransfersMax';
    if ((this.perPeer.get(peerKey) ?? 0) >= this.limits.transfersPerPeerMax) return 'blockTransfersPerPeerMax';
    if (this.heldBytes + bytes > this.limits.totalBytesMax) return 'blockBytesTotalMax';
    return null;
  }

  /**
   * Like `refusalOf`, but first evicts idle transfers, as the module comment says, while one
   * would make room: null when a transfer of `peerKey` holding `bytes` now fits.
   */
  admit(peerKey: string, bytes: number): TransferLimitName | null {
    for (;;) {
      const limit = this.refusalOf(peerKey, bytes);
      if (limit === null) return null;
      const victim = this.evictable(peerKey, limit === 'blockTransfersPerPeerMax');
      if (victim === null) return limit;
      this.delete(victim);
      this.onEvict();
    }
  }

  /** Adds `entry` under a key that is free; the caller checked `refusalOf` first. */
  add(key: string, entry: T): void {
    assert(!this.entries.has(key), 'a transfer key is added once');
    assert(this.refusalOf(entry.peerKey, entry.heldBytes) === null, 'a transfer is added within the limits');
    this.entries.set(key, entry);
    this.perPeer.set(entry.peerKey, (this.perPeer.get(entry.peerKey) ?? 0) + 1);
    this.heldBytes += entry.heldBytes;
    this.armSweep();
  }

  /** Whether `entry` may grow (or shrink) to hold `bytes` within totalBytesMax. */
  canResize(entry: T, bytes: number): boolean {
    return this.heldBytes - entry.heldBytes + bytes <= this.limits.totalBytesMax;
  }

  /** Records that `entry` now holds `bytes`; the caller checked `canResize` first. */
  resize(entry: T, bytes: number): void {
    assert(this.canResize(entry, bytes), 'a transfer grows within the total bound');
    this.heldBytes += bytes - entry.heldBytes;
    entry.heldBytes = bytes;
  }

  /** Forgets the transfer under `key`, if any. */
  delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.heldBytes -= entry.heldBytes;
    const count = (this.perPeer.get(entry.peerKey) ?? 0) - 1;
    if (count <= 0) this.perPeer.delete(entry.peerKey);
    else this.perPeer.set(entry.peerKey, count);
    assert(this.heldBytes >= 0, 'held bytes never negative');
    assert(count >= 0, 'a peer transfer count never negative');
  }

  /** Forgets everything and stops the sweep timer. */
  clear(): void {
    this.entries.clear();
    this.perPeer.clear();
    this.heldBytes = 0;
    this.sweepTimer?.cancel();
    this.sweepTimer = null;
  }

  /**
   * The key of the transfer to evict for a newcomer of `peerKey` (only among its own when
   * `ownOnly`): idle for EVICTABLE_IDLE_MS, of the peer holding the most transfers, the oldest
   * idle of those; a peer holding no more than the newcomer is never chosen. Null when none is.
   */
  private evictable(peerKey: string, ownOnly: boolean): string | null {
    const idleMs = Math.min(EVICTABLE_IDLE_MS, this.limits.lifetimeMs / 2);
    // An entry's last block came at expiresAtMs - lifetimeMs: idle long enough when that is at most now - idleMs.
    const latestExpiry = this.timers.nowMs() - idleMs + this.limits.lifetimeMs;
    const own = this.perPeer.get(peerKey) ?? 0;
    let best: { key: string; count: number; expiresAtMs: number } | null = null;
    for (const [key, entry] of this.entries) {
      if (entry.expiresAtMs > latestExpiry) continue;
      const mine = entry.peerKey === peerKey;
      if (ownOnly && !mine) continue;
      const count = this.perPeer.get(entry.peerKey) ?? 0;
      if (!mine && count <= own) continue;
      if (best === null || count > best.count || (count === best.count && entry.expiresAtMs < best.expiresAtMs))
        best = { key, count, expiresAtMs: entry.expiresAtMs };
    }
    return best?.key ?? null;
  }

  /** Sweeps every quarter lifetime while anything is held: an idle transfer lives at most 1.25 lifetimes. */
  private armSweep(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = this.timers.setTimer(this.limits.lifetimeMs / 4, () => {
      this.sweepTimer = null;
      const nowMs = this.timers.nowMs();
      for (const [key, entry] of this.entries) if (entry.expiresAtMs <= nowMs) this.delete(key);
      if (this.entries.size > 0) this.armSweep();
    });
  }
}
