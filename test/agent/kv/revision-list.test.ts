// Proves the store revision and prefix listing of the KV state machine:
// - the store revision is the log index of the last change: a put, a delete of a present key
//   and a matching cas raise it; a delete of an absent key, a failed cas, a get, a refused
//   command and a noop entry do not; every result but an error carries it;
// - a snapshot carries it (version 3), also when it is above every key's revision (after a
//   delete), and a version 2 snapshot restores with it at lastApplied;
// - property: paging a listing with `after` and any limit returns exactly the stored keys with
//   the prefix, sorted, each once, with their values and revisions, `more` false only at the end;
// - a listing stops before its bytes pass the bound, but always holds one key;
// - list queries outside the limits do not decode.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { fcParams } from '../../fc-params.js';
import { Encoder } from 'cbor-x';
import type { SnapshotMeta } from '../../../contracts/log.js';
import { decodeKvQuery, decodeKvResult, encodeKvQuery } from '../../../agent/kv/encoding.js';
import { LIST_ITEMS_MAX } from '../../../agent/kv/execute.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { KvStore } from '../../../agent/kv/store.js';
import { DEFAULT_KV_OPTIONS } from '../../../agent/kv/options.js';
import type { KvListItem, KvResult } from '../../../agent/kv/types.js';
import { Driver, bytes } from './kv-helpers.js';

function metaAt(index: number): SnapshotMeta {
  return {
    lastIncludedIndex: index,
    lastIncludedTerm: 1,
    configuration: { voters: ['n1'], learners: [], oldVoters: null, members: [] },
  };
}

function storeRevisionOf(result: KvResult): number | undefined {
  return result.type === 'error' ? undefined : result.storeRevision;
}

function list(sm: KvStateMachine, prefix: string, after: string | null, limit: number): KvResult {
  return decodeKvResult(sm.query(encodeKvQuery({ op: 'list', prefix, after, limit })));
}

describe('KvStateMachine store revision', () => {
  it('is raised by every change and only by a change', () => {
    const d = new Driver(new KvStateMachine({ valueBytesMax: 4 }));
    assert.equal(d.sm.revision, 0);
    assert.equal(storeRevisionOf(d.put('a', 'x')), 1);
    assert.equal(storeRevisionOf(d.run({ op: 'delete', key: 'none', returnPrevious: false })), 1, 'absent key');
    assert.equal(storeRevisionOf(d.run({ op: 'cas', key: 'a', expectedRevision: 9, value: bytes('y') })), 1);
    assert.equal(storeRevisionOf(d.get('a')), 1);
    assert.equal(d.put('a', 'too large').type, 'error');
    d.applyRaw(new Uint8Array(0), 'noop');
    assert.equal(d.sm.revision, 1, 'five entries later, nothing changed');
    assert.equal(storeRevisionOf(d.run({ op: 'cas', key: 'a', expectedRevision: 1, value: bytes('z') })), 7);
    assert.equal(storeRevisionOf(d.run({ op: 'delete', key: 'a', returnPrevious: false })), 8);
    assert.equal(storeRevisionOf(decodeKvResult(d.sm.query(encodeKvQuery({ op: 'get', key: 'a' })))), 8);
    assert.equal(storeRevisionOf(list(d.sm, '', null, 10)), 8);
  });

  it('survives a snapshot, also above every key revision', () => {
    const d = new Driver(new KvStateMachine());
    d.put('keep', 'v');
    d.put('gone', 'v');
    d.run({ op: 'delete', key: 'gone', returnPrevious: false });
    d.applyRaw(new Uint8Array(0), 'noop');
    const restored = new KvStateMachine();
    restored.restore(metaAt(4), d.sm.snapshot());
    assert.equal(restored.revision, 3);
    assert.deepEqual(restored.snapshot(), d.sm.snapshot(), 'byte-identical');
  });

  it('restores a version 2 snapshot with the store revision at lastApplied', () => {
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    const sm = new KvStateMachine();
    sm.restore(metaAt(7), raw.encode(['coraft-kv', 2, 7, 0, [['k', Buffer.from('v'), 2]], [], []]));
    assert.equal(sm.revision, 7);
    assert.deepEqual(sm.read('k'), { value: bytes('v'), revision: 2 });
  });

  it('refuses a version 3 snapshot whose store revision is below a key revision or beyond lastApplied', () => {
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    const sm = new KvStateMachine();
    const image = (revision: number): Uint8Array =>
      raw.encode(['coraft-kv', 3, 7, 0, [['k', Buffer.from('v'), 5]], [], [], revision, 0, []]);
    assert.throws(() => sm.restore(metaAt(7), image(4)), /store revision must be an integer from 5 to 7/);
    assert.throws(() => sm.restore(metaAt(7), image(8)), /store revision must be an integer from 5 to 7/);
    sm.restore(metaAt(7), image(6));
    assert.equal(sm.revision, 6);
  });
});

