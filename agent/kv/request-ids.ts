/**
 * Request ids: the duplicate detection of the local endpoint's transport (RFC 7252 §4.5),
 * carried into the replicated state so that it survives the endpoint. The endpoint gives a
 * write the id of the CoAP exchange that carried it (a hash of the node, the client's address
 * and port, the token, the message id and the request itself); a retransmission of that request
 * has the same id. Within one endpoint incarnation the CoAP server's duplicate cache answers a
 * retransmission; after a restart the cache is gone, the retransmission arrives as a new write
 * in the new incarnation's session, and this table recognizes it: the command is not run, and
 * it gets the response the first one got (kept by the first one's session).
 *
 * The table maps a request id to the session and sequence that ran it. It is bounded like the
 * CoAP duplicate cache it extends: entries live `ttlMs` of log time (a client retransmits for
 * at most MAX_TRANSMIT_SPAN, 45 s with RFC 7252's defaults) and at most `countMax` are kept, the
 * oldest evicted first (a retransmission arriving at a restarted node after that many later
 * writes would run again, as it would against any CoAP server's bounded cache). Insertion order
 * is apply order, so it is also log-time order, and expiry drops from the front.
 */
import { assert } from '../../contracts/assert.js';

/** The length of a request id, bytes. */
export const REQUEST_ID_BYTES = 16;

/** Limits of the request id table; see KvOptions for units, defaults and ranges. */
export interface RequestIdLimits {
  /** Most ids kept (requestIdsMax). */
  readonly countMax: number;
  /** Log time an id is kept, ms (requestIdTtlMs). */
  readonly ttlMs: number;
}

/** Where a request ran: its session and sequence, and when (log clock, ms). */
export interface RequestRecord {
  readonly clientId: string;
  readonly seq: number;
  readonly usedMs: number;
}

/** A request id with its record, as listed in a snapshot. */
export interface RequestIdEntry extends RequestRecord {
  readonly requestId: Uint8Array;
}

/**
 * The most ids the order array holds before it is compacted, as a multiple of the ids kept:
 * it drops its expired front only once that front is as long as the live part (amortized O(1)).
 */
const ORDER_SLACK_FACTOR = 2;
/** Below this many dropped slots the order array is never compacted (a small table just reuses them). */
const ORDER_COMPACT_MIN = 1024;

/** Request id → the session command that ran it; see the module comment. */
export class RequestIdTable {
  private readonly limits: RequestIdLimits;
  /** Invariants: size <= countMax; holds exactly the entries of order[head..]. Keyed by keyOf. */
  private readonly records = new Map<string, KeptId>();
  /**
   * The kept ids, oldest first (insertion order, so non-decreasing usedMs), from `head` on; the
   * slots before `head` were expired or evicted. Expiry and eviction read the oldest here, never
   * by iterating the map: a Map iterator starts at the map's first slot and steps over every
   * slot deleted since its last rehash, which with a full table of 8,192 ids (each apply evicts
   * the oldest) cost about 10 us per apply.
   */
  private order: KeptId[] = [];
  private head = 0;

  constructor(limits: RequestIdLimits) {
    assert(Number.isSafeInteger(limits.countMax) && limits.countMax >= 1, 'requestIdsMax is a positive integer');
    assert(Number.isSafeInteger(limits.ttlMs) && limits.ttlMs >= 1, 'requestIdTtlMs is a positive integer');
    this.limits = limits;
  }

  /** The number of ids kept. */
  get size(): number {
    return this.records.size;
  }

  /** Where request `requestId` ran, or undefined. */
  lookup(requestId: Uint8Array): RequestRecord | undefined {
    return this.records.get(keyOf(requestId));
  }

  /** Removes every id kept for at least ttlMs of log time as of `clockMs`; returns how many. */
  expire(clockMs: number): number {
    let expired = 0;
    for (let oldest = this.oldest(); oldest !== undefined; oldest = this.oldest()) {
      if (clockMs - oldest.usedMs < this.limits.ttlMs) break;
      this.dropOldest();
      expired += 1;
    }
    return expired;
  }

  /** Records that `requestId` ran as `seq` of `clientId` at `clockMs`; returns how many ids it evicted (0 or 1). */
  record(requestId: Uint8Array, clientId: string, seq: number, clockMs: number): number {
    return this.claim(requestId, clientId, seq, clockMs).evicted;
  }

  /**
   * Where `requestId` ran before, if it did (`earlier`; nothing recorded then); otherwise records
   * that it runs now as `seq` of `clientId` at `clockMs` and says how many ids that evicted (0 or 1).
   * One lookup of the id for both.
   */
  claim(
    requestId: Uint8Array,
    clientId: string,
    seq: number,
    clockMs: number,
  ): { readonly earlier?: RequestRecord; readonly evicted: number } {
    assert(requestId.byteLength === REQUEST_ID_BYTES, 'request ids have REQUEST_ID_BYTES bytes');
    const key = keyOf(requestId);
    const earlier = this.records.get(key);
    if (earlier !== undefined) return { earlier, evicted: 0 };
    let evicted = false;
    if (this.records.size >= this.limits.countMax) {
      assert(this.dropOldest(), 'a full table has an oldest id');
      evicted = true;
    }
    // The key alone is kept: it is the id (keyOf and requestIdOfKey are inverses), so no copy of the id's bytes.
    this.add({ key, clientId, seq, usedMs: clockMs });
    return evicted ? EVICTED_ONE : EVICTED_NONE;
  }

