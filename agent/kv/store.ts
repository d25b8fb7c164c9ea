/**
 * The key-value map of the state machine, with its size accounting. Limits are checked before
 * a write by `checkWrite`, which returns an error result instead of changing anything, so a
 * refused command leaves no trace. A value of at least STORE_VIEW_BYTES_MIN bytes that fills at
 * least half of its buffer is kept as given: it is a view of the log command it came in (commands
 * from 1 KiB up have buffers of their own, kv/cbor-output.ts and runtime/own-bytes.ts), whose
 * bytes never change once applied (contracts/state-machine.ts), so the store and the log share
 * them instead of holding two copies of each recent value (issue 17). A restored snapshot's values
 * are sliced out of the caller's image first (state-machine.ts). Any other value is copied
 * in, so a stored value never keeps a datagram, a snapshot image or a transaction's other values alive.
 */
import { assert } from '../../contracts/assert.js';
import { LeaseTable } from './leases.js';
import type { KvLease } from './leases.js';
import type { LeaseLimits } from './leases.js';
import type { KvOptions } from './options.js';
import { QUOTA_BYTES_MAX, breaksQuota, quotaExceeded, quotaUsageOf } from './quota.js';
import type { KvErrorResult, KvVersioned } from './types.js';

/** A stored value: its bytes, its revision and the lease it is attached to (0: none). */
export interface KvStored extends KvVersioned {
  readonly lease: number;
}

/** Smallest value the store keeps as a view of the caller's bytes, bytes (smaller ones are copied). */
export const STORE_VIEW_BYTES_MIN = 1024;

/** `value` itself when it is large and fills at least half of its buffer; a copy of it otherwise. */
export function storedBytes(value: Uint8Array): Uint8Array {
  if (value.byteLength >= STORE_VIEW_BYTES_MIN && value.byteLength * 2 >= value.buffer.byteLength) return value;
  return new Uint8Array(value);
}

/** The UTF-8 length of `text`, in bytes. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * KV_KEY_TOO_LONG when `key` is longer than `keyBytesMax` UTF-8 bytes, else null. The store
 * refuses such a key when it applies a command; the local endpoint refuses it with the same
 * result before proposing, so that it costs no log entry.
 */
export function keyLengthProblem(key: string, keyBytesMax: number): KvErrorResult | null {
  const keyBytes = utf8Length(key);
  if (keyBytes <= keyBytesMax) return null;
  return { type: 'error', code: 'KV_KEY_TOO_LONG', message: `key is ${keyBytes} bytes; keyBytesMax is ${keyBytesMax}` };
}

/** The limits the store enforces. */
export type KvStoreLimits = Pick<KvOptions, 'keyBytesMax' | 'valueBytesMax' | 'keyCountMax' | 'dataBytesMax'> &
  LeaseLimits;

/** The map from key to versioned value. */
export class KvStore {
  private readonly limits: KvStoreLimits;
  /** Invariant: every revision is >= 1 and every key is non-empty and within keyBytesMax when written. */
  private readonly entries = new Map<string, KvVersioned>();
  /** The lease of each leased key. Invariant: every key here is stored, its lease granted and listing it. */
  private readonly keyLeases = new Map<string, number>();
  /** The leases. */
  readonly leases: LeaseTable;
  /** Invariant: the sum of utf8Length(key) + value.length over `entries`. */
  private dataBytesValue = 0;
  /**
   * The store revision: the log index of the last entry that changed the store (0: none yet).
   * Invariant: >= every stored revision; raised by every set and every delete of a present key.
   */
  private revisionValue = 0;
  /** The replicated space quota (quota.ts), bytes; 0: none. Set only by an applied quota command or a snapshot. */
  private quotaBytesValue = 0;
  /** Every key, sorted (UTF-16 code unit order), built on the first listing and kept up to date; null before. */
  private sortedKeys: string[] | null = null;

  constructor(limits: KvStoreLimits) {
    this.limits = limits;
    this.leases = new LeaseTable(limits);
  }

