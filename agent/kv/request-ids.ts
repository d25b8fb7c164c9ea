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
import { randomInt } from 'node:crypto';
import { assert } from '../../contracts/assert.js';
import { SLOT_KEY_BYTES, SlotIndex } from '../../contracts/slot-index.js';

/** The length of a request id, bytes: the key of its slot in the table's index. */
export const REQUEST_ID_BYTES = SLOT_KEY_BYTES;

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
 * Request ids as columns, oldest first: id i is bytes [16i, 16i + 16) of `ids`, and ran as
 * `seqs[i]` of session `clientIds[i]` at log time `usedMs[i]`.
 */
export interface RequestIdColumns {
  readonly count: number;
  readonly ids: Uint8Array;
  readonly clientIds: readonly string[];
  readonly seqs: Float64Array;
  readonly usedMs: Float64Array;
}

/** The entries of `columns`, in order; each id a view of `columns.ids`. */
export function requestIdEntries(columns: RequestIdColumns): RequestIdEntry[] {
  const entries: RequestIdEntry[] = [];
  for (let i = 0; i < columns.count; i += 1) {
    entries.push({
      requestId: columns.ids.subarray(i * REQUEST_ID_BYTES, (i + 1) * REQUEST_ID_BYTES),
      clientId: columns.clientIds[i] ?? '',
      seq: columns.seqs[i] ?? 0,
      usedMs: columns.usedMs[i] ?? 0,
    });
  }
  return entries;
}

/** Slots of a new table's ring (it doubles up to countMax as ids come). */
const RING_SLOTS_MIN = 64;

/**
 * Request id → the session command that ran it; see the module comment. The ids are kept in a
 * ring of slots, oldest first from `head` (insertion order, so non-decreasing usedMs): their bytes
 * in one buffer, their records in columns, and a hash index of the slots (contracts/slot-index.ts).
 * Expiry and eviction take the oldest at `head`, never iterating anything; an apply makes no heap
 * object that outlives it (issue 16).
 */
export class RequestIdTable {
  private readonly limits: RequestIdLimits;
  private readonly index: SlotIndex;
  /** Slots in the ring; doubles up to countMax. Invariant: count <= slots <= max(countMax, RING_SLOTS_MIN). */
  private slots: number;
  /** Each slot's id, REQUEST_ID_BYTES a slot. */
  private ids: Uint8Array;
  private clientIds: string[];
  private seqs: Float64Array;
  private usedMs: Float64Array;
  /** The slot of the oldest id. */
  private head = 0;
  /** Ids kept: slots head, head + 1, ... (mod slots). Invariant: count <= countMax. */
  private count = 0;

  /** `seed` places ids in the hash index only (contracts/slot-index.ts); random unless given. */
  constructor(limits: RequestIdLimits, seed: number = randomInt(0, 2 ** 32)) {
    assert(Number.isSafeInteger(limits.countMax) && limits.countMax >= 1, 'requestIdsMax is a positive integer');
    assert(Number.isSafeInteger(limits.ttlMs) && limits.ttlMs >= 1, 'requestIdTtlMs is a positive integer');
    this.limits = limits;
    this.slots = Math.min(limits.countMax, RING_SLOTS_MIN);
    this.ids = new Uint8Array(this.slots * REQUEST_ID_BYTES);
    this.clientIds = new Array<string>(this.slots).fill('');
    this.seqs = new Float64Array(this.slots);
    this.usedMs = new Float64Array(this.slots);
    this.index = new SlotIndex(this.slots, seed);
  }

  /** The number of ids kept. */
  get size(): number {
    return this.count;
  }

  /** Where request `requestId` ran, or undefined. */
  lookup(requestId: Uint8Array): RequestRecord | undefined {
    assert(requestId.byteLength === REQUEST_ID_BYTES, 'request ids have REQUEST_ID_BYTES bytes');
    const slot = this.index.find(this.ids, requestId);
    return slot < 0 ? undefined : this.recordAt(slot);
  }

