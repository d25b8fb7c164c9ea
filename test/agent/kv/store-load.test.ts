// KvStore.loadSnapshot, the bulk load of a restore (issue 17: start-up on data). Property: for any
// list of distinct keys with values of 0 to 3 KiB (some leased), the loaded store equals the one
// set() fills entry by entry (keys, values, revisions, leases, size accounting, invariants), every
// value is a copy that owns a buffer of exactly its length (never the caller's bytes, which a
// snapshot image lends), and a second load replaces the first entirely.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { DEFAULT_KV_OPTIONS } from '../../../agent/kv/options.js';
import { KvStore } from '../../../agent/kv/store.js';
import type { KvStored } from '../../../agent/kv/store.js';
import type { KvLease } from '../../../agent/kv/leases.js';
import { fcParams } from '../../fc-params.js';

const LEASES: readonly KvLease[] = [
  { id: 1, ttlMs: 5_000, refreshIndex: 1 },
  { id: 2, ttlMs: 9_000, refreshIndex: 3 },
];

/** Entries as a snapshot lists them: each value a view of one shared image. */
const entriesArb = fc
  .uniqueArray(
    fc.record({
      key: fc.string({ minLength: 1, maxLength: 12 }),
      bytes: fc.integer({ min: 0, max: 3072 }),
      revision: fc.integer({ min: 1, max: 50 }),
      lease: fc.constantFrom(0, 0, 1, 2),
    }),
    { selector: (e) => e.key, maxLength: 24 },
  )
  .map((items) => {
    const image = new Uint8Array(items.reduce((sum, e) => sum + e.bytes, 0) + 16);
    let at = 8;
    return items.map((e, i): [string, KvStored] => {
      const value = image.subarray(at, at + e.bytes);
      value.fill(i + 1);
      at += e.bytes;
      return [e.key, { value, revision: e.revision, lease: e.lease }];
    });
  });

describe('KvStore.loadSnapshot', () => {
  it('holds what set() would, each value a copy of its own', () => {
    fc.assert(
      fc.property(entriesArb, entriesArb, (first, entries) => {
        const expected = new KvStore(DEFAULT_KV_OPTIONS);
        expected.leases.load(LEASES);
        for (const [key, stored] of entries) expected.set(key, stored.value.slice(), stored.revision, stored.lease);
        const loaded = new KvStore(DEFAULT_KV_OPTIONS);
        loaded.loadSnapshot(first, LEASES);
        loaded.loadSnapshot(entries, LEASES);
        assert.equal(loaded.keyCount, expected.keyCount);
        assert.equal(loaded.dataBytes, expected.dataBytes);
        assert.equal(loaded.revision, expected.revision);
        for (const [key, stored] of entries) {
          const got = loaded.get(key);
          assert.ok(got !== null, `${key} is stored`);
          assert.deepEqual(got, expected.get(key));
          assert.equal(loaded.leaseOf(key), stored.lease);
          assert.notEqual(got.value.buffer, stored.value.buffer, `${key} views the caller's bytes`);
          assert.equal(got.value.buffer.byteLength, got.value.byteLength, `${key} holds a larger buffer`);
        }
        for (const lease of LEASES) assert.deepEqual(loaded.leases.get(lease.id), expected.leases.get(lease.id));
        loaded.checkInvariants(50);
      }),
      fcParams(200, 'KvStore.loadSnapshot holds what set() would'),
    );
  });
});