  /** The number of keys stored. */
  get keyCount(): number {
    return this.entries.size;
  }

  /** The key and value bytes stored. */
  get dataBytes(): number {
    return this.dataBytesValue;
  }

  /** The size counted against the quota (quota.ts): key and value bytes plus an overhead per key. */
  get usageBytes(): number {
    return quotaUsageOf(this.entries.size, this.dataBytesValue);
  }

  /** The quota in force, bytes (0: none). */
  get quotaBytes(): number {
    return this.quotaBytesValue;
  }

  /** Sets the quota (0: none), as an applied quota command or a restored snapshot says. */
  setQuota(quotaBytes: number): void {
    assert(Number.isSafeInteger(quotaBytes) && quotaBytes >= 0, 'the quota is a non-negative integer');
    assert(quotaBytes <= QUOTA_BYTES_MAX, 'the quota is at most QUOTA_BYTES_MAX');
    this.quotaBytesValue = quotaBytes;
  }

  /**
   * The quota's error result when a change that leaves the store at `afterBytes` from
   * `beforeBytes` breaks it (see quota.ts), else null.
   */
  checkQuota(beforeBytes: number, afterBytes: number): KvErrorResult | null {
    return breaksQuota(beforeBytes, afterBytes, this.quotaBytesValue)
      ? quotaExceeded(afterBytes, this.quotaBytesValue)
      : null;
  }

  /** The store revision: the log index of the last change (0 before any). */
  get revision(): number {
    return this.revisionValue;
  }

  /**
   * Sets the store revision restored from a snapshot; it never goes below a stored key's
   * revision, which `checkInvariants` checks.
   */
  restoreRevision(revision: number): void {
    assert(Number.isSafeInteger(revision) && revision >= 0, 'the store revision is a log index');
    this.revisionValue = revision;
  }

  /**
   * Raises the store revision to `revision`: a change of the leases (a grant, or a revoke or
   * expiry that deleted nothing) changes the store without writing a key.
   */
  touch(revision: number): void {
    assert(Number.isSafeInteger(revision) && revision >= this.revisionValue, 'the store revision never decreases');
    this.revisionValue = revision;
  }

  /** The value at `key`, or null. */
  get(key: string): KvVersioned | null {
    return this.entries.get(key) ?? null;
  }

  /** The lease `key` is attached to; 0 when none (or absent). */
  leaseOf(key: string): number {
    return this.keyLeases.get(key) ?? 0;
  }

  /** An error result when `key` breaks the key limit, else null. */
  checkKey(key: string): KvErrorResult | null {
    return keyLengthProblem(key, this.limits.keyBytesMax);
  }

  /**
   * An error result when writing `value` at `key` (attached to lease `lease`, 0: none) would
   * break a limit, else null. With `quota` false the quota is left to the caller (a transaction
   * checks its branch as a whole).
   */
  checkWrite(key: string, value: Uint8Array, lease = 0, quota = true): KvErrorResult | null {
    const keyProblem = this.checkKey(key);
    if (keyProblem !== null) return keyProblem;
    if (lease !== 0) {
      const leaseProblem = this.leases.checkAttach(key, lease, this.leaseOf(key));
      if (leaseProblem !== null) return leaseProblem;
    }
    if (value.length > this.limits.valueBytesMax) {
      return {
        type: 'error',
        code: 'KV_VALUE_TOO_LARGE',
        message: `value is ${value.length} bytes; valueBytesMax is ${this.limits.valueBytesMax}`,
      };
    }
    const current = this.entries.get(key);
    if (current === undefined && this.entries.size >= this.limits.keyCountMax) {
      return {
        type: 'error',
        code: 'KV_KEY_COUNT_LIMIT',
        message: `store holds keyCountMax (${this.limits.keyCountMax}) keys`,
      };
    }
    const after =
      this.dataBytesValue + value.length - (current === undefined ? -utf8Length(key) : current.value.length);
    if (after > this.limits.dataBytesMax) {
      return {
        type: 'error',
        code: 'KV_DATA_LIMIT',
        message: `write would store ${after} bytes; dataBytesMax is ${this.limits.dataBytesMax}`,
      };
    }
    if (!quota) return null;
    return this.checkQuota(this.usageBytes, quotaUsageOf(this.entries.size + (current === undefined ? 1 : 0), after));
  }

