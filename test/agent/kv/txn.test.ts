// Proves transactions in the KV state machine:
// - the compares (revision, 0 = absent; value; absent) choose the branch; the branch's puts,
//   deletes and gets run in order as the one change of the entry (every write at its index, the
//   store revision raised once, to it) and the result lists each operation's outcome;
// - all or nothing: a branch with an operation over a limit answers that error and leaves the
//   store, its revision and its size exactly as before, also when it had deleted and rewritten keys;
// - property: against a reference model (a map with the same key-count limit), any sequence
//   of transactions gives the same results and final state, and a replica restored from a
//   snapshot midway ends byte-identical;
// - a retry of a transaction in a session gets the first answer and runs nothing again;
// - encoding bounds (TXN_OPS_MAX) and the reserved-key guard of the trusted state machine.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { fcParams } from '../../fc-params.js';
import type { SnapshotMeta } from '../../../contracts/log.js';
import { decodeKvCommand, decodeKvResult, encodeKvCommand } from '../../../agent/kv/encoding.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { TXN_OPS_MAX } from '../../../agent/kv/txn.js';
import type { KvCompare, KvResult, KvTxnOp, KvTxnOperation } from '../../../agent/kv/types.js';
import { reservedKeyOf } from '../../../agent/trust/trusted-state-machine.js';
import { Driver, bytes } from './kv-helpers.js';

const txn = (compare: KvCompare[], success: KvTxnOp[], failure: KvTxnOp[] = []): KvTxnOperation => ({
  op: 'txn',
  compare,
  success,
  failure,
});

function metaAt(index: number): SnapshotMeta {
  return {
    lastIncludedIndex: index,
    lastIncludedTerm: 1,
    configuration: { voters: ['n1'], learners: [], oldVoters: null, members: [] },
  };
}

