/**
 * Runs the lease operations of the log against the store (leases.ts): a grant makes a lease
 * whose id is the entry's index; a keepalive moves its refresh index to the entry's index; a
 * revoke, or an expiry whose refresh index still matches, deletes every key of the lease at the
 * entry's index and forgets it. A grant, a revoke and an effective expiry raise the store
 * revision (they change the store), a keepalive does not (it changes no key and no lease
 * membership, only the leader's countdown). Deterministic: the same store, operation and index
 * give the same result, the same store and the same changes.
 */
import { assert, assertNever } from '../../contracts/assert.js';
import type { KvChange } from './history.js';
import type { KvStore } from './store.js';
import type { KvLeaseOperation, KvOperation, KvResult } from './types.js';

/** The result of a lease operation and the key changes it made (deletes), for the history. */
export interface LeaseOutcome {
  readonly result: KvResult;
  readonly changes: readonly KvChange[];
}

function ended(store: KvStore, id: number, index: number): LeaseOutcome {
  if (store.leases.get(id) === null) return { result: notFound(id), changes: [] };
  const changes: KvChange[] = [];
  for (const key of store.leases.keysOf(id)) {
    const removed = store.delete(key, index);
    if (removed !== null) changes.push({ revision: index, key, value: null });
  }
  const rest = store.leases.remove(id);
  assert(rest !== null && rest.length === 0, 'an ended lease keeps no key');
  store.touch(index);
  return { result: { type: 'lease-end', id, ended: true, deletedKeys: changes.length }, changes };
}

function notFound(id: number): KvResult {
  return { type: 'error', code: 'KV_LEASE_NOT_FOUND', message: `lease ${id} is not granted (expired or revoked?)` };
}

/** The lease `id` as a result, its keys listed (at most `keysMax` of them), or not found. */
export function leaseResult(store: KvStore, id: number, keysMax: number): KvResult {
  const lease = store.leases.get(id);
  if (lease === null) return notFound(id);
  return { type: 'lease', ...lease, keys: store.leases.keysOf(id).slice(0, keysMax) };
}

/** True for the lease operations. */
export function isLeaseOperation<T extends KvOperation>(operation: T): operation is T & KvLeaseOperation {
  return operation.op.startsWith('lease-');
}

/** Runs a lease operation as the command of log entry `index`. */
export function executeLease(store: KvStore, operation: KvLeaseOperation, index: number): LeaseOutcome {
  switch (operation.op) {
    case 'lease-grant': {
      const problem = store.leases.checkGrant(operation.ttlMs);
      if (problem !== null) return { result: problem, changes: [] };
      store.leases.grant(index, operation.ttlMs);
      store.touch(index);
      return {
        result: { type: 'lease', id: index, ttlMs: operation.ttlMs, refreshIndex: index, keys: [] },
        changes: [],
      };
    }
    case 'lease-keepalive': {
      const problem = store.leases.refresh(operation.id, index);
      if (problem !== null) return { result: problem, changes: [] };
      return { result: leaseResult(store, operation.id, 0), changes: [] };
    }
    case 'lease-revoke':
      return ended(store, operation.id, index);
    case 'lease-expire': {
      const lease = store.leases.get(operation.id);
      // Refreshed since the leader counted down from `refreshIndex` (or ended already): nothing to do.
      if (lease === null || lease.refreshIndex !== operation.refreshIndex)
        return { result: { type: 'lease-end', id: operation.id, ended: false, deletedKeys: 0 }, changes: [] };
      return ended(store, operation.id, index);
    }
    default:
      return assertNever(operation, 'unknown lease operation');
  }
}
