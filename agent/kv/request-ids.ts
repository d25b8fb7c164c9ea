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

/** Request id → the session command that ran it; see the module comment. */
export class RequestIdTable {
  private readonly limits: RequestIdLimits;
  /** Invariants: size <= countMax; insertion order has non-decreasing usedMs. Keyed by hex id. */
  private readonly records = new Map<string, RequestIdEntry>();

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
    for (const [key, record] of this.records) {
      if (clockMs - record.usedMs < this.limits.ttlMs) break;
      this.records.delete(key);
      expired += 1;
    }
    return expired;
  }

  /** Records that `requestId` ran as `seq` of `clientId` at `clockMs`; returns how many ids it evicted (0 or 1). */
  record(requestId: Uint8Array, clientId: string, seq: number, clockMs: number): number {
    assert(requestId.byteLength === REQUEST_ID_BYTES, 'request ids have REQUEST_ID_BYTES bytes');
    const key = keyOf(requestId);
    assert(!this.records.has(key), 'a request id runs once');
    let evicted = 0;
    if (this.records.size >= this.limits.countMax) {
      const oldest = this.records.keys().next();
      assert(oldest.done !== true, 'a full table has an oldest id');
      this.records.delete(oldest.value);
      evicted = 1;
    }
    this.records.set(key, { requestId: new Uint8Array(requestId), clientId, seq, usedMs: clockMs });
    return evicted;
  }

  /** Every id, oldest first. */
  list(): readonly RequestIdEntry[] {
    return [...this.records.values()];
  }

  /** Replaces every id by `entries`, given oldest first; keeps the newest countMax. */
  load(entries: readonly RequestIdEntry[]): void {
    this.records.clear();
    for (const entry of entries.slice(Math.max(0, entries.length - this.limits.countMax)))
      this.records.set(keyOf(entry.requestId), entry);
  }

  /** Checks size, order and clock at `clockMs`; throws InvariantError on the first broken one. */
  checkInvariants(clockMs: number): void {
    assert(this.records.size <= this.limits.countMax, 'request ids within requestIdsMax');
    let usedMs = 0;
    for (const record of this.records.values()) {
      assert(record.usedMs >= usedMs, 'request ids are in log-time order');
      assert(record.usedMs <= clockMs, 'no request id was used after the log clock');
      assert(record.requestId.byteLength === REQUEST_ID_BYTES, 'request ids have REQUEST_ID_BYTES bytes');
      usedMs = record.usedMs;
    }
  }
}

function keyOf(requestId: Uint8Array): string {
  return Buffer.from(requestId.buffer, requestId.byteOffset, requestId.byteLength).toString('hex');
}
