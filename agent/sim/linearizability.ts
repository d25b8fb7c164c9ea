/**
 * A linearizability checker for KV histories (reference Property 15), after Wing & Gong's
 * search with Lowe's memoisation, as in Porcupine (Athalye) and Knossos (Kingsbury).
 *
 * The model is one register per key (a string, or absent). Keys that no multi-key transaction
 * ties together are independent, so each key's sub-history is checked alone (P-compositionality,
 * Horn & Kroening); keys that transactions tie together (a connected component of the graph whose
 * edges are the transactions' key sets) are checked together as a map of registers, a `txn`
 * comparing several keys and writing several at one point (linearizability-model.ts). The search
 * stays bounded: each component's states are limited by statesMaxPerKey and cacheBytesMaxPerKey,
 * and a component is only as large as the transactions make it. For one key, invoke and
 * completion events are put in a doubly linked list in time order (at equal times invokes come
 * first, so that touching operations count as concurrent). The search walks the list: the first
 * operations whose invoke precedes every pending completion may take effect next; taking one
 * applies it to the model and unlinks it; meeting a completion means the operation completing
 * there could not take effect in time, so the search backtracks. An explicit stack holds the
 * choices (never recursion), and a set of (operations taken, register value) pairs already seen
 * prunes the search: reaching a seen pair again cannot succeed where it failed before. The search
 * itself, with the order in which it tries candidates and its prunes, is in
 * linearizability-key.ts; its memo in linearizability-memo.ts.
 *
 * `fail` operations are dropped (they did not happen). `info` operations (and operations never
 * completed) complete at infinity: they may take effect at any time after their invoke, or never,
 * so the search succeeds once every `ok` operation has taken effect. An info get constrains
 * nothing and is dropped.
 */
import { assert } from '../../contracts/assert.js';
import type { HistoryOperation } from './history.js';
import { isTxnArgument, pairOperations, parseHistory } from './history.js';
import type { DeepestPoint } from './linearizability-key.js';
import { KeySearch } from './linearizability-key.js';
import { RegisterMapModel, RegisterModel, type SearchModel } from './linearizability-model.js';
import { describeOperation } from './linearizability-search.js';

/** Limits of the search. */
export interface LinearizabilityOptions {
  /**
   * Most (operations taken, value) states remembered for one key before giving up with `unknown`. Default 1,000,000.
   * Limit: >= 1.
   */
  readonly statesMaxPerKey: number;
  /** Most bytes of remembered states for one key before giving up with `unknown`. Default 256 MiB. Limit: >= 1 MiB. */
  readonly cacheBytesMaxPerKey: number;
  /** Most operations listed in a failure's window. Default 12. Limit: >= 1. */
  readonly windowOperationsMax: number;
}

/** The defaults. */
export const DEFAULT_LINEARIZABILITY_OPTIONS: LinearizabilityOptions = {
  statesMaxPerKey: 1_000_000,
  cacheBytesMaxPerKey: 256 * 1024 * 1024,
  windowOperationsMax: 12,
};

/** Counts of one check. */
export interface LinearizabilityStats {
  readonly keys: number;
  /** Operations checked, over the keys checked (fail operations and info gets excluded). */
  readonly operations: number;
  /** States remembered, over every key checked. */
  readonly statesExplored: number;
}

/** The verdict of a check. */
export type LinearizabilityResult =
  | ({ readonly ok: true } & LinearizabilityStats)
  | ({
      readonly ok: false;
      /** The key whose operations cannot be linearized. */
      readonly key: string;
      /** What could not happen, in words. */
      readonly explanation: string;
      /** The operations around the point where every linearization failed, by invoke time. */
      readonly window: readonly HistoryOperation[];
    } & LinearizabilityStats)
  | ({ readonly ok: 'unknown'; readonly key: string; readonly explanation: string } & LinearizabilityStats);

/** The outcome for one key. */
type KeyVerdict =
  | { readonly ok: true; readonly states: number }
  | {
      readonly ok: false;
      readonly states: number;
      readonly explanation: string;
      readonly window: readonly HistoryOperation[];
    }
  | { readonly ok: 'unknown'; readonly states: number; readonly explanation: string };

/** Checks the operations of one key, or of a component of keys (see linearizability-key.ts for the search). */
function checkKey(
  keys: readonly string[],
  ops: readonly HistoryOperation[],
  options: LinearizabilityOptions,
): KeyVerdict {
  const model =
    keys.length === 1
      ? new RegisterModel(keys[0] ?? '', ops)
      : new RegisterMapModel(keys, ops, options.statesMaxPerKey);
  const outcome = new KeySearch(ops, model, options).run();
  if (outcome.ok === true) return outcome;
  if (outcome.ok === 'unknown')
    return {
      ok: 'unknown',
      states: outcome.states,
      explanation: `gave up after ${outcome.states} states (${outcome.reason})`,
    };
  return explainFailure(ops, outcome.model, outcome.deepest, outcome.states, options);
}

