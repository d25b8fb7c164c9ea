// Proves the linearizability checker (with its memo and prunes) agrees with a brute-force
// reference on small random histories that are often not linearizable: random operations,
// windows, statuses (ok, info, fail) and read values over two keys and a pool of three values.
// The reference tries every order of every subset of the info operations directly from the
// definition: an ok or taken operation may go next only if no pending ok operation completed
// before it was invoked, and every step must be legal for a register.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import type { HistoryOp, HistoryOperation } from '../../../agent/sim/history.js';
import { isTxnArgument, keysOf } from '../../../agent/sim/history.js';
import { checkLinearizability } from '../../../agent/sim/linearizability.js';
import { fcParams } from '../../fc-params.js';

type Register = string | null;

function apply(op: HistoryOperation, state: Register): Register | undefined {
  switch (op.op) {
    case 'put':
      return typeof op.value === 'string' ? op.value : undefined;
    case 'delete':
      return null;
    case 'get':
      return op.status !== 'ok' || op.output === state ? state : undefined;
    case 'cas':
      return op.value !== null && typeof op.value === 'object' && !isTxnArgument(op.value) && op.value.expect === state
        ? op.value.set
        : undefined;
    case 'txn':
      return undefined;
  }
}

/** One step over a map of registers (every key absent at first), or undefined when illegal. */
function applyMap(op: HistoryOperation, state: ReadonlyMap<string, string>): Map<string, string> | undefined {
  const next = new Map(state);
  if (op.op === 'txn') {
    assert.ok(isTxnArgument(op.value));
    for (const [key, want] of Object.entries(op.value.expect)) if ((state.get(key) ?? null) !== want) return undefined;
    for (const [key, value] of Object.entries(op.value.set)) {
      if (value === null) next.delete(key);
      else next.set(key, value);
    }
    return next;
  }
  const value = apply(op, state.get(op.key) ?? null);
  if (value === undefined) return undefined;
  if (value === null) next.delete(op.key);
  else next.set(op.key, value);
  return next;
}

