/**
 * The leases of the key-value state machine (etcd's lessor, made deterministic): a lease has an
 * id (the log index of the entry that granted it, so unique and equal on every replica), a TTL,
 * a refresh index (the index of the grant or of the last keepalive) and the keys attached to it.
 * Revoking or expiring a lease deletes its keys at one log index.
 *
 * Nothing here reads a clock: the countdown is the leader's runtime state (lease-keeper.ts),
 * which proposes an expiry naming the refresh index it counted from. Grant, keepalive, attach,
 * revoke and expire are log entries, so every replica holds the same table, and a snapshot
 * carries it (the ids, TTLs and refresh indexes; the attachments ride on the keys).
 */
import { assert } from '../../contracts/assert.js';
import type { KvOptions } from './options.js';
import type { KvErrorResult } from './types.js';

/** A lease as the table and a snapshot hold it. */
export interface KvLease {
  /** The log index of the grant; >= 1. */
  readonly id: number;
  /** Its TTL, ms, within leaseTtlMsMin to leaseTtlMsMax. */
  readonly ttlMs: number;
  /** The log index of the grant or of the last keepalive; >= id. */
  readonly refreshIndex: number;
}

/** The limits the table enforces. */
export type LeaseLimits = Pick<KvOptions, 'leaseCountMax' | 'leaseKeysMax' | 'leaseTtlMsMin' | 'leaseTtlMsMax'>;

interface LeaseState {
  ttlMs: number;
  refreshIndex: number;
  /** Invariant: every key here is stored with this lease, and no other lease holds it. */
  readonly keys: Set<string>;
}

function notFound(id: number): KvErrorResult {
  return { type: 'error', code: 'KV_LEASE_NOT_FOUND', message: `lease ${id} is not granted (expired or revoked?)` };
}

/** The table of leases; see the module comment. */
export class LeaseTable {
  /** Invariant: size <= leaseCountMax, except after a restore under a lower limit. */
  private readonly leases = new Map<number, LeaseState>();
  /** Counts every change (never reset, not replicated): lets the keeper skip rereading an unchanged table. */
  private changes = 0;
  /** Told of every change (the node's lease countdown); null for none. */
  private listener: (() => void) | null = null;

  constructor(private readonly limits: LeaseLimits) {}

  /**
   * Calls `listener` after every change of the table, at apply or at a snapshot restore (the
   * table outlives restores: load() refills it). One listener; returns its removal. The listener
   * runs inside the apply, so it must only schedule work.
   */
  onChange(listener: () => void): () => void {
    assert(this.listener === null, 'one lease change listener');
    this.listener = listener;
    return () => {
      if (this.listener === listener) this.listener = null;
    };
  }

  private changed(): void {
    this.changes += 1;
    this.listener?.();
  }

  /** How many leases are granted. */
  get size(): number {
    return this.leases.size;
  }

  /** A number that changes whenever a lease is granted, refreshed or ended (runtime only). */
  get version(): number {
    return this.changes;
  }

  /** The lease `id`, or null. */
  get(id: number): KvLease | null {
    const lease = this.leases.get(id);
    return lease === undefined ? null : { id, ttlMs: lease.ttlMs, refreshIndex: lease.refreshIndex };
  }

  /** The keys of lease `id`, sorted (UTF-16 code unit order); empty when it is not granted. */
  keysOf(id: number): string[] {
    return [...(this.leases.get(id)?.keys ?? [])].sort();
  }

  /** An error result when a lease of `ttlMs` cannot be granted now, else null. */
  checkGrant(ttlMs: number): KvErrorResult | null {
    if (ttlMs < this.limits.leaseTtlMsMin || ttlMs > this.limits.leaseTtlMsMax)
      return {
        type: 'error',
        code: 'KV_LEASE_TTL',
        message:
          `ttlMs ${ttlMs} is outside leaseTtlMsMin ${this.limits.leaseTtlMsMin} to ` +
          `leaseTtlMsMax ${this.limits.leaseTtlMsMax}`,
      };
    if (this.leases.size >= this.limits.leaseCountMax)
      return {
        type: 'error',
        code: 'KV_LEASE_LIMIT',
        message: `${this.leases.size} leases are granted; leaseCountMax is ${this.limits.leaseCountMax}`,
      };
    return null;
  }

