/**
 * Admission bookkeeping of a DTLS server's half-open handshakes (past the cookie exchange,
 * not yet established): who may take a slot, and whom a newcomer pushes out. Pure: no
 * sockets, no clocks; the server applies the decisions.
 *
 * The limits, all counted at admission so a decision never depends on later traffic:
 * - at most `countMax` half-open handshakes in total (and at most the `capacity` an admission
 *   passes: 0 when the handshake could not become a session);
 * - at most `perAddressMax` from one source address, whatever its ports;
 * - `reservedForMembers` of the total are usable only by members' addresses, so a flood from
 *   other addresses never keeps a member out;
 * - their charged bytes (an upper bound of the memory each one holds) at most `bytesMax`.
 *
 * When a limit is reached, a newcomer pushes out the oldest half-open handshake it may
 * displace: the oldest of its own address for the per-address limit, else the oldest non-member
 * one; a member may also displace the oldest member one. A non-member never displaces a
 * member's handshake, not even of its own address: it is refused instead. Established sessions
 * are not here and are never displaced. Oldest means first admitted: Maps iterate in insertion
 * order, so every "oldest" is the first entry of a Map, found in O(1).
 */
import { assert } from '../../contracts/assert.js';
import type { EvictionReason } from './stats.js';

/** The limits of a {@link HalfOpenTable}; see the module comment. */
export interface HalfOpenLimits {
  readonly countMax: number;
  readonly perAddressMax: number;
  readonly reservedForMembers: number;
  readonly bytesMax: number;
}

/** One half-open handshake as the table sees it. */
export interface HalfOpenSlot {
  /** The peer key (address and port). */
  readonly key: string;
  /** The source address, without the port. */
  readonly address: string;
  /** Whether the address was a member's when the handshake was admitted. */
  readonly member: boolean;
  /** The memory charged for it, in bytes. */
  readonly bytes: number;
}

/** A handshake pushed out to make room, and why. */
export interface Eviction {
  readonly key: string;
  readonly reason: EvictionReason;
}

/** The outcome of {@link HalfOpenTable.admit}. */
export type Admission =
  | { readonly admitted: true; readonly evicted: readonly Eviction[] }
  | { readonly admitted: false; readonly reason: 'no-room' | 'members-only' };

interface Slot {
  readonly key: string;
  readonly address: string;
  readonly member: boolean;
  bytes: number;
}

/** The half-open handshakes of one server, by key, by address and by class. */
export class HalfOpenTable {
  // Invariant: every slot is in `slots`, in `byAddress.get(slot.address)` and in exactly one
  // of `members`/`others`; `totalBytes` is the sum of their bytes; no address maps to an empty Map.
  private readonly slots = new Map<string, Slot>();
  private readonly byAddress = new Map<string, Map<string, Slot>>();
  private readonly members = new Map<string, Slot>();
  private readonly others = new Map<string, Slot>();
  private totalBytes = 0;

  constructor(private readonly limits: HalfOpenLimits) {
    assert(limits.countMax >= 1, 'countMax is at least 1');
    assert(limits.perAddressMax >= 1, 'perAddressMax is at least 1');
    assert(
      limits.reservedForMembers >= 0 && limits.reservedForMembers < limits.countMax,
      'the reserve leaves room for others',
    );
    assert(limits.bytesMax >= 1, 'bytesMax is positive');
  }

  /** Half-open handshakes now. */
  get count(): number {
    return this.slots.size;
  }

  /** Bytes charged now. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Half-open handshakes of members' addresses now. */
  get memberCount(): number {
    return this.members.size;
  }

