/**
 * Transactions: a list of compares, then the operations of the branch they choose, run in
 * order against the store as the one change of one log entry. All or nothing: when an
 * operation is refused (a limit), every change of the branch is undone and the transaction
 * answers that operation's error, so the store and its revision are as before. Deterministic:
 * it depends only on the store and the entry.
 *
 * Encoding in a command: `compare: [[key, 'rev', r] | [key, 'value', bytes] | [key, 'absent']]`,
 * `success` and `failure: [['put', key, bytes, (lease)] | ['delete', key] | ['get', key]]`; in a result
 * `results: [['put', rev] | ['delete', deleted] | ['get', {value, rev} | null]]`.
 */
import { assertNever } from '../../contracts/assert.js';
import { asByteString, malformed, readArray, readBytes, readInteger, readString } from './fields.js';
import type { KvStore } from './store.js';
import type {
  KvCompare,
  KvErrorResult,
  KvResult,
  KvTxnOp,
  KvTxnOperation,
  KvTxnOpResult,
  KvVersioned,
} from './types.js';

/** Most compares of a transaction, and most operations of each branch. */
export const TXN_OPS_MAX = 64;

function holds(store: KvStore, compare: KvCompare): boolean {
  const current = store.get(compare.key);
  switch (compare.target) {
    case 'revision':
      return (current === null ? 0 : current.revision) === compare.revision;
    case 'value':
      return current !== null && Buffer.from(current.value).equals(compare.value);
    case 'absent':
      return current === null;
    default:
      return assertNever(compare, 'unknown compare');
  }
}

/** One undo step: the key and what it held before the branch changed it. */
interface Undo {
  readonly key: string;
  readonly previous: KvVersioned | null;
  /** The lease the key was attached to (0: none). */
  readonly lease: number;
}

function runOp(store: KvStore, op: KvTxnOp, index: number, undo: Undo[]): KvTxnOpResult | KvErrorResult {
  switch (op.op) {
    case 'get':
      return store.checkKey(op.key) ?? { type: 'get', current: store.get(op.key) };
    case 'put': {
      // The quota is checked for the branch as a whole (executeTxn), so a branch that frees space runs.
      const problem = store.checkWrite(op.key, op.value, op.lease ?? 0, false);
      if (problem !== null) return problem;
      const lease = store.leaseOf(op.key);
      undo.push({ key: op.key, previous: store.set(op.key, op.value, index, op.lease ?? 0), lease });
      return { type: 'put', revision: index };
    }
    case 'delete': {
      const problem = store.checkKey(op.key);
      if (problem !== null) return problem;
      const lease = store.leaseOf(op.key);
      const previous = store.delete(op.key, index);
      if (previous !== null) undo.push({ key: op.key, previous, lease });
      return { type: 'delete', deleted: previous !== null };
    }
    default:
      return assertNever(op, 'unknown transaction operation');
  }
}

/** Runs a transaction as the command of log entry `index`. */
export function executeTxn(store: KvStore, txn: KvTxnOperation, index: number): KvResult {
  for (const compare of txn.compare) {
    const problem = store.checkKey(compare.key);
    if (problem !== null) return problem;
  }
  const succeeded = txn.compare.every((compare) => holds(store, compare));
  const revisionBefore = store.revision;
  const usageBefore = store.usageBytes;
  const undo: Undo[] = [];
  const results: KvTxnOpResult[] = [];
  for (const op of succeeded ? txn.success : txn.failure) {
    const result = runOp(store, op, index, undo);
    if (result.type === 'error') return undoBranch(store, undo, index, revisionBefore, result);
    results.push(result);
  }
  const overQuota = store.checkQuota(usageBefore, store.usageBytes);
  if (overQuota !== null) return undoBranch(store, undo, index, revisionBefore, overQuota);
  return { type: 'txn', succeeded, results };
}

/** Undoes the changes of a refused branch, newest first, and answers the refusal. */
function undoBranch(
  store: KvStore,
  undo: Undo[],
  index: number,
  revisionBefore: number,
  refusal: KvErrorResult,
): KvErrorResult {
  for (const step of undo.reverse()) {
    if (step.previous === null) store.delete(step.key, index);
    else store.set(step.key, step.previous.value, step.previous.revision, step.lease);
  }
  store.restoreRevision(revisionBefore);
  return refusal;
}

/** Every key a transaction names (compares and both branches). */
export function txnKeys(txn: KvTxnOperation): string[] {
  return [...txn.compare, ...txn.success, ...txn.failure].map((item) => item.key);
}