  /** Every id, oldest first. */
  list(): readonly RequestIdEntry[] {
    return this.order.slice(this.head).map(({ key, clientId, seq, usedMs }) => ({
      requestId: requestIdOfKey(key),
      clientId,
      seq,
      usedMs,
    }));
  }

  /** Replaces every id by `entries`, given oldest first; keeps the newest countMax. */
  load(entries: readonly RequestIdEntry[]): void {
    this.records.clear();
    this.order = [];
    this.head = 0;
    for (const entry of entries.slice(Math.max(0, entries.length - this.limits.countMax))) {
      const kept: KeptId = {
        key: keyOf(entry.requestId),
        clientId: entry.clientId,
        seq: entry.seq,
        usedMs: entry.usedMs,
      };
      const known = this.records.get(kept.key);
      if (known === undefined) {
        this.add(kept);
        continue;
      }
      // An id listed twice (no table writes that): the later listing in the earlier place, as Map.set does.
      this.order[this.order.indexOf(known)] = kept;
      this.records.set(kept.key, kept);
    }
  }

  /** Checks size, order and clock at `clockMs`; throws InvariantError on the first broken one. */
  checkInvariants(clockMs: number): void {
    assert(this.records.size <= this.limits.countMax, 'request ids within requestIdsMax');
    assert(this.order.length - this.head === this.records.size, 'the order lists every kept id once');
    let usedMs = 0;
    for (let at = this.head; at < this.order.length; at += 1) {
      const record = this.order[at];
      assert(record !== undefined && this.records.get(record.key) === record, 'the order lists the kept ids');
      assert(record.usedMs >= usedMs, 'request ids are in log-time order');
      assert(record.usedMs <= clockMs, 'no request id was used after the log clock');
      assert(record.key.length === REQUEST_ID_BYTES / 2, 'request ids have REQUEST_ID_BYTES bytes');
      usedMs = record.usedMs;
    }
  }

  private oldest(): KeptId | undefined {
    return this.order[this.head];
  }

  private add(kept: KeptId): void {
    this.records.set(kept.key, kept);
    this.order.push(kept);
  }

  /** Forgets the oldest id; false when there is none. */
  private dropOldest(): boolean {
    const oldest = this.order[this.head];
    if (oldest === undefined) return false;
    this.records.delete(oldest.key);
    this.order[this.head] = DROPPED;
    this.head += 1;
    if (this.head >= ORDER_COMPACT_MIN && this.head * ORDER_SLACK_FACTOR >= this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    return true;
  }
}

/** claim's answers for a new id (frozen, shared: no object per write). */
const EVICTED_NONE: { readonly evicted: number } = Object.freeze({ evicted: 0 });
const EVICTED_ONE: { readonly evicted: number } = Object.freeze({ evicted: 1 });

/** A kept id: its map key (which is the id, keyOf) and its record. */
interface KeptId extends RequestRecord {
  readonly key: string;
}

/** What a dropped slot of the order array holds until it is compacted away (never read). */
const DROPPED: KeptId = { key: '', clientId: '', seq: 0, usedMs: 0 };

/**
 * The map key of a request id: its 16 bytes as 8 UTF-16 code units, two bytes each (one id, one
 * key, and back). Built in JavaScript: a hex string through a Buffer cost about three times as
 * much, 1.5 % of a loaded follower's CPU. Any code unit is allowed, lone surrogates included: a
 * Map compares strings code unit by code unit.
 */
export function keyOf(requestId: Uint8Array): string {
  assert(requestId.byteLength === REQUEST_ID_BYTES, 'request ids have REQUEST_ID_BYTES bytes');
  return String.fromCharCode(
    unitAt(requestId, 0),
    unitAt(requestId, 2),
    unitAt(requestId, 4),
    unitAt(requestId, 6),
    unitAt(requestId, 8),
    unitAt(requestId, 10),
    unitAt(requestId, 12),
    unitAt(requestId, 14),
  );
}

/** The request id whose map key is `key`: keyOf's inverse. */
export function requestIdOfKey(key: string): Uint8Array {
  assert(key.length === REQUEST_ID_BYTES / 2, 'request id keys have REQUEST_ID_BYTES / 2 code units');
  const requestId = new Uint8Array(REQUEST_ID_BYTES);
  for (let i = 0; i < key.length; i += 1) {
    const unit = key.charCodeAt(i);
    requestId[2 * i] = unit >>> 8;
    requestId[2 * i + 1] = unit & 0xff;
  }
  return requestId;
}

/** Bytes i and i + 1 of `bytes` as one big-endian 16-bit unit. */
function unitAt(bytes: Uint8Array, i: number): number {
  return ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
}
