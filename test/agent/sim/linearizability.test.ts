// Proves the linearizability checker on hand-written histories (sequential and concurrent
// linearizable ones; a stale read after a completed write; a read of a value never written; two
// readers seeing two writes in opposite orders; info operations that must be assumed applied or
// not applied; fail operations; cas and delete; keys checked independently; the search budget;
// a long history without recursion; multi-key transactions in the map-of-registers model: an
// atomic swap, a torn read, lost updates across keys, parsed from JSON Lines), then by
// properties: histories generated from a sequential
// model with linearization points inside random windows are always linearizable, and changing
// one read to a value it cannot have read makes them non-linearizable, naming that key.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { SeededPrng } from '../../../contracts/prng.js';
import type { CasArgument, HistoryOp, HistoryOperation } from '../../../agent/sim/history.js';
import { formatHistoryEvent, pairOperations, parseHistory } from '../../../agent/sim/history.js';
import { checkHistoryText, checkLinearizability } from '../../../agent/sim/linearizability.js';
import { fcParams } from '../../fc-params.js';
import { generateHistory, impossibleValueFor } from './history-gen.js';

let nextId = 0;
/** One operation: `[invoke, complete]`, status ok unless given; complete null means never. */
function op(
  client: string,
  kind: HistoryOp,
  key: string,
  value: string | null | CasArgument,
  invokeMs: number,
  completeMs: number | null,
  status: HistoryOperation['status'] = completeMs === null ? 'info' : 'ok',
): HistoryOperation {
  nextId += 1;
  const read = kind === 'get' && status === 'ok';
  return {
    client,
    id: nextId,
    op: kind,
    key,
    value: read ? null : value,
    output: read && typeof value === 'string' ? value : null,
    invokeMs,
    completeMs: completeMs === null || status === 'info' ? Infinity : completeMs,
    status,
  };
}

const put = (c: string, v: string, i: number, e: number | null, s?: HistoryOperation['status']): HistoryOperation =>
  op(c, 'put', 'x', v, i, e, s);
const get = (c: string, v: string | null, i: number, e: number): HistoryOperation => op(c, 'get', 'x', v, i, e);

function assertOk(ops: readonly HistoryOperation[]): void {
  const result = checkLinearizability(ops);
  assert.equal(result.ok, true, result.ok === true ? '' : result.explanation);
}

function assertNotOk(ops: readonly HistoryOperation[], key = 'x'): string {
  const result = checkLinearizability(ops);
  assert.equal(result.ok, false, `expected a violation, got ${JSON.stringify(result)}`);
  assert.ok(result.ok === false);
  assert.equal(result.key, key);
  assert.ok(result.window.length >= 1);
  return result.explanation;
}

/** A txn: when every key of expect holds its value, write set (null: absent / delete). */
function txn(
  client: string,
  expect: Record<string, string | null>,
  set: Record<string, string | null>,
  invokeMs: number,
  completeMs: number | null,
  status: HistoryOperation['status'] = completeMs === null ? 'info' : 'ok',
): HistoryOperation {
  nextId += 1;
  const keys = [...new Set([...Object.keys(expect), ...Object.keys(set)])].sort();
  return {
    client,
    id: nextId,
    op: 'txn',
    key: keys[0] ?? '',
    keys,
    value: { expect, set },
    output: null,
    invokeMs,
    completeMs: completeMs === null || status === 'info' ? Infinity : completeMs,
    status,
  };
}