function encodeCompare(compare: KvCompare): unknown[] {
  switch (compare.target) {
    case 'revision':
      return [compare.key, 'rev', compare.revision];
    case 'value':
      return [compare.key, 'value', asByteString(compare.value)];
    case 'absent':
      return [compare.key, 'absent'];
  }
}

function encodeOp(op: KvTxnOp): unknown[] {
  if (op.op !== 'put') return [op.op, op.key];
  const put = ['put', op.key, asByteString(op.value)];
  return op.lease === undefined ? put : [...put, op.lease];
}

/** The txn fields of a command map. */
export function encodeTxnFields(txn: KvTxnOperation): Record<string, unknown> {
  return {
    op: 'txn',
    compare: txn.compare.map(encodeCompare),
    success: txn.success.map(encodeOp),
    failure: txn.failure.map(encodeOp),
  };
}

function readKey(value: unknown, what: string): string {
  const key = readString(value, what);
  if (key.length === 0) throw malformed(`${what} must not be empty`);
  return key;
}

function decodeCompare(value: unknown): KvCompare {
  const items = readArray(value, 'txn compare', 3);
  const key = readKey(items[0], 'txn compare key');
  const target = items[1];
  if (target === 'rev' && items.length === 3)
    return { key, target: 'revision', revision: readInteger(items[2], 'txn compare revision', 0) };
  if (target === 'value' && items.length === 3)
    return { key, target: 'value', value: readBytes(items[2], 'txn compare value') };
  if (target === 'absent' && items.length === 2) return { key, target: 'absent' };
  throw malformed("txn compare must be [key, 'rev', r], [key, 'value', bytes] or [key, 'absent']");
}

function decodeOp(value: unknown): KvTxnOp {
  const items = readArray(value, 'txn operation', 4);
  const op = items[0];
  const key = readKey(items[1], 'txn operation key');
  if (op === 'put' && items.length === 3) return { op, key, value: readBytes(items[2], 'txn put value') };
  if (op === 'put' && items.length === 4)
    return { op, key, value: readBytes(items[2], 'txn put value'), lease: readInteger(items[3], 'txn put lease', 1) };
  if ((op === 'delete' || op === 'get') && items.length === 2) return { op, key };
  throw malformed("txn operation must be ['put', key, bytes, (lease)], ['delete', key] or ['get', key]");
}

/** Reads the txn fields of a decoded command map (compare, success, failure). */
export function decodeTxnFields(compare: unknown, success: unknown, failure: unknown): KvTxnOperation {
  return {
    op: 'txn',
    compare: readArray(compare, 'txn compare list', TXN_OPS_MAX).map(decodeCompare),
    success: readArray(success, 'txn success list', TXN_OPS_MAX).map(decodeOp),
    failure: readArray(failure, 'txn failure list', TXN_OPS_MAX).map(decodeOp),
  };
}

/** The results of a txn result, as CBOR items. */
export function encodeTxnResults(results: readonly KvTxnOpResult[]): unknown[] {
  return results.map((result) => {
    switch (result.type) {
      case 'put':
        return ['put', result.revision];
      case 'delete':
        return ['delete', result.deleted];
      case 'get':
        return [
          'get',
          result.current === null ? null : { value: asByteString(result.current.value), rev: result.current.revision },
        ];
    }
  });
}

function decodeCurrent(value: unknown): KvVersioned | null {
  if (value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw malformed('txn get result must be a map or null');
  const record = new Map<string, unknown>(Object.entries(value));
  if (record.size !== 2) throw malformed('txn get result must have value and rev');
  return {
    value: readBytes(record.get('value'), 'txn get result value'),
    revision: readInteger(record.get('rev'), 'txn get result revision', 1),
  };
}

/** Reads the results of a txn result. */
export function decodeTxnResults(value: unknown): KvTxnOpResult[] {
  return readArray(value, 'txn results', TXN_OPS_MAX).map((item) => {
    const pair = readArray(item, 'txn op result', 2);
    if (pair.length !== 2) throw malformed('txn op result must have 2 items');
    if (pair[0] === 'put') return { type: 'put', revision: readInteger(pair[1], 'txn put revision', 1) };
    if (pair[0] === 'delete') {
      if (typeof pair[1] !== 'boolean') throw malformed('txn delete result must be a boolean');
      return { type: 'delete', deleted: pair[1] };
    }
    if (pair[0] === 'get') return { type: 'get', current: decodeCurrent(pair[1]) };
    throw malformed('txn op result: unknown type');
  });
}