/** Brute force over orders of every operation, on a map of registers (fail operations removed). */
function referenceMap(ops: readonly HistoryOperation[]): boolean {
  const taken = new Array<boolean>(ops.length).fill(false);
  const search = (state: ReadonlyMap<string, string>, okLeft: number): boolean => {
    if (okLeft === 0) return true;
    for (let i = 0; i < ops.length; i += 1) {
      const op = ops[i];
      if (op === undefined || taken[i] === true) continue;
      if (ops.some((p, j) => taken[j] !== true && j !== i && p.status === 'ok' && p.completeMs < op.invokeMs)) continue;
      const next = applyMap(op, state);
      if (next === undefined) continue;
      taken[i] = true;
      const found = search(next, okLeft - (op.status === 'ok' ? 1 : 0));
      taken[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(new Map(), ops.filter((o) => o.status === 'ok').length);
}

/** Brute force over orders for one key's operations (fail operations removed). */
function referenceKey(ops: readonly HistoryOperation[]): boolean {
  const taken = new Array<boolean>(ops.length).fill(false);
  const search = (state: Register, okLeft: number): boolean => {
    if (okLeft === 0) return true;
    for (let i = 0; i < ops.length; i += 1) {
      const op = ops[i];
      if (op === undefined || taken[i] === true) continue;
      const blocked = ops.some(
        (p, j) => taken[j] !== true && j !== i && p.status === 'ok' && p.completeMs < op.invokeMs,
      );
      if (blocked) continue;
      const next = apply(op, state);
      if (next === undefined) continue;
      taken[i] = true;
      const found = search(next, okLeft - (op.status === 'ok' ? 1 : 0));
      taken[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(null, ops.filter((o) => o.status === 'ok').length);
}

function reference(ops: readonly HistoryOperation[]): boolean {
  const keys = [...new Set(ops.map((o) => o.key))];
  return keys.every((key) => referenceKey(ops.filter((o) => o.key === key && o.status !== 'fail')));
}

const valueArb = fc.constantFrom('a', 'b', 'c');
const opArb: fc.Arbitrary<HistoryOperation> = fc
  .record(
    {
      op: fc.constantFrom<HistoryOp>('put', 'put', 'get', 'get', 'delete', 'cas'),
      key: fc.constantFrom('x', 'x', 'x', 'y'),
      value: valueArb,
      expect: fc.option(valueArb, { nil: null }),
      read: fc.option(valueArb, { nil: null }),
      invokeMs: fc.integer({ min: 0, max: 12 }),
      durationMs: fc.integer({ min: 0, max: 8 }),
      status: fc.constantFrom<HistoryOperation['status']>('ok', 'ok', 'ok', 'ok', 'info', 'fail'),
    },
    { noNullPrototype: true },
  )
  .map((r): HistoryOperation => ({
    client: 'c',
    id: 0,
    op: r.op,
    key: r.key,
    value: r.op === 'put' ? r.value : r.op === 'cas' ? { expect: r.expect, set: r.value } : null,
    output: r.op === 'get' && r.status === 'ok' ? r.read : null,
    invokeMs: r.invokeMs,
    completeMs: r.status === 'info' ? Infinity : r.invokeMs + r.durationMs,
    status: r.status,
  }));

const keyArb = fc.constantFrom('x', 'y', 'z');
const txnArb: fc.Arbitrary<HistoryOperation> = fc
  .record(
    {
      expect: fc.dictionary(keyArb, fc.option(valueArb, { nil: null }), { maxKeys: 2 }),
      set: fc.dictionary(keyArb, fc.option(valueArb, { nil: null }), { maxKeys: 2 }),
      invokeMs: fc.integer({ min: 0, max: 12 }),
      durationMs: fc.integer({ min: 0, max: 8 }),
      status: fc.constantFrom<HistoryOperation['status']>('ok', 'ok', 'ok', 'info', 'fail'),
    },
    { noNullPrototype: true },
  )
  .map((r): HistoryOperation => {
    const value = { expect: { ...r.expect }, set: { ...r.set } };
    const keys = keysOf('txn', 'x', value);
    return {
      client: 'c',
      id: 0,
      op: 'txn',
      key: keys[0] ?? 'x',
      keys: keys.length === 0 ? ['x'] : keys,
      value,
      output: null,
      invokeMs: r.invokeMs,
      completeMs: r.status === 'info' ? Infinity : r.invokeMs + r.durationMs,
      status: r.status,
    };
  });
const mixedArb = fc.oneof(
  opArb.map((op) => ({ ...op, key: op.key === 'y' ? 'z' : op.key })),
  txnArb,
  txnArb,
);

describe('linearizability checker against a brute-force reference', () => {
  it('gives the same verdict on small random histories with multi-key transactions (a map of registers)', () => {
    let violations = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.array(mixedArb, { minLength: 1, maxLength: 7 }), (drawn) => {
        const ops = drawn.map((o, i) => ({ ...o, id: i }));
        const expected = referenceMap(ops.filter((o) => o.status !== 'fail'));
        const result = checkLinearizability(ops);
        runs += 1;
        if (!expected) violations += 1;
        assert.equal(result.ok, expected, result.ok === true ? 'checker accepted' : result.explanation);
      }),
      fcParams(3000, 'lincheck with txns agrees with brute force'),
    );
    assert.ok(violations > runs / 10 && violations < (runs * 9) / 10, `${violations} of ${runs} not linearizable`);
  });

  it('gives the same verdict on small random histories', () => {
    let violations = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 8 }), (drawn) => {
        const ops = drawn.map((o, i) => ({ ...o, id: i }));
        const expected = reference(ops);
        const result = checkLinearizability(ops);
        runs += 1;
        if (!expected) violations += 1;
        assert.equal(result.ok, expected, result.ok === true ? 'checker accepted' : result.explanation);
      }),
      fcParams(3000, 'lincheck agrees with brute force'),
    );
    // The generator must produce both verdicts often enough for the comparison to mean much.
    assert.ok(violations > runs / 10 && violations < (runs * 9) / 10, `${violations} of ${runs} not linearizable`);
  });
});