describe('linearizability checker: multi-key transactions', () => {
  const at = (key: string, value: string | null, i: number, e: number): HistoryOperation =>
    op('r', 'get', key, value, i, e);

  it('accepts an atomic swap seen whole, and reads on either side of it', () => {
    assertOk([
      txn('a', { x: null, y: null }, { x: '1', y: '1' }, 0, 5),
      txn('b', { x: '1', y: '1' }, { x: '2', y: '2' }, 10, 20),
      txn('r', { x: '1', y: '1' }, {}, 12, 14),
      at('y', '2', 21, 22),
    ]);
  });

  it('rejects a torn read: an atomic read of x and y that no state held', () => {
    const ops = [
      txn('a', { x: null, y: null }, { x: '1', y: '1' }, 0, 5),
      txn('b', { x: '1', y: '1' }, { x: '2', y: '2' }, 10, 20),
      txn('r', { x: '2', y: '1' }, {}, 12, 14),
    ];
    const result = checkLinearizability(ops);
    assert.equal(result.ok, false);
    assert.ok(result.ok === false);
    assert.equal(result.key, 'x');
    assert.match(result.explanation, /^keys "x", "y": no linearization/);
    assert.match(result.explanation, /the keys "x" at "1", "y" at "1"|the keys "x" at "2", "y" at "2"/);
  });

  it('rejects two transactions that both succeeded on the same expected values (a lost update)', () => {
    assertNotOk(
      [
        txn('a', { x: null, y: null }, { x: '1', y: '1' }, 0, 5),
        txn('b', { x: '1', y: '1' }, { x: '2' }, 10, 20),
        txn('c', { x: '1', y: '1' }, { y: '3' }, 10, 20),
      ],
      'x',
    );
  });

  it('ties single-key operations to the transactions over their keys, and parses txn histories', () => {
    // The put of y happened after the swap completed, so the swap cannot see it.
    assertNotOk([op('p', 'put', 'y', 'late', 6, 8), txn('a', { y: 'late' }, { x: '1' }, 0, 5)], 'x');
    const text = [
      '{"t":0,"type":"invoke","client":"a","id":1,"op":"txn","key":"",' +
        '"value":{"expect":{"x":null},"set":{"x":"1","y":null}}}',
      '{"t":1,"type":"ok","client":"a","id":1,"value":null}',
      '{"t":2,"type":"invoke","client":"b","id":1,"op":"get","key":"x","value":null}',
      '{"t":3,"type":"ok","client":"b","id":1,"value":"1"}',
    ].join('\n');
    const result = checkHistoryText(text);
    assert.equal(result.ok, true, result.ok === true ? '' : result.explanation);
    assert.equal(result.keys, 2);
    assert.throws(() => checkHistoryText(text.replace('"x":"1","y":null', '"x":1')), /txn's 'set.x'/);
  });
});

describe('linearizability checker: hand-written histories', () => {
  it('accepts sequential and overlapping histories', () => {
    assertOk([]);
    assertOk([put('a', '1', 0, 10), get('b', '1', 20, 30), put('a', '2', 40, 50), get('b', '2', 60, 70)]);
    // A read concurrent with a write may see either value.
    assertOk([put('a', '1', 0, 10), put('a', '2', 20, 40), get('b', '1', 25, 30), get('c', '2', 25, 30)]);
    assertOk([get('b', null, 0, 5), put('a', '1', 0, 10), get('c', '1', 5, 6)]);
    // Touching windows count as concurrent.
    assertOk([put('a', '1', 0, 10), get('b', null, 10, 20)]);
  });

  it('rejects a stale read after a completed write', () => {
    const explanation = assertNotOk([put('a', '1', 0, 10), put('a', '2', 20, 30), get('b', '1', 40, 50)]);
    assert.match(explanation, /get -> "1" \[40, 50\]/);
  });

  it('rejects a read of a value never written', () => {
    assertNotOk([put('a', '1', 0, 10), get('b', 'ghost', 5, 15)]);
    assertNotOk([get('b', 'ghost', 0, 1)]);
  });

  it('rejects two readers that see two writes in opposite orders', () => {
    const ops = [
      put('w1', 'a', 0, 100),
      put('w2', 'b', 0, 100),
      get('r1', 'a', 10, 20),
      get('r1', 'b', 30, 40),
      get('r2', 'b', 10, 20),
      get('r2', 'a', 30, 40),
    ];
    assertNotOk(ops);
    assertOk(ops.slice(0, 5));
  });

  it('assumes an info write applied when a later read needs it, at any time after its invoke', () => {
    assertOk([put('a', '1', 0, 10), put('a', '2', 20, null), get('b', '2', 1000, 1010)]);
    // Recorded info completions count the same as missing ones.
    assertOk([
      put('a', '1', 0, 10),
      put('a', '2', 20, 25, 'info'),
      get('b', '2', 1000, 1010),
      get('b', '2', 2000, 2010),
    ]);
  });

  it('assumes an info write not applied when reads do not see it', () => {
    assertOk([put('a', '1', 0, 10), put('a', '2', 20, null), get('b', '1', 30, 40), get('b', '1', 50, 60)]);
  });

  it('rejects reads that need an info write both applied and not applied', () => {
    assertNotOk([put('a', '1', 0, 10), put('a', '2', 20, null), get('b', '2', 30, 40), get('b', '1', 50, 60)]);
    // An info write cannot take effect before its invoke.
    assertNotOk([get('b', '2', 0, 10), put('a', '2', 20, null)]);
  });

  it('drops fail operations: their value can never be read', () => {
    assertOk([put('a', '1', 0, 10, 'fail'), get('b', null, 20, 30)]);
    assertNotOk([put('a', '1', 0, 10, 'fail'), get('b', '1', 5, 30)]);
  });

  it('models cas and delete', () => {
    const cas = (c: string, expect: string | null, set: string, i: number, e: number | null): HistoryOperation =>
      op(c, 'cas', 'x', { expect, set }, i, e);
    const del = (c: string, i: number, e: number): HistoryOperation => op(c, 'delete', 'x', null, i, e);
    assertOk([
      cas('a', null, '1', 0, 10),
      cas('a', '1', '2', 20, 30),
      get('b', '2', 40, 50),
      del('a', 60, 70),
      get('b', null, 80, 90),
    ]);
    assertNotOk([put('a', '1', 0, 10), cas('a', '9', '2', 20, 30)]);
    assertNotOk([put('a', '1', 0, 10), del('a', 20, 30), get('b', '1', 40, 50)]);
    // An info cas may apply only if its comparison holds.
    assertOk([put('a', '1', 0, 10), cas('a', '1', '2', 20, null), get('b', '2', 40, 50)]);
    assertNotOk([put('a', '1', 0, 10), cas('a', '7', '2', 20, null), get('b', '2', 40, 50)]);
  });

  it('checks keys independently and names the failing key', () => {
    const ok = [op('a', 'put', 'k1', 'v', 0, 10), op('b', 'get', 'k1', 'v', 20, 30)];
    const bad = [op('a', 'put', 'k2', 'v', 0, 10), op('b', 'get', 'k2', null, 20, 30)];
    const result = checkLinearizability([...ok, ...bad]);
    assert.equal(result.ok, false);
    assert.equal(result.ok === false && result.key, 'k2');
    assert.equal(result.keys, 2);
  });

  it('answers unknown when the search budget runs out', () => {
    // Many concurrent writes and a read that no order of them can satisfy: every subset of the
    // writes is a state to explore before the read's completion.
    const ops = Array.from({ length: 14 }, (_, i) => put(`w${i}`, `v${i}`, 0, 100));
    ops.push(get('r', 'nothing', 50, 60));
    const result = checkLinearizability(ops, { statesMaxPerKey: 50 });
    assert.equal(result.ok, 'unknown');
    assert.match(result.ok === 'unknown' ? result.explanation : '', /statesMaxPerKey 50/);
    assert.equal(checkLinearizability(ops).ok, false, 'with the default budget it decides');
  });

  it('checks a long sequential history without recursion', () => {
    const ops: HistoryOperation[] = [];
    for (let i = 0; i < 50_000; i += 1)
      ops.push(i % 2 === 0 ? put('a', `v${i}`, i * 10, i * 10 + 5) : get('b', `v${i - 1}`, i * 10, i * 10 + 5));
    assertOk(ops);
    ops.push(get('b', 'v0', 1e9, 1e9 + 1));
    assertNotOk(ops);
  });

  it('checks JSON Lines text end to end', () => {
    const text = [
      '{"t":0,"type":"invoke","client":1,"id":1,"op":"put","key":"x","value":"1"}',
      '{"t":1,"type":"ok","client":1,"id":1,"value":"1"}',
      '{"t":2,"type":"invoke","client":2,"id":1,"op":"get","key":"x","value":null}',
      '{"t":3,"type":"ok","client":2,"id":1,"value":null}',
    ].join('\n');
    assert.equal(checkHistoryText(text).ok, false);
  });
});

describe('linearizability checker: properties', () => {
  const shape = fc.record({
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    clients: fc.integer({ min: 1, max: 6 }),
    opsPerClient: fc.integer({ min: 1, max: 25 }),
    keys: fc.integer({ min: 1, max: 3 }),
    valuePool: fc.constantFrom(0, 2, 3),
    infoRate: fc.constantFrom(0, 0.05, 0.15),
    failRate: fc.constantFrom(0, 0.1),
    durationMsMax: fc.constantFrom(0, 5, 30),
  });

  function generated(s: typeof shape extends fc.Arbitrary<infer T> ? T : never): HistoryOperation[] {
    const events = generateHistory(new SeededPrng(s.seed), { ...s, gapMsMax: 10 });
    // Through the text format, as the simulator and chaos runs hand histories over.
    return pairOperations(parseHistory(events.map(formatHistoryEvent).join('\n')));
  }

  it('judges histories generated from a sequential model linearizable', () => {
    fc.assert(
      fc.property(shape, (s) => {
        const result = checkLinearizability(generated(s));
        assert.equal(result.ok, true, result.ok === true ? '' : result.explanation);
      }),
      fcParams(400, 'lincheck generated histories are linearizable'),
    );
  });

  it('judges them non-linearizable once one read returns a value it cannot have read', () => {
    fc.assert(
      fc.property(shape, fc.nat(), (s, which) => {
        const ops = generated(s);
        const reads = ops.flatMap((o, i) => (o.op === 'get' && o.status === 'ok' ? [i] : []));
        fc.pre(reads.length > 0);
        const index = reads[which % reads.length] ?? 0;
        const read = ops[index];
        assert.ok(read !== undefined);
        const mutated = [...ops];
        mutated[index] = { ...read, output: impossibleValueFor(ops, read) };
        const result = checkLinearizability(mutated);
        assert.equal(result.ok, false, `mutated read ${JSON.stringify(mutated[index])} was accepted`);
        assert.equal(result.ok === false && result.key, read.key);
      }),
      fcParams(400, 'lincheck mutated reads are caught'),
    );
  });
});
