/**
 * What a key-value snapshot holds (agent/kv/snapshot.ts encodes and decodes it; snapshot-tail.ts
 * encodes its items after the entries): a type of its own, so that both use it without importing
 * each other.
 */
import type { RequestIdEntry } from './request-ids.js';
import type { SessionEntry } from './sessions.js';
import type { KvChange } from './history.js';
import type { KvLease } from './leases.js';
import type { KvStored } from './store.js';

/** Everything a snapshot holds. */
export interface KvSnapshotImage {
  /** The index of the last entry applied. */
  readonly lastApplied: number;
  /** The log clock, ms. */
  readonly clockMs: number;
  /** Every key, sorted, with the lease it is attached to (0: none). */
  readonly entries: readonly (readonly [string, KvStored])[];
  /** Every session, least recently used first. */
  readonly sessions: readonly SessionEntry[];
  /** Every request id, oldest first. */
  readonly requestIds: readonly RequestIdEntry[];
  /** The store revision: the log index of the last change; from 0 to lastApplied, >= every key's revision. */
  readonly storeRevision: number;
  /** The history window holds every change above this revision. */
  readonly historyCompacted: number;
  /** The history window, in revision order. */
  readonly history: readonly KvChange[];
  /** The cluster's quota, bytes; 0: none. */
  readonly quotaBytes: number;
  /** The NOSPACE alarm of the quota. */
  readonly quotaAlarm: boolean;
  /** The leases, by increasing id. */
  readonly leases: readonly KvLease[];
}
