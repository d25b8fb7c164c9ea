// Proves each KV operation of KvStateMachine (put, delete, compare-and-set on a key's revision,
// get as a command and as a query), that noop/config entries only advance lastApplied, that
// entries must arrive in order, and that every limit yields a deterministic error result and
// leaves the state unchanged. It drives a real state machine with encoded log entries and
// decodes the results.
import { strict as assert } from 'node:assert';
import { decodeKvResult, encodeKvQuery } from '../../../agent/kv/encoding.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { Driver, bytes, commandEntry, textOf } from './kv-helpers.js';

describe('KvStateMachine operations', () => {
  let d: Driver;
  beforeEach(() => {
    d = new Driver(new KvStateMachine());
  });

  it('put sets the revision to the entry index and returns the previous value when asked', () => {
    assert.deepEqual(d.put('a', 'one'), { type: 'put', revision: 1, previous: null, created: true, storeRevision: 1 });
    const second = d.put('a', 'two');
    assert.equal(second.type, 'put');
    assert.equal(second.type === 'put' && second.revision, 2);
    assert.deepEqual(second.type === 'put' && second.previous, { value: bytes('one'), revision: 1 });
    const third = d.run({ op: 'put', key: 'a', value: bytes('three'), returnPrevious: false });
    assert.deepEqual(third, { type: 'put', revision: 3, previous: null, created: false, storeRevision: 3 });
    assert.deepEqual(d.sm.read('a'), { value: bytes('three'), revision: 3 });
  });

  it('get as a command and as a query returns value and revision, or null when absent', () => {
    d.put('k', 'v');
    assert.deepEqual(d.get('k'), { type: 'get', current: { value: bytes('v'), revision: 1 }, storeRevision: 1 });
    assert.deepEqual(d.get('missing'), { type: 'get', current: null, storeRevision: 1 });
    const viaQuery = decodeKvResult(d.sm.query(encodeKvQuery({ op: 'get', key: 'k' })));
    assert.deepEqual(viaQuery, { type: 'get', current: { value: bytes('v'), revision: 1 }, storeRevision: 1 });
    assert.deepEqual(decodeKvResult(d.sm.query(encodeKvQuery({ op: 'get', key: 'nope' }))), {
      type: 'get',
      current: null,
      storeRevision: 1,
    });
    assert.equal(d.sm.lastApplied, 3, 'queries do not advance lastApplied; get commands do');
  });

  it('delete removes a key, says if it existed, carries its own index, raises the store revision if so', () => {
    d.put('k', 'v');
    assert.deepEqual(d.run({ op: 'delete', key: 'k', returnPrevious: true }), {
      type: 'delete',
      revision: 2,
      deleted: true,
      previous: { value: bytes('v'), revision: 1 },
      storeRevision: 2,
    });
    assert.deepEqual(d.run({ op: 'delete', key: 'k', returnPrevious: true }), {
      type: 'delete',
      revision: 3,
      deleted: false,
      previous: null,
      storeRevision: 2,
    });
    assert.equal(d.sm.read('k'), null);
    assert.equal(d.sm.stats().dataBytes, 0);
  });

  it('cas with revision 0 creates only when absent', () => {
    assert.deepEqual(d.run({ op: 'cas', key: 'k', expectedRevision: 0, value: bytes('first') }), {
      type: 'cas',
      succeeded: true,
      revision: 1,
      storeRevision: 1,
    });
    assert.deepEqual(d.run({ op: 'cas', key: 'k', expectedRevision: 0, value: bytes('second') }), {
      type: 'cas',
      succeeded: false,
      current: { value: bytes('first'), revision: 1 },
      storeRevision: 1,
    });
    assert.equal(textOf(d.get('k')), 'first');
  });

  it('cas writes only when the revision matches, and a delete resets the revision to 0', () => {
    d.put('k', 'a');
    d.put('k', 'b');
    assert.equal(d.run({ op: 'cas', key: 'k', expectedRevision: 1, value: bytes('x') }).type, 'cas');
    assert.equal(textOf(d.get('k')), 'b', 'stale revision 1 did not write');
    assert.deepEqual(d.run({ op: 'cas', key: 'k', expectedRevision: 2, value: bytes('c') }), {
      type: 'cas',
      succeeded: true,
      revision: 5,
      storeRevision: 5,
    });
    d.run({ op: 'delete', key: 'k', returnPrevious: false });
    assert.deepEqual(d.run({ op: 'cas', key: 'k', expectedRevision: 5, value: bytes('y') }), {
      type: 'cas',
      succeeded: false,
      current: null,
      storeRevision: 6,
    });
    assert.deepEqual(d.run({ op: 'cas', key: 'k', expectedRevision: 0, value: bytes('z') }), {
      type: 'cas',
      succeeded: true,
      revision: 8,
      storeRevision: 8,
    });
  });

  it('noop and config entries advance lastApplied only and return empty bytes', () => {
    d.put('k', 'v');
    const before = d.sm.snapshot();
    assert.equal(d.applyRaw(new Uint8Array([1, 2, 3]), 'noop').length, 0);
    assert.equal(d.applyRaw(new Uint8Array([0xff]), 'config').length, 0);
    assert.equal(d.sm.lastApplied, 3);
    const after = new KvStateMachine();
    after.restore(
      {
        lastIncludedIndex: 3,
        lastIncludedTerm: 1,
        configuration: { voters: [], learners: [], oldVoters: null, members: [] },
      },
      d.sm.snapshot(),
    );
    assert.deepEqual(after.read('k'), { value: bytes('v'), revision: 1 });
    assert.notDeepEqual(before, d.sm.snapshot(), 'lastApplied is part of the snapshot');
  });

  it('rejects an entry that does not follow lastApplied by exactly one', () => {
    d.put('k', 'v');
    assert.throws(() => d.sm.apply(commandEntry(3, { op: 'get', key: 'k', session: null, timeMs: 0 })), {
      code: 'RAFT_INVARIANT',
    });
    assert.throws(() => d.sm.apply(commandEntry(1, { op: 'get', key: 'k', session: null, timeMs: 0 })), {
      code: 'RAFT_INVARIANT',
    });
    assert.equal(d.sm.lastApplied, 1);
  });

  it('answers a malformed command or query with KV_MALFORMED and changes nothing but lastApplied', () => {
    const result = decodeKvResult(d.applyRaw(new Uint8Array([0xa1, 0x61])));
    assert.equal(result.type === 'error' && result.code, 'KV_MALFORMED');
    assert.equal(d.sm.lastApplied, 1);
    const q = decodeKvResult(d.sm.query(new Uint8Array([0x01])));
    assert.equal(q.type === 'error' && q.code, 'KV_MALFORMED');
  });
});