describe('KvStateMachine transactions', () => {
  it('chooses the branch by the compares and runs it at one index', () => {
    const d = new Driver(new KvStateMachine());
    d.put('a', 'one');
    const result = d.run(
      txn(
        [
          { key: 'a', target: 'revision', revision: 1 },
          { key: 'a', target: 'value', value: bytes('one') },
          { key: 'b', target: 'absent' },
          { key: 'b', target: 'revision', revision: 0 },
        ],
        [
          { op: 'put', key: 'b', value: bytes('two') },
          { op: 'get', key: 'b' },
          { op: 'delete', key: 'a' },
          { op: 'delete', key: 'zz' },
          { op: 'get', key: 'a' },
        ],
        [{ op: 'put', key: 'never', value: bytes('x') }],
      ),
    );
    assert.deepEqual(result, {
      type: 'txn',
      succeeded: true,
      storeRevision: 2,
      results: [
        { type: 'put', revision: 2 },
        { type: 'get', current: { value: bytes('two'), revision: 2 } },
        { type: 'delete', deleted: true },
        { type: 'delete', deleted: false },
        { type: 'get', current: null },
      ],
    });
    const failed = d.run(
      txn([{ key: 'b', target: 'value', value: bytes('other') }], [], [{ op: 'put', key: 'f', value: bytes('f') }]),
    );
    assert.deepEqual(failed, {
      type: 'txn',
      succeeded: false,
      storeRevision: 3,
      results: [{ type: 'put', revision: 3 }],
    });
    const readOnly = d.run(txn([{ key: 'a', target: 'absent' }], [{ op: 'get', key: 'f' }]));
    assert.equal(readOnly.type === 'txn' && readOnly.storeRevision, 3, 'a branch of gets changes nothing');
  });

  it('undoes the whole branch when one operation is refused', () => {
    const d = new Driver(new KvStateMachine({ keyCountMax: 3, valueBytesMax: 8 }));
    d.put('a', 'one');
    d.put('b', 'two');
    const before = { snapshot: d.sm.snapshot(), revision: d.sm.revision, stats: d.sm.stats() };
    for (const bad of [
      { op: 'put' as const, key: 'c', value: bytes('too large!') },
      { op: 'put' as const, key: 'e', value: bytes('4th key') },
    ]) {
      const result = d.run(
        txn(
          [],
          [
            { op: 'delete', key: 'a' },
            { op: 'put', key: 'a', value: bytes('new') },
            { op: 'put', key: 'b', value: bytes('new') },
            { op: 'put', key: 'd', value: bytes('new') },
            bad,
          ],
        ),
      );
      assert.equal(result.type, 'error');
      assert.deepEqual(d.sm.read('a'), { value: bytes('one'), revision: 1 });
      assert.deepEqual(d.sm.read('b'), { value: bytes('two'), revision: 2 });
      assert.equal(d.sm.read('d'), null);
      assert.equal(d.sm.revision, before.revision);
      assert.deepEqual(
        { ...d.sm.stats(), lastApplied: 0, clockMs: 0 },
        { ...before.stats, lastApplied: 0, clockMs: 0 },
      );
    }
    const restored = new KvStateMachine({ keyCountMax: 3, valueBytesMax: 8 });
    restored.restore(metaAt(2), before.snapshot);
    assert.deepEqual(restored.read('a'), d.sm.read('a'));
  });

  it('matches a reference model, and a replica restored midway ends identical (property)', () => {
    const keyArb = fc.constantFrom('a', 'b', 'c', 'd');
    const valueArb = fc.constantFrom('x', 'y').map((v) => bytes(v));
    const compareArb: fc.Arbitrary<KvCompare> = fc.oneof(
      fc.record({ key: keyArb, target: fc.constant('revision' as const), revision: fc.nat({ max: 12 }) }),
      fc.record({ key: keyArb, target: fc.constant('value' as const), value: valueArb }),
      fc.record({ key: keyArb, target: fc.constant('absent' as const) }),
    );
    const opArb: fc.Arbitrary<KvTxnOp> = fc.oneof(
      fc.record({ op: fc.constant('put' as const), key: keyArb, value: valueArb }),
      fc.record({ op: fc.constant('delete' as const), key: keyArb }),
      fc.record({ op: fc.constant('get' as const), key: keyArb }),
    );
    const txnArb = fc
      .tuple(
        fc.array(compareArb, { maxLength: 3 }),
        fc.array(opArb, { maxLength: 4 }),
        fc.array(opArb, { maxLength: 4 }),
      )
      .map(([c, s, f]) => txn(c, s, f));
    fc.assert(
      fc.property(fc.array(txnArb, { minLength: 1, maxLength: 12 }), fc.nat(), (txns, cut) => {
        const d = new Driver(new KvStateMachine({ keyCountMax: 3 }));
        const model = new Map<string, { value: string; revision: number }>();
        let replica: Driver | null = null;
        const split = cut % txns.length;
        txns.forEach((t, i) => {
          if (i === split) {
            replica = new Driver(new KvStateMachine({ keyCountMax: 3 }));
            replica.sm.restore(metaAt(d.sm.lastApplied), d.sm.snapshot());
          }
          const index = d.sm.lastApplied + 1;
          const result = d.run(t);
          const expected = runModel(model, t, index);
          if (expected === 'error') assert.equal(result.type, 'error');
          else assert.deepEqual(result.type === 'txn' ? summary(result) : result, expected);
          if (replica !== null) assert.deepEqual(replica.run(t), result);
        });
        for (const key of ['a', 'b', 'c', 'd']) {
          const stored = d.sm.read(key);
          const expected = model.get(key);
          assert.deepEqual(
            stored === null ? null : { value: Buffer.from(stored.value).toString(), revision: stored.revision },
            expected ?? null,
          );
        }
        const other = replica as Driver | null;
        if (other !== null) assert.deepEqual(other.sm.snapshot(), d.sm.snapshot());
      }),
      fcParams(300),
    );
  });

  it('answers the retry of a transaction in a session with the first answer', () => {
    const d = new Driver(new KvStateMachine());
    const session = { clientId: 'c', seq: 1 };
    const t = txn([{ key: 'k', target: 'absent' }], [{ op: 'put', key: 'k', value: bytes('first') }]);
    const first = d.run(t, session);
    assert.equal(first.type === 'txn' && first.succeeded, true);
    const retry = d.run(t, session);
    assert.deepEqual(retry, first);
    assert.deepEqual(d.sm.read('k'), { value: bytes('first'), revision: 1 });
  });

  it('bounds the operation count and guards reserved keys', () => {
    const many = Array.from({ length: TXN_OPS_MAX + 1 }, (): KvTxnOp => ({ op: 'get', key: 'k' }));
    const encoded = encodeKvCommand({ ...txn([], many), session: null, timeMs: 0 });
    assert.throws(() => decodeKvCommand(encoded), /more than 64 items/);
    const d = new Driver(new KvStateMachine());
    assert.equal(errorCodeOf(decodeRaw(d, encoded)), 'KV_MALFORMED');
    const reserved = encodeKvCommand({
      ...txn(
        [],
        [
          { op: 'get', key: 'fine' },
          { op: 'put', key: '.coraft/x', value: bytes('v') },
        ],
      ),
      session: null,
      timeMs: 0,
    });
    assert.equal(reservedKeyOf(reserved), '.coraft/x');
  });
});

function decodeRaw(d: Driver, command: Uint8Array): KvResult {
  return decodeKvResult(d.applyRaw(command));
}

function errorCodeOf(result: KvResult): string | null {
  return result.type === 'error' ? result.code : null;
}

type Summary = { succeeded: boolean; results: unknown[] };

function summary(result: KvResult & { type: 'txn' }): Summary {
  return {
    succeeded: result.succeeded,
    results: result.results.map((r) =>
      r.type === 'get'
        ? r.current === null
          ? null
          : { value: Buffer.from(r.current.value).toString(), revision: r.current.revision }
        : r,
    ),
  };
}

/** The reference model: a map, keyCountMax 3, all or nothing. */
function runModel(
  model: Map<string, { value: string; revision: number }>,
  t: KvTxnOperation,
  index: number,
): Summary | 'error' {
  const holds = t.compare.every((c) => {
    const current = model.get(c.key);
    if (c.target === 'absent') return current === undefined;
    if (c.target === 'revision') return (current?.revision ?? 0) === c.revision;
    return current !== undefined && current.value === Buffer.from(c.value).toString();
  });
  const next = new Map(model);
  const results: unknown[] = [];
  for (const op of holds ? t.success : t.failure) {
    if (op.op === 'get') results.push(next.get(op.key) ?? null);
    else if (op.op === 'delete') results.push({ type: 'delete', deleted: next.delete(op.key) });
    else {
      if (!next.has(op.key) && next.size >= 3) return 'error';
      next.set(op.key, { value: Buffer.from(op.value).toString(), revision: index });
      results.push({ type: 'put', revision: index });
    }
  }
  model.clear();
  for (const [k, v] of next) model.set(k, v);
  return { succeeded: holds, results };
}