  /** Half-open handshakes from `address` now. */
  countOf(address: string): number {
    return this.byAddress.get(address)?.size ?? 0;
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  /** The first admitted slot still here (for expiry), or undefined. */
  oldest(): HalfOpenSlot | undefined {
    return this.slots.values().next().value;
  }

  /**
   * Admits `slot` when the limits allow, after pushing out whom it may displace; refuses it,
   * changing nothing, when they do not. `capacity` caps the total further for this admission
   * (0 refuses it). The caller removes an earlier handshake of the same key first (a new
   * hello from the same port replaces it).
   */
  admit(slot: HalfOpenSlot, capacity: number = this.limits.countMax): Admission {
    assert(!this.slots.has(slot.key), 'a key has one half-open handshake');
    assert(slot.bytes >= 0, 'a charge is not negative');
    assert(Number.isSafeInteger(capacity), 'the capacity is an integer');
    const total = Math.min(this.limits.countMax, capacity);
    const othersCapacity = total - this.limits.reservedForMembers;
    if (total <= 0 || slot.bytes > this.limits.bytesMax) return { admitted: false, reason: 'no-room' };
    if (!slot.member && othersCapacity <= 0) return { admitted: false, reason: 'members-only' };
    const plan = new EvictionPlan();
    const fromAddress = this.byAddress.get(slot.address)?.values();
    // Only a member displaces a member, even of its own address (the address may have become
    // a member's, or stopped being one, since that handshake was admitted).
    const displaceable = (victim: Slot): boolean => slot.member || !victim.member;
    while (this.countOf(slot.address) - plan.fromAddress(slot.address) >= this.limits.perAddressMax) {
      if (!plan.takeNext(fromAddress, 'address', displaceable))
        return { admitted: false, reason: slot.member ? 'no-room' : 'members-only' };
    }
    const others = this.others.values();
    if (!slot.member) {
      while (this.others.size - plan.others >= othersCapacity) {
        if (!plan.takeNext(others, 'total')) return { admitted: false, reason: 'members-only' };
      }
    }
    const members = slot.member ? this.members.values() : undefined;
    for (;;) {
      const overCount = this.slots.size - plan.size >= total;
      const overBytes = this.totalBytes - plan.bytes + slot.bytes > this.limits.bytesMax;
      if (!overCount && !overBytes) break;
      const reason = overCount ? 'total' : 'bytes';
      if (!plan.takeNext(others, reason) && !plan.takeNext(members, reason))
        return { admitted: false, reason: slot.member ? 'no-room' : 'members-only' };
    }
    for (const eviction of plan.evictions) this.remove(eviction.key);
    this.insert({ ...slot });
    return { admitted: true, evicted: plan.evictions };
  }

  /**
   * Changes the charge of `key` (its handshake now holds more or less) and pushes out the
   * oldest handshakes it may displace while the bytes exceed the limit, itself last.
   */
  recharge(key: string, bytes: number): readonly Eviction[] {
    const slot = this.slots.get(key);
    assert(slot !== undefined, 'only an admitted handshake is recharged');
    assert(bytes >= 0, 'a charge is not negative');
    this.totalBytes += bytes - slot.bytes;
    slot.bytes = bytes;
    const evictions: Eviction[] = [];
    const candidates = (map: Map<string, Slot>): Slot | undefined => {
      for (const s of map.values()) if (s.key !== key) return s;
      return undefined;
    };
    while (this.totalBytes > this.limits.bytesMax) {
      const victim: Slot = candidates(this.others) ?? (slot.member ? candidates(this.members) : undefined) ?? slot;
      evictions.push({ key: victim.key, reason: 'bytes' });
      this.remove(victim.key);
      if (victim === slot) break;
    }
    return evictions;
  }

  /** Forgets `key`; false when it was not here. */
  remove(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    (slot.member ? this.members : this.others).delete(key);
    const ofAddress = this.byAddress.get(slot.address);
    ofAddress?.delete(key);
    if (ofAddress?.size === 0) this.byAddress.delete(slot.address);
    this.totalBytes -= slot.bytes;
    return true;
  }

  /** Checks the invariants of every index against the limits; throws InvariantError on a bug. */
  checkInvariants(): void {
    let bytes = 0;
    let indexed = 0;
    for (const slot of this.slots.values()) {
      bytes += slot.bytes;
      assert((slot.member ? this.members : this.others).get(slot.key) === slot, 'a slot is in its class index');
      assert(this.byAddress.get(slot.address)?.get(slot.key) === slot, 'a slot is in its address index');
    }
    for (const ofAddress of this.byAddress.values()) {
      assert(
        ofAddress.size > 0 && ofAddress.size <= this.limits.perAddressMax,
        'an address holds 1..perAddressMax slots',
      );
      indexed += ofAddress.size;
    }
    assert(
      indexed === this.slots.size && this.members.size + this.others.size === this.slots.size,
      'the indexes hold the same slots',
    );
    assert(bytes === this.totalBytes && bytes <= this.limits.bytesMax, 'charged bytes add up, within bytesMax');
    assert(this.slots.size <= this.limits.countMax, 'at most countMax slots');
  }

  private insert(slot: Slot): void {
    this.slots.set(slot.key, slot);
    (slot.member ? this.members : this.others).set(slot.key, slot);
    let ofAddress = this.byAddress.get(slot.address);
    if (ofAddress === undefined) {
      ofAddress = new Map();
      this.byAddress.set(slot.address, ofAddress);
    }
    ofAddress.set(slot.key, slot);
    this.totalBytes += slot.bytes;
  }
}

/** The handshakes an admission would push out, chosen before anything changes. */
class EvictionPlan {
  readonly evictions: Eviction[] = [];
  private readonly chosen = new Set<string>();
  private readonly perAddress = new Map<string, number>();
  size = 0;
  bytes = 0;
  others = 0;

  fromAddress(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  /** Takes the next slot of `slots` not yet chosen; false when there is none. */
  takeNext(
    slots: Iterator<Slot> | undefined,
    reason: EvictionReason,
    eligible: (slot: Slot) => boolean = () => true,
  ): boolean {
    if (slots === undefined) return false;
    for (let next = slots.next(); next.done !== true; next = slots.next()) {
      const slot = next.value;
      if (this.chosen.has(slot.key) || !eligible(slot)) continue;
      this.chosen.add(slot.key);
      this.evictions.push({ key: slot.key, reason });
      this.perAddress.set(slot.address, this.fromAddress(slot.address) + 1);
      this.size += 1;
      this.bytes += slot.bytes;
      if (!slot.member) this.others += 1;
      return true;
    }
    return false;
  }
}