  /** Grants lease `id` (the grant's index) after checkGrant. */
  grant(id: number, ttlMs: number): void {
    assert(Number.isSafeInteger(id) && id >= 1, 'a lease id is a log index');
    assert(!this.leases.has(id), 'a lease id is granted once');
    this.leases.set(id, { ttlMs, refreshIndex: id, keys: new Set() });
    this.changed();
  }

  /** Records a keepalive at `index`; an error result when the lease is not granted. */
  refresh(id: number, index: number): KvErrorResult | null {
    const lease = this.leases.get(id);
    if (lease === undefined) return notFound(id);
    assert(index > lease.refreshIndex, 'a keepalive follows the lease refresh it replaces');
    lease.refreshIndex = index;
    this.changed();
    return null;
  }

  /** An error result when `key` (now on lease `current`, 0: none) cannot be attached to lease `id`. */
  checkAttach(key: string, id: number, current: number): KvErrorResult | null {
    const lease = this.leases.get(id);
    if (lease === undefined) return notFound(id);
    if (current !== id && lease.keys.size >= this.limits.leaseKeysMax)
      return {
        type: 'error',
        code: 'KV_LEASE_LIMIT',
        message: `lease ${id} holds leaseKeysMax (${this.limits.leaseKeysMax}) keys; '${key.slice(0, 64)}' not written`,
      };
    return null;
  }

  /** Moves `key` from lease `from` to lease `to` (0: none); the caller ran checkAttach for `to`. */
  move(key: string, from: number, to: number): void {
    if (from === to) return;
    if (from !== 0) {
      const old = this.leases.get(from);
      assert(old?.keys.delete(key) === true, 'a key leaves the lease it was on');
    }
    if (to !== 0) {
      const lease = this.leases.get(to);
      assert(lease !== undefined, 'a key is attached to a granted lease');
      lease.keys.add(key);
    }
  }

  /** Forgets lease `id` and returns its keys, sorted, for the caller to delete; null when it is not granted. */
  remove(id: number): string[] | null {
    if (!this.leases.has(id)) return null;
    const keys = this.keysOf(id);
    this.leases.delete(id);
    this.changed();
    return keys;
  }

  /** Every lease, by increasing id. */
  list(): KvLease[] {
    return [...this.leases.keys()]
      .sort((a, b) => a - b)
      .map((id) => {
        const lease = this.get(id);
        assert(lease !== null, 'a listed lease exists');
        return lease;
      });
  }

  /** Replaces the table (from a snapshot); keys are attached afterwards with `move`. */
  load(leases: readonly KvLease[]): void {
    this.leases.clear();
    for (const lease of leases)
      this.leases.set(lease.id, { ttlMs: lease.ttlMs, refreshIndex: lease.refreshIndex, keys: new Set() });
    this.changed();
  }

  /** Checks ids and refresh indexes against `lastApplied`, and the attachments against `leaseOf`. */
  checkInvariants(lastApplied: number, leaseOf: (key: string) => number): void {
    for (const [id, lease] of this.leases) {
      assert(id >= 1 && id <= lastApplied, 'a lease id is an applied index');
      assert(
        lease.refreshIndex >= id && lease.refreshIndex <= lastApplied,
        'a refresh index is applied, after the grant',
      );
      for (const key of lease.keys) assert(leaseOf(key) === id, 'a lease key is stored on that lease');
    }
  }

  /** The keys attached to any lease, counted. */
  attachedCount(): number {
    let count = 0;
    for (const lease of this.leases.values()) count += lease.keys.size;
    return count;
  }
}