  /**
   * Writes `value` at `key` with `revision`, attached to `lease` (0: none), and returns what it
   * replaced. The caller ran checkWrite.
   */
  set(key: string, value: Uint8Array, revision: number, lease = 0): KvVersioned | null {
    assert(key.length > 0, 'stored keys are non-empty');
    assert(Number.isSafeInteger(revision) && revision >= 1, 'revisions are log indexes >= 1');
    const previous = this.entries.get(key) ?? null;
    this.leases.move(key, this.leaseOf(key), lease);
    if (lease === 0) this.keyLeases.delete(key);
    else this.keyLeases.set(key, lease);
    const stored: KvVersioned = { value: storedBytes(value), revision };
    this.entries.set(key, stored);
    if (previous === null && this.sortedKeys !== null) this.sortedKeys.splice(lowerBound(this.sortedKeys, key), 0, key);
    this.revisionValue = Math.max(this.revisionValue, revision);
    this.dataBytesValue += value.length - (previous === null ? -utf8Length(key) : previous.value.length);
    return previous;
  }

  /**
   * Deletes `key` as the change of log entry `revision` and returns what it held, or null when
   * it was absent (then nothing changed and the store revision stays).
   */
  delete(key: string, revision: number): KvVersioned | null {
    const previous = this.entries.get(key);
    if (previous === undefined) return null;
    assert(Number.isSafeInteger(revision) && revision >= previous.revision, 'a delete follows the write it removes');
    this.leases.move(key, this.leaseOf(key), 0);
    this.keyLeases.delete(key);
    this.entries.delete(key);
    if (this.sortedKeys !== null) this.sortedKeys.splice(lowerBound(this.sortedKeys, key), 1);
    this.revisionValue = Math.max(this.revisionValue, revision);
    this.dataBytesValue -= utf8Length(key) + previous.value.length;
    assert(this.dataBytesValue >= 0, 'data bytes stay non-negative');
    return previous;
  }

  /** Every key, sorted (UTF-16 code unit order); the array is shared until the key set changes. */
  private keys(): readonly string[] {
    if (this.sortedKeys === null) this.sortedKeys = [...this.entries.keys()].sort();
    return this.sortedKeys;
  }

  /**
   * The entries whose keys start with `prefix` and sort after `after` (all when null), in key
   * order: at most `limit` of them, and no more once their key and value bytes reach
   * `bytesMax` (at least one, so that a caller paging with `after` always advances). `more`:
   * entries past the last one returned match too.
   */
  range(
    prefix: string,
    after: string | null,
    limit: number,
    bytesMax: number,
  ): { readonly entries: (readonly [string, KvVersioned])[]; readonly more: boolean } {
    assert(limit >= 1, 'a range returns at least one entry');
    const keys = this.keys();
    const from = after !== null && after >= prefix ? after : prefix;
    let index = lowerBound(keys, from);
    if (after !== null && keys[index] === after) index += 1;
    const entries: (readonly [string, KvVersioned])[] = [];
    let bytes = 0;
    for (; index < keys.length; index += 1) {
      const key = keys[index];
      if (key === undefined || !key.startsWith(prefix)) return { entries, more: false };
      const versioned = this.entries.get(key);
      assert(versioned !== undefined, 'sorted key is stored');
      const size = utf8Length(key) + versioned.value.length;
      if (entries.length >= limit || (entries.length > 0 && bytes + size > bytesMax)) return { entries, more: true };
      entries.push([key, versioned]);
      bytes += size;
    }
    return { entries, more: false };
  }