  /** Removes every id kept for at least ttlMs of log time as of `clockMs`; returns how many. */
  expire(clockMs: number): number {
    let expired = 0;
    while (this.count > 0 && clockMs - (this.usedMs[this.head] ?? 0) >= this.limits.ttlMs) {
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
    const found = this.index.find(this.ids, requestId);
    if (found >= 0) return { earlier: this.recordAt(found), evicted: 0 };
    let evicted = false;
    if (this.count >= this.limits.countMax) {
      this.dropOldest();
      evicted = true;
    }
    this.add(requestId, clientId, seq, clockMs);
    return evicted ? EVICTED_ONE : EVICTED_NONE;
  }

  /**
   * Every id, oldest first, as columns that later changes to the table leave alone: a few arrays
   * whatever the count, where a list of entries is four heap objects per id (a snapshot takes
   * these, snapshot-tail.ts).
   */
  columns(): RequestIdColumns {
    return this.oldestFirst(this.count);
  }

  /** Every id, oldest first; each entry's bytes are its own (the table goes on changing). */
  list(): readonly RequestIdEntry[] {
    return requestIdEntries(this.columns());
  }

  /** Replaces every id by `entries`, given oldest first; keeps the newest countMax. */
  load(entries: readonly RequestIdEntry[]): void {
    const kept = entries.slice(Math.max(0, entries.length - this.limits.countMax));
    this.head = 0;
    this.count = 0;
    this.resize(Math.min(this.limits.countMax, Math.max(RING_SLOTS_MIN, kept.length)));
    for (const entry of kept) {
      assert(entry.requestId.byteLength === REQUEST_ID_BYTES, 'request ids have REQUEST_ID_BYTES bytes');
      const known = this.index.find(this.ids, entry.requestId);
      // An id listed twice (no table writes that): the later listing in the earlier place, as Map.set does.
      if (known >= 0) this.setRecord(known, entry.clientId, entry.seq, entry.usedMs);
      else this.add(entry.requestId, entry.clientId, entry.seq, entry.usedMs);
    }
  }

  /** Checks size, order, index and clock at `clockMs`; throws InvariantError on the first broken one. */
  checkInvariants(clockMs: number): void {
    assert(this.count <= this.limits.countMax, 'request ids within requestIdsMax');
    assert(this.count <= this.slots, 'the ring holds every kept id');
    assert(this.index.count() === this.count, 'the index lists every kept id once');
    let usedMs = 0;
    for (let i = 0; i < this.count; i += 1) {
      const slot = this.slotAt(i);
      const id = this.ids.subarray(slot * REQUEST_ID_BYTES, (slot + 1) * REQUEST_ID_BYTES);
      assert(this.index.find(this.ids, id) === slot, 'the index finds each kept id at its slot');
      const used = this.usedMs[slot] ?? 0;
      assert(used >= usedMs, 'request ids are in log-time order');
      assert(used <= clockMs, 'no request id was used after the log clock');
      usedMs = used;
    }
  }

  /** The slot of the i-th oldest id. */
  private slotAt(i: number): number {
    return (this.head + i) % this.slots;
  }

  private recordAt(slot: number): RequestRecord {
    return { clientId: this.clientIds[slot] ?? '', seq: this.seqs[slot] ?? 0, usedMs: this.usedMs[slot] ?? 0 };
  }

  private setRecord(slot: number, clientId: string, seq: number, usedMs: number): void {
    this.clientIds[slot] = clientId;
    this.seqs[slot] = seq;
    this.usedMs[slot] = usedMs;
  }

  /** Adds an id the table does not hold, as the newest; the caller made room below countMax. */
  private add(requestId: Uint8Array, clientId: string, seq: number, usedMs: number): void {
    assert(this.count < this.limits.countMax, 'an id is added below requestIdsMax');
    if (this.count === this.slots) this.resize(Math.min(this.limits.countMax, this.slots * 2));
    const slot = this.slotAt(this.count);
    this.ids.set(requestId, slot * REQUEST_ID_BYTES);
    this.setRecord(slot, clientId, seq, usedMs);
    this.index.add(this.ids, slot);
    this.count += 1;
  }

  /** Forgets the oldest id (there is one). */
  private dropOldest(): void {
    assert(this.count > 0, 'a table with ids has an oldest');
    this.index.remove(this.ids, this.head);
    this.clientIds[this.head] = '';
    this.head = (this.head + 1) % this.slots;
    this.count -= 1;
  }

  /** Moves the kept ids, oldest first, into a ring of `slots` slots from slot 0, and indexes them again. */
  private resize(slots: number): void {
    assert(slots >= this.count, 'a ring holds the ids kept');
    const kept = this.oldestFirst(slots);
    this.slots = slots;
    this.ids = kept.ids;
    this.clientIds = kept.clientIds;
    this.seqs = kept.seqs;
    this.usedMs = kept.usedMs;
    this.head = 0;
    this.index.reset(slots);
    for (let slot = 0; slot < this.count; slot += 1) this.index.add(this.ids, slot);
  }

  /**
   * The kept ids, oldest first from position 0, in columns of `length` (>= count) positions, the rest
   * empty. The ring holds them in at most two runs (from head to its end, then from its start), each
   * column copied a run at once: no view per id (a snapshot copies all of them).
   */
  private oldestFirst(length: number): RequestIdColumns & { readonly clientIds: string[] } {
    const ids = new Uint8Array(length * REQUEST_ID_BYTES);
    const clientIds = new Array<string>(length).fill('');
    const seqs = new Float64Array(length);
    const usedMs = new Float64Array(length);
    const runs: readonly (readonly [from: number, count: number])[] = [
      [this.head, Math.min(this.count, this.slots - this.head)],
      [0, Math.max(0, this.head + this.count - this.slots)],
    ];
    let to = 0;
    for (const [from, count] of runs) {
      ids.set(this.ids.subarray(from * REQUEST_ID_BYTES, (from + count) * REQUEST_ID_BYTES), to * REQUEST_ID_BYTES);
      seqs.set(this.seqs.subarray(from, from + count), to);
      usedMs.set(this.usedMs.subarray(from, from + count), to);
      for (let i = 0; i < count; i += 1) clientIds[to + i] = this.clientIds[from + i] ?? '';
      to += count;
    }
    assert(to === this.count, 'the two runs hold every kept id');
    return { count: this.count, ids, clientIds, seqs, usedMs };
  }
}

/** claim's answers for a new id (frozen, shared: no object per write). */
const EVICTED_NONE: { readonly evicted: number } = Object.freeze({ evicted: 0 });
const EVICTED_ONE: { readonly evicted: number } = Object.freeze({ evicted: 1 });

/**
 * A request id as a string, for a Set of the ids seen (snapshot-read.ts refuses an image that lists
 * one twice): its 16 bytes as 8 UTF-16 code units, two bytes each, so two ids have the same key only
 * if they are the same. Built in JavaScript: a hex string through a Buffer cost about three times as
 * much. Any code unit is allowed, lone surrogates included: a Set compares strings code unit by code unit.
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

/** Bytes i and i + 1 of `bytes` as one big-endian 16-bit unit. */
function unitAt(bytes: Uint8Array, i: number): number {
  return ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
}
