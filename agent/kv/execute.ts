/**
 * Runs one decoded operation against the store at log index `index`. Pure with respect to
 * everything but the store: the same store, operation and index always give the same result
 * and the same store afterwards. Limits are checked before any change.
 */
import { assertNever } from '../../contracts/assert.js';
import type { KvStore } from './store.js';
import { executeTxn, txnKeys } from './txn.js';
import { executeLease } from './lease-ops.js';
import type { KvListQuery, KvOperation, KvResult } from './types.js';

/** Most keys one listing returns. */
export const LIST_ITEMS_MAX = 1000;
/**
 * Key and value bytes past which a listing stops (it holds at least one key, so it may exceed
 * this by one value): bounds a reply, sent block-wise (Block2) when larger than one block.
 */
export const LIST_BYTES_MAX = 256 * 1024;

/** Runs `operation` as the command of log entry `index`. */
export function executeOperation(store: KvStore, operation: KvOperation, index: number): KvResult {
  switch (operation.op) {
    case 'get':
      return store.checkKey(operation.key) ?? { type: 'get', current: store.get(operation.key) };
    case 'put': {
      const problem = store.checkWrite(operation.key, operation.value, operation.lease ?? 0);
      if (problem !== null) return problem;
      const previous = store.set(operation.key, operation.value, index, operation.lease ?? 0);
      const replaced = operation.returnPrevious ? previous : null;
      return { type: 'put', revision: index, previous: replaced, created: previous === null };
    }
    case 'delete': {
      const problem = store.checkKey(operation.key);
      if (problem !== null) return problem;
      const previous = store.delete(operation.key, index);
      return {
        type: 'delete',
        revision: index,
        deleted: previous !== null,
        previous: operation.returnPrevious ? previous : null,
      };
    }
    case 'cas': {
      const problem = store.checkWrite(operation.key, operation.value, operation.lease ?? 0);
      if (problem !== null) return problem;
      const current = store.get(operation.key);
      const currentRevision = current === null ? 0 : current.revision;
      if (currentRevision !== operation.expectedRevision) return { type: 'cas', succeeded: false, current };
      store.set(operation.key, operation.value, index, operation.lease ?? 0);
      return { type: 'cas', succeeded: true, revision: index };
    }
    case 'txn':
      return executeTxn(store, operation, index);
    case 'lease-grant':
    case 'lease-keepalive':
    case 'lease-revoke':
    case 'lease-expire':
      return executeLease(store, operation, index).result;
    default:
      return assertNever(operation, 'unknown KV operation');
  }
}

/** Runs a read-only query: the same as a get command, without an index. */
export function executeGet(store: KvStore, key: string): KvResult {
  return store.checkKey(key) ?? { type: 'get', current: store.get(key) };
}

/** Lists keys by prefix (see KvListQuery). */
export function executeList(store: KvStore, query: KvListQuery): KvResult {
  const { entries, more } = store.range(
    query.prefix,
    query.after,
    Math.min(query.limit, LIST_ITEMS_MAX),
    LIST_BYTES_MAX,
  );
  return { type: 'list', items: entries.map(([key, versioned]) => ({ key, ...versioned })), more };
}

/** Every key a command's operation names (none for a lease operation: its keys are the lease's). */
export function operationKeys(operation: KvOperation): string[] {
  switch (operation.op) {
    case 'txn':
      return txnKeys(operation);
    case 'lease-grant':
    case 'lease-keepalive':
    case 'lease-revoke':
    case 'lease-expire':
      return [];
    default:
      return [operation.key];
  }
}
