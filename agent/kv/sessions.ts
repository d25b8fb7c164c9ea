/**
 * Client sessions for exactly-once commands (Raft thesis §6.3; reference Property 19). A
 * command of a session carries its sequence number `seq` and the client's watermark
 * `ackedBelow`: every sequence below it is finished for the client (answered, or abandoned
 * and never to be sent again), so the state machine no longer needs their responses. Several
 * commands of one client may be outstanding at once (the local endpoint's implicit session
 * carries all its concurrent writes); an explicit client with one command outstanding sends
 * `ackedBelow = seq`.
 *
 * Per session the table keeps a floor (the largest watermark applied) and the responses of the
 * sequences applied at or above it. A command is then decided without ever running twice:
 * - below the floor: refused as stale (it may have run before; it is not run now);
 * - a sequence whose response is kept: that response again, byte for byte (a duplicate);
 * - otherwise: run once, and its response kept.
 * An unknown session (never seen, expired or evicted) opens only for a command whose watermark
 * is 1, i.e. one sent before the client finished anything; any other is refused as expired,
 * since it may be the retry of a command whose record is gone.
 *
 * Every limit refuses rather than forgets: past `responsesMax` responses in one session the
 * lowest is dropped and the floor raised above it (a retry of it is then refused, never run
 * again); past `countMax` sessions or `bytesMax` kept bytes the least recently used sessions
 * are evicted (their retries are then refused as expired).
 *
 * Everything is driven by the log so that every replica agrees: the clock is the state
 * machine's log clock (the largest command timestamp applied), recency is the order in which
 * commands were applied. The Map's insertion order is that recency order: a use deletes and
 * re-inserts the session.
 */
import { Buffer } from 'node:buffer';
import { assert } from '../../contracts/assert.js';
import { PutAnswer } from './put-result.js';
import type { KvOptions } from './options.js';

/** The kv options that size the session table. */
type KvSessionOptions = Pick<KvOptions, 'sessionCountMax' | 'sessionTtlMs' | 'sessionResponsesMax' | 'sessionBytesMax'>;

/** Limits of the session table; see KvOptions for units, defaults and ranges. */
export interface SessionLimits {
  /** Most sessions (sessionCountMax). */
  readonly countMax: number;
  /** Log time after which an unused session expires, ms (sessionTtlMs). */
  readonly ttlMs: number;
  /** Most responses kept per session (sessionResponsesMax). */
  readonly responsesMax: number;
  /** Most response bytes kept over all sessions (sessionBytesMax). */
  readonly bytesMax: number;
}

/** A response kept for a retry: the sequence it answers and its encoded result. */
export interface RetainedResponse {
  readonly seq: number;
  readonly response: Uint8Array;
}

/** A session with its client id, as listed in a snapshot. */
export interface SessionEntry {
  readonly clientId: string;
  /** Every sequence below it is finished: refused if it comes again. >= 1. */
  readonly floor: number;
  /** The log clock when the session was last used, ms. */
  readonly lastUsedMs: number;
  /** The responses kept, by increasing sequence, every one >= floor. */
  readonly responses: readonly RetainedResponse[];
}

/** What the table decided for one command. */
export type SessionOutcome =
  /** The command ran now (once); `response` is what it returned. */
  | { readonly kind: 'ran'; readonly response: Uint8Array; readonly evicted: number }
  /** The command ran before; `response` is the response kept from then. */
  | { readonly kind: 'duplicate'; readonly response: Uint8Array }
  /** The sequence is below the session's floor: not run. */
  | { readonly kind: 'stale'; readonly floor: number }
  /** The session is unknown and the watermark above 1: not run. */
  | { readonly kind: 'expired' };

/** What running a command gave: the response to return now and the one to keep for retries. */
export interface RunResult {
  readonly response: Uint8Array;
  /** Its bytes, or a put's answer not encoded yet (no one waited for it: put-result.ts), which encodes to them. */
  readonly retained: Uint8Array | PutAnswer;
}

/** A response the table keeps: a RetainedResponse whose bytes may not be encoded yet. */
interface Kept {
  readonly seq: number;
  readonly response: Uint8Array | PutAnswer;
}

/** The bytes of a kept response (encoded now if they were not). */
function bytesOf(response: Uint8Array | PutAnswer): Uint8Array {
  return response instanceof PutAnswer ? response.bytes() : response;
}