describe('KvStateMachine listing', () => {
  it('pages through exactly the keys with the prefix, in order (property)', () => {
    const keyArb = fc.stringMatching(/^[ab/é]{1,4}$/u);
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArb, { maxLength: 30 }),
        fc.stringMatching(/^[ab/]{0,2}$/u),
        fc.integer({ min: 1, max: 7 }),
        fc.uniqueArray(keyArb, { maxLength: 5 }),
        (keys, prefix, limit, deleted) => {
          const d = new Driver(new KvStateMachine());
          for (const key of keys) d.put(key, `v-${key}`);
          for (const key of deleted) d.run({ op: 'delete', key, returnPrevious: false });
          const expected = keys.filter((k) => k.startsWith(prefix) && !deleted.includes(k)).sort();
          const seen: KvListItem[] = [];
          let after: string | null = null;
          for (let pages = 0; pages <= keys.length + 1; pages += 1) {
            const page = list(d.sm, prefix, after, limit);
            assert.equal(page.type, 'list');
            if (page.type !== 'list') return;
            assert.equal(page.storeRevision, d.sm.revision);
            assert.ok(page.items.length <= limit);
            seen.push(...page.items);
            if (!page.more) break;
            after = page.items.at(-1)?.key ?? null;
          }
          assert.deepEqual(
            seen.map((item) => item.key),
            expected,
          );
          for (const item of seen)
            assert.deepEqual(d.sm.read(item.key), { value: item.value, revision: item.revision });
        },
      ),
      fcParams(200),
    );
  });

  it('stops before its bytes pass the bound but always returns one key', () => {
    const store = new KvStore(DEFAULT_KV_OPTIONS);
    for (const key of ['p1', 'p2', 'p3']) store.set(key, new Uint8Array(100), 1);
    assert.deepEqual(
      store.range('p', null, 10, 250).entries.map(([k]) => k),
      ['p1', 'p2'],
    );
    assert.equal(store.range('p', null, 10, 250).more, true);
    const one = store.range('p', 'p2', 10, 10);
    assert.deepEqual(
      one.entries.map(([k]) => k),
      ['p3'],
    );
    assert.equal(one.more, false);
  });

  it('refuses list queries outside the limits', () => {
    const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
    assert.throws(() => decodeKvQuery(raw.encode({ op: 'list', prefix: '', limit: 0 })), /limit/);
    assert.throws(() => decodeKvQuery(raw.encode({ op: 'list', prefix: '', limit: LIST_ITEMS_MAX + 1 })), /limit/);
    assert.throws(() => decodeKvQuery(raw.encode({ op: 'list', prefix: 1, limit: 1 })), /prefix/);
    assert.deepEqual(decodeKvQuery(encodeKvQuery({ op: 'list', prefix: 'a', after: 'ab', limit: 3 })), {
      op: 'list',
      prefix: 'a',
      after: 'ab',
      limit: 3,
    });
    const sm = new KvStateMachine();
    const answer = decodeKvResult(sm.query(raw.encode({ op: 'list', prefix: '', limit: 0 })));
    assert.equal(answer.type === 'error' && answer.code, 'KV_MALFORMED');
  });
});
