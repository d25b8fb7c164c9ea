/**
 * The established sessions of a DTLS server, found by peer address and port, by connection ID
 * (RFC 9146), by the address a session moved from, and by PSK identity; and the choice of the
 * session that makes room for a new one.
 *
 * Sessions are capped in total (sessionsMax) and per identity (sessionsPerIdentityMax). A new
 * session never waits and is never refused for room: it replaces the least recently used
 * session of its own identity once that identity holds its share, and when every slot is taken
 * the least recently used session of the identity holding the most. Each pair of members has
 * its own key, so the holder of one key can fill at most its own share, and can never keep
 * another identity out (SECURITY.md, "Limits and known gaps").
 */
import { assert } from '../../contracts/assert.js';
import { peerKey } from './endpoint-common.js';
import type { ServerHandshake } from './handshake-server.js';
import type { Session } from './session.js';

/** An established session with what the server remembers of its handshake. */
export interface Entry {
  readonly session: Session;
  readonly role: ServerHandshake;
  /** The random of the ClientHello that started it: a repeat of that hello is a retransmission. */
  readonly clientRandom: Uint8Array;
}

/** Why a session was chosen to make room (a metric label). */
export type SessionEvictionReason = 'identity' | 'total';

/** The session to close so that a new one fits, and which limit it makes room under. */
export interface SessionEviction {
  readonly session: Session;
  readonly reason: SessionEvictionReason;
}

/** The caps of {@link EstablishedSessions} (DtlsServerOptions.sessionsMax, .sessionsPerIdentityMax). */
export interface SessionLimits {
  readonly sessionsMax: number;
  readonly sessionsPerIdentityMax: number;
}

/** The established sessions of one server; see the module comment. */
export class EstablishedSessions {
  // Invariant: a session is here only while established; byKey is keyed by peerKey(address, port)
  // of its current address.
  private readonly byKey = new Map<string, Entry>();
  // Invariant: byCid holds exactly the sessions of byKey that have a read CID, by its hex.
  private readonly byCid = new Map<string, Entry>();
  // Invariant: movedFrom maps the previous address of a moved, live session to it (one per
  // session, recorded in aliasOf), so that a reply addressed before the move still reaches it.
  private readonly movedFrom = new Map<string, Entry>();
  private readonly aliasOf = new Map<Session, string>();
  // Invariant: byIdentity holds exactly the sessions of byKey, by identity; no set is empty.
  private readonly byIdentity = new Map<string, Set<Session>>();

  constructor(private readonly limits: SessionLimits) {
    assert(limits.sessionsMax >= 1, 'sessionsMax is at least 1');
    assert(limits.sessionsPerIdentityMax >= 1, 'sessionsPerIdentityMax is at least 1');
  }

  /** Established sessions now. */
  get size(): number {
    return this.byKey.size;
  }

  /** The session with `key`, if any. */
  get(key: string): Entry | undefined {
    return this.byKey.get(key);
  }

  /** The session with `key`, or the one that moved from there. */
  to(key: string): Entry | undefined {
    return this.byKey.get(key) ?? this.movedFrom.get(key);
  }

  /** The session whose read connection ID is `cid`, if any. */
  withCid(cid: Uint8Array): Entry | undefined {
    return this.byCid.get(cidKey(cid));
  }

  /** A copy of the sessions (closing one changes the table). */
  sessions(): Session[] {
    return [...this.byKey.values()].map((e) => e.session);
  }

  /**
   * The session to close before one more of `identity` fits, or null when it fits: the least
   * recently used of its own once it holds sessionsPerIdentityMax; when all sessionsMax are
   * taken, the least recently used of the identity holding the most (its own on a tie).
   */
  evictionFor(identity: string): SessionEviction | null {
    const own = this.byIdentity.get(identity);
    if (own !== undefined && own.size >= this.limits.sessionsPerIdentityMax)
      return { session: leastRecentlyUsed(own), reason: 'identity' };
    if (this.byKey.size < this.limits.sessionsMax) return null;
    let most = own;
    for (const sessions of this.byIdentity.values()) if (sessions.size > (most?.size ?? 0)) most = sessions;
    assert(most !== undefined, 'a full table holds some identity');
    return { session: leastRecentlyUsed(most), reason: 'total' };
  }