describe('KvStateMachine limits', () => {
  const errorCode = (r: ReturnType<Driver['run']>): string | false => r.type === 'error' && r.code;

  it('validates options and names every bad field', () => {
    assert.throws(
      () => new KvStateMachine({ keyBytesMax: 0, sessionTtlMs: 5 }),
      (e: unknown) => {
        assert.ok(e instanceof Error && 'code' in e && e.code === 'CONFIG_INVALID');
        assert.match(e.message, /kv\.keyBytesMax/);
        assert.match(e.message, /kv\.sessionTtlMs/);
        return true;
      },
    );
  });

  it('refuses a key longer than keyBytesMax (in UTF-8 bytes) for every operation', () => {
    const d = new Driver(new KvStateMachine({ keyBytesMax: 4 }));
    assert.equal(d.put('abcd', 'v').type, 'put');
    assert.equal(errorCode(d.put('abcde', 'v')), 'KV_KEY_TOO_LONG');
    assert.equal(errorCode(d.put('ééé', 'v')), 'KV_KEY_TOO_LONG', 'three 2-byte characters are 6 bytes');
    assert.equal(errorCode(d.get('abcde')), 'KV_KEY_TOO_LONG');
    assert.equal(errorCode(d.run({ op: 'delete', key: 'abcde', returnPrevious: false })), 'KV_KEY_TOO_LONG');
    assert.equal(
      errorCode(d.run({ op: 'cas', key: 'abcde', expectedRevision: 0, value: bytes('') })),
      'KV_KEY_TOO_LONG',
    );
    const q = decodeKvResult(d.sm.query(encodeKvQuery({ op: 'get', key: 'abcde' })));
    assert.equal(q.type === 'error' && q.code, 'KV_KEY_TOO_LONG');
  });

  it('refuses a value larger than valueBytesMax', () => {
    const d = new Driver(new KvStateMachine({ valueBytesMax: 3 }));
    assert.equal(d.put('k', 'abc').type, 'put');
    assert.equal(errorCode(d.put('k', 'abcd')), 'KV_VALUE_TOO_LARGE');
    assert.equal(textOf(d.get('k')), 'abc');
  });

  it('refuses a new key beyond keyCountMax but allows overwrites', () => {
    const d = new Driver(new KvStateMachine({ keyCountMax: 2 }));
    d.put('a', '1');
    d.put('b', '2');
    assert.equal(errorCode(d.put('c', '3')), 'KV_KEY_COUNT_LIMIT');
    assert.equal(
      errorCode(d.run({ op: 'cas', key: 'c', expectedRevision: 0, value: bytes('3') })),
      'KV_KEY_COUNT_LIMIT',
    );
    assert.equal(d.put('a', 'again').type, 'put');
    d.run({ op: 'delete', key: 'b', returnPrevious: false });
    assert.equal(d.put('c', '3').type, 'put');
    assert.equal(d.sm.stats().keyCount, 2);
  });

  it('refuses a write that would store more than dataBytesMax', () => {
    const d = new Driver(new KvStateMachine({ keyBytesMax: 1, valueBytesMax: 9, dataBytesMax: 10 }));
    assert.equal(d.put('a', '123456789').type, 'put');
    assert.equal(d.sm.stats().dataBytes, 10);
    assert.equal(errorCode(d.put('b', '')), 'KV_DATA_LIMIT');
    assert.equal(d.put('a', '12345').type, 'put', 'an overwrite that shrinks fits');
    assert.equal(d.put('b', '123').type, 'put');
    assert.equal(d.sm.stats().dataBytes, 10);
    d.sm.checkInvariants();
  });
});