/** One session, mutable inside the table only. */
interface Session {
  /** Invariant: >= 1; every retained seq >= floor; never decreases. */
  floor: number;
  /** Invariant: never decreases; <= the log clock. */
  lastUsedMs: number;
  /** Invariant: sorted by seq, no duplicates, length <= responsesMax. */
  readonly retained: Kept[];
  /** Invariant: the sum of retained response lengths. */
  bytes: number;
}

/** The sessions of all clients, bounded in count, responses and bytes, expiring by log time. */
export class SessionTable {
  /** The table the kv options size: sessionCountMax, sessionTtlMs, sessionResponsesMax and sessionBytesMax. */
  static sizedBy(options: KvSessionOptions): SessionTable {
    const { sessionCountMax, sessionTtlMs, sessionResponsesMax, sessionBytesMax } = options;
    return new SessionTable({
      countMax: sessionCountMax,
      ttlMs: sessionTtlMs,
      responsesMax: sessionResponsesMax,
      bytesMax: sessionBytesMax,
    });
  }

  private readonly limits: SessionLimits;
  /** Invariants: size <= countMax; iteration order is least recently used first. */
  private readonly sessions = new Map<string, Session>();
  /** Invariant: the sum of every session's bytes; <= bytesMax after every call. */
  private bytesTotal = 0;
  /**
   * Invariant: the last key of `sessions` (the most recently used), or null when unknown. A use of
   * that session again needs no move: a delete and re-insert of a Map's only or last key made V8
   * rebuild the Map's table on every apply (2 % of a follower's allocation per write).
   */
  private newestId: string | null = null;
  /**
   * Invariant: no session expires before this log time (every lastUsedMs + ttlMs >= it), so expire() looks at
   * the sessions only from then on: iterating a Map allocates an iterator and an entry per step, on every apply.
   */
  private expiryCheckMs = 0;

  constructor(limits: SessionLimits) {
    assert(Number.isSafeInteger(limits.countMax) && limits.countMax >= 1, 'sessionCountMax is a positive integer');
    assert(Number.isSafeInteger(limits.ttlMs) && limits.ttlMs >= 1, 'sessionTtlMs is a positive integer');
    assert(
      Number.isSafeInteger(limits.responsesMax) && limits.responsesMax >= 1,
      'sessionResponsesMax is a positive integer',
    );
    assert(Number.isSafeInteger(limits.bytesMax) && limits.bytesMax >= 1, 'sessionBytesMax is a positive integer');
    this.limits = limits;
  }

  /** The number of live sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** The response bytes kept over all sessions. */
  get bytes(): number {
    return this.bytesTotal;
  }

  /** The session of `clientId` as a snapshot lists it, or undefined. */
  lookup(clientId: string): SessionEntry | undefined {
    const session = this.sessions.get(clientId);
    return session === undefined ? undefined : entryOf(clientId, session);
  }

  /** The response kept for `seq` of `clientId`, or undefined when none is (any more). */
  responseOf(clientId: string, seq: number): Uint8Array | undefined {
    const retained = this.sessions.get(clientId)?.retained;
    if (retained === undefined) return undefined;
    const found = retained[searchSeq(retained, seq)];
    return found !== undefined && found.seq === seq ? bytesOf(found.response) : undefined;
  }

  /**
   * Removes every session unused for at least ttlMs of log time as of `clockMs`. Sessions are in
   * recency order, so this stops at the first live one. Returns how many it removed.
   */
  expire(clockMs: number): number {
    if (clockMs < this.expiryCheckMs) return 0;
    let expired = 0;
    // A session used later than the oldest, or opened later (at a clock >= now), expires no sooner than this.
    let checkMs = clockMs + this.limits.ttlMs;
    for (const [clientId, session] of this.sessions) {
      if (clockMs - session.lastUsedMs < this.limits.ttlMs) {
        checkMs = session.lastUsedMs + this.limits.ttlMs;
        break;
      }
      this.remove(clientId, session);
      expired += 1;
    }
    this.expiryCheckMs = checkMs;
    return expired;
  }

