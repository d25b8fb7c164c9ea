// Proves the history window of the KV state machine (the changes a watch resumes from):
// - property: after any sequence of puts, deletes and cas, the changes after any revision R
//   (from the window's start on) are exactly the changes seen by diffing the store before and
//   after each entry, in revision order, each once; filtered by prefix or by one key, also a
//   key that did not exist at R;
// - a transaction's changes share its revision, in the order it made them;
// - the window forgets whole revisions past historyRevisionsMax or historyBytesMax, and a
//   `since` before it answers KV_COMPACTED "compacted: oldest revision N", N being the oldest
//   `since` still served;
// - a snapshot carries the window: a restored replica answers the same changes and ends
//   byte-identical.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { fcParams } from '../../fc-params.js';
import type { SnapshotMeta } from '../../../contracts/log.js';
import { decodeKvResult, encodeKvQuery } from '../../../agent/kv/encoding.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import type { KvChangeEvent, KvResult } from '../../../agent/kv/types.js';
import { Driver, bytes } from './kv-helpers.js';

function metaAt(index: number): SnapshotMeta {
  return {
    lastIncludedIndex: index,
    lastIncludedTerm: 1,
    configuration: { voters: ['n1'], learners: [], oldVoters: null, members: [] },
  };
}

function changes(sm: KvStateMachine, since: number, prefix = '', exact = false, limit = 1000): KvResult {
  return decodeKvResult(sm.query(encodeKvQuery({ op: 'changes', since, prefix, exact, limit })));
}

function events(result: KvResult): string[] {
  assert.equal(result.type, 'changes', JSON.stringify(result));
  if (result.type !== 'changes') return [];
  return result.events.map(
    (e: KvChangeEvent) => `${e.revision}:${e.type}:${e.key}=${Buffer.from(e.value ?? []).toString()}`,
  );
}

const KEYS = ['a', 'ab', 'b'];

describe('KvStateMachine history window', () => {
  it('replays exactly the changes after any revision (property)', () => {
    const opArb = fc.oneof(
      fc.record({ op: fc.constant('put' as const), key: fc.constantFrom(...KEYS), v: fc.constantFrom('x', 'y') }),
      fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...KEYS), v: fc.constant('') }),
      fc.record({ op: fc.constant('cas' as const), key: fc.constantFrom(...KEYS), v: fc.constantFrom('x', 'z') }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 25 }), fc.nat(), fc.constantFrom('', 'a', 'b'), (ops, cut, prefix) => {
        const d = new Driver(new KvStateMachine());
        const oracle: string[] = [];
        for (const o of ops) {
          const before = KEYS.map((k) => d.sm.read(k));
          if (o.op === 'put') d.put(o.key, o.v);
          else if (o.op === 'delete') d.run({ op: 'delete', key: o.key, returnPrevious: false });
          else
            d.run({
              op: 'cas',
              key: o.key,
              expectedRevision: before[KEYS.indexOf(o.key)]?.revision ?? 0,
              value: bytes(o.v),
            });
          KEYS.forEach((k, i) => {
            const now = d.sm.read(k);
            if (now?.revision === before[i]?.revision) return;
            const text = now === null ? `delete:${k}=` : `put:${k}=${Buffer.from(now.value).toString()}`;
            oracle.push(`${d.sm.lastApplied}:${text}`);
          });
        }
        const since = ops.length === 0 ? 0 : cut % (ops.length + 1);
        const after = (line: string): boolean => Number(line.split(':')[0]) > since;
        const key = (line: string): string => line.split(':')[2]?.split('=')[0] ?? '';
        assert.deepEqual(
          events(changes(d.sm, since, prefix)),
          oracle.filter((l) => after(l) && key(l).startsWith(prefix)),
        );
        assert.deepEqual(
          events(changes(d.sm, since, 'a', true)),
          oracle.filter((l) => after(l) && key(l) === 'a'),
        );
      }),
      fcParams(300),
    );
  });

  it("records a transaction's changes at its one revision, in order", () => {
    const d = new Driver(new KvStateMachine());
    d.put('w/a', 'old');
    d.run({
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'w/b', value: bytes('1') },
        { op: 'delete', key: 'w/a' },
        { op: 'delete', key: 'w/none' },
        { op: 'get', key: 'w/b' },
        { op: 'put', key: 'w/a', value: bytes('2') },
      ],
      failure: [],
    });
    assert.deepEqual(events(changes(d.sm, 1, 'w/')), ['2:put:w/b=1', '2:delete:w/a=', '2:put:w/a=2']);
    assert.deepEqual(events(changes(d.sm, 0, 'w/none', true)), []);
  });

  it('forgets whole revisions past its limits and says so', () => {
    const d = new Driver(new KvStateMachine({ historyRevisionsMax: 3 }));
    for (let i = 1; i <= 6; i += 1) d.put('k', `v${i}`);
    const compacted = changes(d.sm, 2);
    assert.deepEqual(compacted, { type: 'error', code: 'KV_COMPACTED', message: 'compacted: oldest revision 3' });
    assert.deepEqual(events(changes(d.sm, 3)), ['4:put:k=v4', '5:put:k=v5', '6:put:k=v6']);
    const small = new Driver(new KvStateMachine({ historyBytesMax: 10 }));
    small.put('key', '1234');
    small.put('key', '5678');
    assert.deepEqual(events(changes(small.sm, 1)), ['2:put:key=5678']);
    assert.equal(changes(small.sm, 0).type, 'error');
    const none = new Driver(new KvStateMachine({ historyRevisionsMax: 0 }));
    none.put('k', 'v');
    assert.deepEqual(events(changes(none.sm, 1)), []);
  });

  it('pages without splitting a revision', () => {
    const d = new Driver(new KvStateMachine());
    d.run({
      op: 'txn',
      compare: [],
      success: [
        { op: 'put', key: 'a', value: bytes('1') },
        { op: 'put', key: 'b', value: bytes('1') },
      ],
      failure: [],
    });
    d.put('c', '2');
    const first = changes(d.sm, 0, '', false, 1);
    assert.deepEqual(events(first), ['1:put:a=1', '1:put:b=1']);
    assert.equal(first.type === 'changes' && first.more, true);
  });

  it('travels in a snapshot', () => {
    const d = new Driver(new KvStateMachine({ historyRevisionsMax: 4 }));
    for (let i = 1; i <= 6; i += 1) d.put(`k${i % 2}`, `v${i}`);
    d.run({ op: 'delete', key: 'k0', returnPrevious: false });
    const replica = new KvStateMachine({ historyRevisionsMax: 4 });
    replica.restore(metaAt(d.sm.lastApplied), d.sm.snapshot());
    for (const since of [3, 4, 6]) assert.deepEqual(changes(replica, since), changes(d.sm, since));
    assert.equal(changes(replica, 2).type, 'error');
    const next = new Driver(replica);
    d.put('k9', 'same');
    next.put('k9', 'same');
    assert.deepEqual(replica.snapshot(), d.sm.snapshot());
  });
});