  /** Records an established session at `key`, which must be free (its old session ended first). */
  add(key: string, entry: Entry): void {
    const identity = entry.session.identity;
    assert(identity !== null, 'an established session has an identity');
    assert(!this.byKey.has(key), 'a session is added at a free key');
    assert(this.byKey.size < this.limits.sessionsMax, 'a session is added within sessionsMax');
    this.byKey.set(key, entry);
    const cid = entry.session.records.connectionIds().read;
    if (cid !== null) this.byCid.set(cidKey(cid), entry);
    const own = this.byIdentity.get(identity) ?? new Set<Session>();
    own.add(entry.session);
    this.byIdentity.set(identity, own);
    assert(own.size <= this.limits.sessionsPerIdentityMax, 'a session is added within its identity share');
  }

  /**
   * Records that `session` moved from `from` to its current address; returns the session that
   * was established at the new address (stale now: that address belongs to this peer), if any,
   * for the caller to end.
   */
  move(session: Session, from: { readonly address: string; readonly port: number }): Session | undefined {
    const oldKey = peerKey(from.address, from.port);
    const entry = this.byKey.get(oldKey);
    assert(entry !== undefined && entry.session === session, 'a session that moves is established');
    this.byKey.delete(oldKey);
    const newKey = peerKey(session.address, session.port);
    const stale = this.byKey.get(newKey)?.session;
    this.byKey.set(newKey, entry);
    const previousAlias = this.aliasOf.get(session);
    if (previousAlias !== undefined) this.movedFrom.delete(previousAlias);
    this.movedFrom.set(oldKey, entry);
    this.aliasOf.set(session, oldKey);
    return stale;
  }

  /** Forgets `session` (it ended) in every index; a session that is not here changes nothing. */
  remove(session: Session): void {
    const key = peerKey(session.address, session.port);
    if (this.byKey.get(key)?.session === session) this.byKey.delete(key);
    const cid = session.records.connectionIds().read;
    if (cid !== null && this.byCid.get(cidKey(cid))?.session === session) this.byCid.delete(cidKey(cid));
    const own = session.identity === null ? undefined : this.byIdentity.get(session.identity);
    if (own?.delete(session) === true && own.size === 0 && session.identity !== null)
      this.byIdentity.delete(session.identity);
    const alias = this.aliasOf.get(session);
    if (alias === undefined) return;
    this.aliasOf.delete(session);
    if (this.movedFrom.get(alias)?.session === session) this.movedFrom.delete(alias);
  }

  /** Checks that the indexes agree; throws InvariantError on a bug. */
  checkInvariants(): void {
    let indexed = 0;
    for (const own of this.byIdentity.values()) {
      assert(own.size > 0, 'no identity is kept without a session');
      assert(own.size <= this.limits.sessionsPerIdentityMax, 'no identity holds more than its share');
      indexed += own.size;
    }
    assert(indexed === this.byKey.size, 'every session is indexed by its identity once');
    for (const entry of [...this.byCid.values(), ...this.movedFrom.values()]) {
      const { address, port } = entry.session;
      assert(this.byKey.get(peerKey(address, port)) === entry, 'every indexed session is established');
    }
    assert(this.byKey.size <= this.limits.sessionsMax, 'no more than sessionsMax sessions');
  }
}

/** The session of `sessions` that received least recently (the first of them on a tie). */
function leastRecentlyUsed(sessions: ReadonlySet<Session>): Session {
  let oldest: Session | undefined;
  for (const session of sessions)
    if (oldest === undefined || session.lastReceivedMs < oldest.lastReceivedMs) oldest = session;
  assert(oldest !== undefined, 'an identity in the table has a session');
  return oldest;
}

/** The map key of a connection ID. */
function cidKey(cid: Uint8Array): string {
  return Buffer.from(cid.buffer, cid.byteOffset, cid.byteLength).toString('hex');
}