  /**
   * Decides command `seq` of `clientId` with watermark `ackedBelow` at log time `clockMs`, and
   * calls `run` when (and only when) the command must run now. See the module comment.
   */
  apply(clientId: string, seq: number, ackedBelow: number, clockMs: number, run: () => RunResult): SessionOutcome {
    assert(Number.isSafeInteger(seq) && seq >= 1, 'sequence numbers are positive integers');
    assert(Number.isSafeInteger(ackedBelow) && ackedBelow >= 1 && ackedBelow <= seq, 'the watermark is in [1, seq]');
    const known = this.sessions.get(clientId);
    if (known === undefined && ackedBelow !== 1) return { kind: 'expired' };
    if (known !== undefined && seq < known.floor) return { kind: 'stale', floor: known.floor };
    const session = known ?? { floor: 1, lastUsedMs: clockMs, retained: [], bytes: 0 };
    assert(clockMs >= session.lastUsedMs, 'the log clock never goes back');
    const position = searchSeq(session.retained, seq);
    const found = session.retained[position];
    if (found !== undefined && found.seq === seq) {
      this.touch(clientId, session, clockMs);
      this.raiseFloor(session, ackedBelow);
      return { kind: 'duplicate', response: bytesOf(found.response) };
    }
    const result = run();
    const kept: Kept = { seq, response: result.retained };
    if (position === session.retained.length) session.retained.push(kept);
    else session.retained.splice(position, 0, kept);
    session.bytes += result.retained.byteLength;
    this.bytesTotal += result.retained.byteLength;
    this.raiseFloor(session, ackedBelow);
    while (session.retained.length > this.limits.responsesMax) this.dropLowest(session);
    this.touch(clientId, session, clockMs);
    const evicted = this.enforceTotals(clientId, session);
    return { kind: 'ran', response: result.response, evicted };
  }

  /** Every session, least recently used first. */
  list(): readonly SessionEntry[] {
    return [...this.sessions].map(([clientId, session]) => entryOf(clientId, session));
  }

  /**
   * Replaces every session by `entries`, given least recently used first. A snapshot written
   * under larger limits is cut down to these as apply would have: the most recent sessions, each
   * with its highest responses (the floor raised above those dropped), within bytesMax.
   */
  load(entries: readonly SessionEntry[]): void {
    this.sessions.clear();
    this.newestId = null;
    this.expiryCheckMs = 0;
    this.bytesTotal = 0;
    for (const entry of entries.slice(Math.max(0, entries.length - this.limits.countMax))) {
      const session: Session = {
        floor: entry.floor,
        lastUsedMs: entry.lastUsedMs,
        retained: [...entry.responses],
        bytes: 0,
      };
      for (const kept of session.retained) session.bytes += kept.response.byteLength;
      this.bytesTotal += session.bytes;
      while (session.retained.length > this.limits.responsesMax) this.dropLowest(session);
      this.sessions.set(entry.clientId, session);
      this.newestId = entry.clientId;
    }
    const newest = [...this.sessions].at(-1);
    if (newest !== undefined) this.enforceTotals(newest[0], newest[1]);
  }

  /** Checks every invariant at log time `clockMs`; throws InvariantError on the first broken one. */
  checkInvariants(clockMs: number): void {
    assert(this.sessions.size <= this.limits.countMax, 'session count within sessionCountMax');
    assert(this.bytesTotal <= this.limits.bytesMax, 'kept response bytes within sessionBytesMax');
    let lastUsedMs = 0;
    let bytes = 0;
    for (const session of this.sessions.values()) {
      assert(session.lastUsedMs >= lastUsedMs, 'sessions are in recency order');
      assert(session.lastUsedMs <= clockMs, 'no session was used after the log clock');
      assert(session.lastUsedMs + this.limits.ttlMs >= this.expiryCheckMs, 'no session expires before expiryCheckMs');
      assert(session.floor >= 1, 'floors are >= 1');
      assert(session.retained.length <= this.limits.responsesMax, 'responses per session within sessionResponsesMax');
      let previous = session.floor - 1;
      let sessionBytes = 0;
      for (const kept of session.retained) {
        assert(kept.seq > previous, 'kept responses are above the floor, by increasing sequence');
        previous = kept.seq;
        sessionBytes += kept.response.byteLength;
      }
      assert(sessionBytes === session.bytes, 'a session counts the bytes it keeps');
      bytes += sessionBytes;
      lastUsedMs = session.lastUsedMs;
    }
    assert(bytes === this.bytesTotal, 'the table counts the bytes its sessions keep');
    if (this.newestId !== null) assert([...this.sessions.keys()].at(-1) === this.newestId, 'newestId is the last');
  }