  /** Every entry, sorted by key (UTF-16 code unit order), for a deterministic snapshot. */
  sortedEntries(): readonly (readonly [string, KvStored])[] {
    return this.keys().map((key) => {
      const versioned = this.entries.get(key);
      assert(versioned !== undefined, 'sorted key is stored');
      // Field by field: `{ ...versioned, lease }` costs ~0.5 us a key on Node 20 (agent/endpoint/writes.ts, leaseOf).
      const stored: KvStored = { value: versioned.value, revision: versioned.revision, lease: this.leaseOf(key) };
      const entry: readonly [string, KvStored] = [key, stored];
      return entry;
    });
  }

  /**
   * Every key, sorted, beside its value and its lease (0: none): a frozen view (fresh arrays;
   * values are never changed in place, a write stores a new object), so it stays the state of
   * this moment while later writes go on. Costs three slots per key, not the values' bytes.
   */
  entryColumns(): { readonly keys: readonly string[]; readonly values: readonly KvVersioned[]; leases: number[] } {
    const keys = this.keys().slice();
    const values = keys.map((key) => {
      const versioned = this.entries.get(key);
      assert(versioned !== undefined, 'sorted key is stored');
      return versioned;
    });
    return { keys, values, leases: keys.map((key) => this.leaseOf(key)) };
  }

  /**
   * Replaces the whole store by a restored snapshot's `entries` and `leases` (the bulk load of a restore,
   * state-machine.ts): the keys distinct and every lease a key names granted, as decodeKvSnapshot checked them;
   * checkInvariants checks the rest. Each value is a copy of its own, cut to its length (never a view of the
   * caller's image, which the store must not keep alive; `owned`: the values are such copies already, read
   * from a stored image, and are kept as they are), and the size accounting is summed once, instead of
   * set()'s lookups and lease moves per key.
   */
  loadSnapshot(entries: readonly (readonly [string, KvStored])[], leases: readonly KvLease[], owned = false): void {
    this.clear();
    this.leases.load(leases);
    let bytes = 0;
    let revision = 0;
    for (const [key, stored] of entries) {
      const value = owned ? stored.value : stored.value.slice();
      this.entries.set(key, { value, revision: stored.revision });
      if (stored.lease !== 0) {
        this.keyLeases.set(key, stored.lease);
        this.leases.move(key, 0, stored.lease);
      }
      bytes += utf8Length(key) + value.length;
      if (stored.revision > revision) revision = stored.revision;
    }
    assert(this.entries.size === entries.length, 'a snapshot lists each key once');
    this.dataBytesValue = bytes;
    this.revisionValue = revision;
  }

  /** Empties the store, leases included (the quota, a cluster setting, stays until a snapshot sets it). */
  clear(): void {
    this.entries.clear();
    this.keyLeases.clear();
    this.leases.load([]);
    this.sortedKeys = null;
    this.dataBytesValue = 0;
    this.revisionValue = 0;
  }

  /** Recomputes the size accounting and checks it and every revision against `lastApplied`. */
  checkInvariants(lastApplied: number): void {
    let bytes = 0;
    for (const [key, lease] of this.keyLeases) {
      assert(this.entries.has(key), 'a leased key is stored');
      assert(this.leases.get(lease) !== null, 'a key lease is granted');
    }
    for (const [key, versioned] of this.entries) {
      assert(key.length > 0, 'stored keys are non-empty');
      assert(versioned.revision >= 1, 'revisions are >= 1');
      assert(versioned.revision <= lastApplied, 'no revision is beyond lastApplied');
      assert(versioned.revision <= this.revisionValue, 'no key revision is beyond the store revision');
      bytes += utf8Length(key) + versioned.value.length;
    }
    assert(bytes === this.dataBytesValue, 'dataBytes matches the stored entries');
    assert(this.revisionValue <= lastApplied, 'the store revision is not beyond lastApplied');
    assert(this.keyLeases.size === this.leases.attachedCount(), 'every leased key is listed by its lease');
    this.leases.checkInvariants(lastApplied, (key) => this.leaseOf(key));
  }
}

/** The first position in sorted `keys` whose key is >= `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const probe = keys[middle];
    if (probe !== undefined && probe < key) low = middle + 1;
    else high = middle;
  }
  return low;
}