function explainFailure(
  ops: readonly HistoryOperation[],
  model: SearchModel,
  deepest: DeepestPoint,
  states: number,
  options: LinearizabilityOptions,
): KeyVerdict {
  const blocked = ops[deepest.blockedOp];
  assert(blocked !== undefined, 'a failure names the operation that could not take effect');
  const windowIds = new Set<number>([deepest.blockedOp, ...deepest.recent, ...deepest.candidates]);
  for (let i = 0; i < ops.length && windowIds.size < options.windowOperationsMax; i += 1) {
    const op = ops[i];
    if (op !== undefined && op.invokeMs <= blocked.completeMs && op.completeMs >= blocked.invokeMs) windowIds.add(i);
  }
  const window = [...windowIds]
    .slice(0, options.windowOperationsMax)
    .flatMap((i) => (ops[i] === undefined ? [] : [ops[i]]))
    .sort((a, b) => a.invokeMs - b.invokeMs);
  const last = deepest.recent.flatMap((i) => (ops[i] === undefined ? [] : [describeOperation(ops[i])]));
  const explanation =
    `no linearization: at best ${deepest.depth} of ${ops.length} operations take effect` +
    (last.length > 0 ? ` (the last: ${last.join('; ')})` : '') +
    `, leaving ${model.describe(deepest.value)}; ` +
    `then ${describeOperation(blocked)} must take effect by ${blocked.completeMs} ms, ` +
    'but neither it nor any operation pending with it can take effect in that state';
  return { ok: false, states, explanation, window };
}

/**
 * Checks that `operations` (from `pairOperations`) are linearizable as a map of registers.
 * Keys are checked one at a time, in sorted order; the first key that fails is reported. A key
 * whose search runs out of budget makes the result `unknown` unless another key fails.
 */
export function checkLinearizability(
  operations: readonly HistoryOperation[],
  options: Partial<LinearizabilityOptions> = {},
): LinearizabilityResult {
  const resolved: LinearizabilityOptions = { ...DEFAULT_LINEARIZABILITY_OPTIONS, ...options };
  assert(Number.isSafeInteger(resolved.statesMaxPerKey) && resolved.statesMaxPerKey >= 1, 'statesMaxPerKey >= 1');
  assert(
    Number.isSafeInteger(resolved.cacheBytesMaxPerKey) && resolved.cacheBytesMaxPerKey >= 1 << 20,
    'cacheBytesMaxPerKey >= 1 MiB',
  );
  assert(
    Number.isSafeInteger(resolved.windowOperationsMax) && resolved.windowOperationsMax >= 1,
    'windowOperationsMax >= 1',
  );
  const byKey = componentsOf(operations.filter((op) => !constrainsNothing(op)));
  const keyCount = [...byKey.values()].reduce((sum, group) => sum + group.keys.length, 0);
  let states = 0;
  let checked = 0;
  let unknown: { readonly key: string; readonly explanation: string } | null = null;
  for (const key of [...byKey.keys()].sort()) {
    const { keys, ops } = byKey.get(key) ?? { keys: [key], ops: [] };
    const verdict = checkKey(keys, ops, resolved);
    states += verdict.states;
    checked += ops.length;
    const stats = { keys: keyCount, operations: checked, statesExplored: states };
    const named =
      keys.length === 1 ? `key ${JSON.stringify(key)}` : `keys ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
    if (verdict.ok === false)
      return {
        ok: false,
        key,
        explanation: `${named}: ${verdict.explanation}`,
        window: verdict.window,
        ...stats,
      };
    if (verdict.ok === 'unknown' && unknown === null)
      unknown = { key, explanation: `${named}: ${verdict.explanation}` };
  }
  const stats = { keys: keyCount, operations: checked, statesExplored: states };
  return unknown === null ? { ok: true, ...stats } : { ok: 'unknown', ...unknown, ...stats };
}

/** A failed operation did not happen; a read of unknown outcome (get, txn without writes) constrains nothing. */
function constrainsNothing(op: HistoryOperation): boolean {
  if (op.status === 'fail') return true;
  if (op.status !== 'info') return false;
  return op.op === 'get' || (isTxnArgument(op.value) && Object.keys(op.value.set).length === 0);
}

/**
 * The operations grouped by component: keys that a multi-key txn names together are one
 * component (union-find), checked as a map of registers; every other key alone, as a register.
 * Each component is named by its smallest key, its keys sorted, its operations in input order.
 */
function componentsOf(
  operations: readonly HistoryOperation[],
): Map<string, { readonly keys: string[]; readonly ops: HistoryOperation[] }> {
  const parent = new Map<string, string>();
  const find = (key: string): string => {
    let root = key;
    for (let next = parent.get(root); next !== undefined && next !== root; next = parent.get(root)) root = next;
    for (let at = key; at !== root;) {
      const next = parent.get(at) ?? root;
      parent.set(at, root);
      at = next;
    }
    return root;
  };
  for (const op of operations) {
    const keys = op.keys ?? [op.key];
    for (const key of keys) if (!parent.has(key)) parent.set(key, key);
    for (const key of keys.slice(1)) {
      const [a, b] = [find(keys[0] ?? key), find(key)];
      if (a !== b) parent.set(a < b ? b : a, a < b ? a : b);
    }
  }
  const groups = new Map<string, { keys: string[]; ops: HistoryOperation[] }>();
  for (const key of [...parent.keys()].sort()) {
    const root = find(key);
    const group = groups.get(root) ?? { keys: [], ops: [] };
    group.keys.push(key);
    groups.set(root, group);
  }
  for (const op of operations) groups.get(find((op.keys ?? [op.key])[0] ?? op.key))?.ops.push(op);
  return groups;
}

/** Parses a JSON Lines history, pairs its events and checks it; parse errors throw SerializationError. */
export function checkHistoryText(text: string, options: Partial<LinearizabilityOptions> = {}): LinearizabilityResult {
  return checkLinearizability(pairOperations(parseHistory(text)), options);
}