  /** Makes `session` the most recently used, at `clockMs`. */
  private touch(clientId: string, session: Session, clockMs: number): void {
    session.lastUsedMs = clockMs;
    if (clientId === this.newestId) return;
    this.sessions.delete(clientId);
    this.sessions.set(clientId, session);
    this.newestId = clientId;
  }

  /** Raises the floor to `watermark` and forgets the responses below it. */
  private raiseFloor(session: Session, watermark: number): void {
    if (watermark <= session.floor) return;
    session.floor = watermark;
    let below = 0;
    while (below < session.retained.length && (session.retained[below]?.seq ?? Infinity) < watermark) {
      const dropped = session.retained[below];
      if (dropped !== undefined) this.forgetBytes(session, dropped);
      below += 1;
    }
    // Usually one: shift() drops it without the array of removed items splice() returns.
    if (below === 1) session.retained.shift();
    else if (below > 1) session.retained.splice(0, below);
  }

  /** Drops the lowest response and raises the floor above it, so that it never runs again. */
  private dropLowest(session: Session): void {
    const lowest = session.retained.shift();
    assert(lowest !== undefined, 'a session over its limit keeps responses');
    this.forgetBytes(session, lowest);
    session.floor = Math.max(session.floor, lowest.seq + 1);
  }

  private forgetBytes(session: Session, dropped: Kept): void {
    session.bytes -= dropped.response.byteLength;
    this.bytesTotal -= dropped.response.byteLength;
    assert(session.bytes >= 0 && this.bytesTotal >= 0, 'kept byte counts stay non-negative');
  }

  /**
   * Evicts least recently used sessions other than `current` (the one just used) until the
   * count and byte limits hold; should `current` alone exceed bytesMax, drops its lowest
   * responses but its newest. Returns how many sessions it evicted.
   */
  private enforceTotals(clientId: string, current: Session): number {
    // Nearly always within the limits: then no iterator over the sessions.
    if (this.sessions.size <= this.limits.countMax && this.bytesTotal <= this.limits.bytesMax) return 0;
    let evicted = 0;
    for (const [id, session] of this.sessions) {
      if (this.sessions.size <= this.limits.countMax && this.bytesTotal <= this.limits.bytesMax) break;
      if (id === clientId) continue;
      this.remove(id, session);
      evicted += 1;
    }
    while (this.bytesTotal > this.limits.bytesMax && current.retained.length > 1) this.dropLowest(current);
    assert(this.sessions.size <= this.limits.countMax, 'session count within sessionCountMax');
    assert(this.bytesTotal <= this.limits.bytesMax, 'one response fits within sessionBytesMax');
    return evicted;
  }

  private remove(clientId: string, session: Session): void {
    this.sessions.delete(clientId);
    if (clientId === this.newestId) this.newestId = null;
    this.bytesTotal -= session.bytes;
    assert(this.bytesTotal >= 0, 'kept byte counts stay non-negative');
  }
}

/**
 * The bytes to keep of a response for retries. A Buffer may be a view of cbor-x's shared output buffer (what
 * encodeKvResult gives for every result but a put's; cbor-output.ts), which would stay alive: it is copied. A plain
 * Uint8Array is a put result's own bytes (put-result.ts): kept as it is, since no one writes into an applied result
 * (contracts/state-machine.ts). Not told apart by `.buffer`: reading it moves a small array's bytes off V8's heap,
 * which cost more than the copy it saved (0.7 % of the cluster's CPU in a profile).
 */
export function retainedBytes(response: Uint8Array): Uint8Array {
  return Buffer.isBuffer(response) ? new Uint8Array(response) : response;
}

/** The position of `seq` in `retained` (sorted by seq), or where it would go. */
function searchSeq(retained: readonly Kept[], seq: number): number {
  let low = 0;
  let high = retained.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((retained[middle]?.seq ?? Infinity) < seq) low = middle + 1;
    else high = middle;
  }
  return low;
}

function entryOf(clientId: string, session: Session): SessionEntry {
  const responses = session.retained.map((kept): RetainedResponse => ({
    seq: kept.seq,
    response: bytesOf(kept.response),
  }));
  return { clientId, floor: session.floor, lastUsedMs: session.lastUsedMs, responses };
}
