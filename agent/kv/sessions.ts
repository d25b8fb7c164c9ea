/**
 * Client sessions for exactly-once commands (Raft thesis §6.3; reference Property 19). For
 * each client the table keeps the highest sequence number applied and the encoded response
 * to it, so that a retry gets the same response without running again.
 *
 * Everything here is driven by the log so that every replica agrees: the clock is the state
 * machine's log clock (the largest command timestamp applied), recency is the order in which
 * commands were applied, and eviction picks the least recently used session. The Map's
 * insertion order is that recency order: a use deletes and re-inserts the session.
 */
import { assert } from '../core/assert.js';

/** What the table remembers of one client. */
export interface SessionRecord {
  /** The highest sequence number applied for this client. */
  readonly lastSeq: number;
  /** The log clock when the session was last used, ms. */
  readonly lastUsedMs: number;
  /** The encoded result of command `lastSeq`, returned again to a retry. */
  readonly response: Uint8Array;
}

/** A session with its client id, as listed in a snapshot. */
export interface SessionEntry extends SessionRecord {
  readonly clientId: string;
}

/** How many sessions one call removed. */
export interface SessionRemovals {
  readonly expired: number;
  readonly evicted: number;
}

/** The sessions of all clients, bounded in count and expiring by log time. */
export class SessionTable {
  private readonly countMax: number;
  private readonly ttlMs: number;
  /**
   * Invariants: size <= countMax; iteration order is least recently used first, so lastUsedMs
   * never decreases along it.
   */
  private readonly sessions = new Map<string, SessionRecord>();

  constructor(countMax: number, ttlMs: number) {
    assert(Number.isSafeInteger(countMax) && countMax >= 1, 'sessionCountMax is a positive integer');
    assert(Number.isSafeInteger(ttlMs) && ttlMs >= 1, 'sessionTtlMs is a positive integer');
    this.countMax = countMax;
    this.ttlMs = ttlMs;
  }

  /** The number of live sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** The session of `clientId`, or undefined. */
  lookup(clientId: string): SessionRecord | undefined {
    return this.sessions.get(clientId);
  }

  /**
   * Removes every session unused for at least ttlMs of log time as of `clockMs`. Sessions are in
   * recency order, so this stops at the first live one.
   */
  expire(clockMs: number): number {
    let expired = 0;
    for (const [clientId, record] of this.sessions) {
      if (clockMs - record.lastUsedMs < this.ttlMs) break;
      this.sessions.delete(clientId);
      expired += 1;
    }
    return expired;
  }

  /**
   * Records that `clientId` ran command `seq` at log time `clockMs` with `response`, making it
   * the most recently used session. Opening a session beyond countMax evicts the least recently
   * used one. Returns how many sessions were evicted (0 or 1).
   */
  record(clientId: string, seq: number, clockMs: number, response: Uint8Array): number {
    const previous = this.sessions.get(clientId);
    assert(previous === undefined || seq >= previous.lastSeq, 'session sequence numbers never decrease');
    assert(previous === undefined || clockMs >= previous.lastUsedMs, 'the log clock never goes back');
    let evicted = 0;
    if (previous === undefined && this.sessions.size >= this.countMax) {
      const oldest = this.sessions.keys().next();
      assert(oldest.done !== true, 'a full table has an oldest session');
      this.sessions.delete(oldest.value);
      evicted = 1;
    }
    this.sessions.delete(clientId);
    this.sessions.set(clientId, { lastSeq: seq, lastUsedMs: clockMs, response });
    assert(this.sessions.size <= this.countMax, 'session count within sessionCountMax');
    return evicted;
  }

  /** Every session, least recently used first. */
  list(): readonly SessionEntry[] {
    return [...this.sessions].map(([clientId, record]) => ({ clientId, ...record }));
  }

  /**
   * Replaces every session by `entries`, given least recently used first. Should a snapshot hold
   * more than countMax sessions (written under other options), only the most recent countMax are
   * kept.
   */
  load(entries: readonly SessionEntry[]): void {
    this.sessions.clear();
    for (const entry of entries.slice(Math.max(0, entries.length - this.countMax))) {
      this.sessions.set(entry.clientId, { lastSeq: entry.lastSeq, lastUsedMs: entry.lastUsedMs, response: entry.response });
    }
  }

  /** Checks the recency order and, at `clockMs`, that no session is used in the future. */
  checkInvariants(clockMs: number): void {
    let lastUsedMs = 0;
    for (const record of this.sessions.values()) {
      assert(record.lastUsedMs >= lastUsedMs, 'sessions are in recency order');
      assert(record.lastUsedMs <= clockMs, 'no session was used after the log clock');
      assert(record.lastSeq >= 1, 'sequence numbers are >= 1');
      lastUsedMs = record.lastUsedMs;
    }
  }
}
