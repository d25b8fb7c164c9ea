// Proves what a restored state holds of the snapshot's bytes (issue 17: memory after a restart on
// data): no value of the store or of the history window is a view of the image, so the image is
// freed once restored; and a change of the window that is the write the store holds shares the
// stored value's bytes (as when it was applied) instead of holding a second copy. The snapshot
// taken after the restore is byte for byte the one restored (a version 5 image with leases, a
// version 3 one).
import { strict as assert } from 'node:assert';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { Driver } from './kv-helpers.js';

const VALUE_BYTES = 4096;

/** A state with large values, some written twice, a delete, and a history window holding them. */
function loaded(leased: boolean): KvStateMachine {
  const driver = new Driver(new KvStateMachine({ historyRevisionsMax: 50 }));
  let lease = 0;
  if (leased) {
    driver.run({ op: 'lease-grant', ttlMs: 60_000 });
    lease = driver.sm.lastApplied;
  }
  for (let i = 0; i < 30; i += 1) {
    const value = Buffer.alloc(VALUE_BYTES, i);
    driver.run({ op: 'put', key: `k${i % 12}`, value, returnPrevious: false, ...(lease !== 0 ? { lease } : {}) });
  }
  driver.run({ op: 'delete', key: 'k3', returnPrevious: false });
  return driver.sm;
}

function restored(data: Uint8Array, lastApplied: number): KvStateMachine {
  const sm = new KvStateMachine({ historyRevisionsMax: 50 });
  sm.restore(
    {
      lastIncludedIndex: lastApplied,
      lastIncludedTerm: 1,
      configuration: { voters: ['n1'], learners: [], oldVoters: null, members: [] },
    },
    data,
  );
  return sm;
}

describe('KV restore and the snapshot bytes', () => {
  for (const leased of [true, false]) {
    it(`keeps no view of the image, shares the window's latest writes with the store (${leased ? 'v5' : 'v3'})`, () => {
      const source = loaded(leased);
      const data = source.snapshot();
      const sm = restored(data, source.lastApplied);
      const { entries, history } = sm.snapshotSource();
      const stored = new Map(entries.keys.map((key, i) => [key, entries.values[i]]));
      let shared = 0;
      for (const value of entries.values)
        assert.notEqual(value.value.buffer, data.buffer, 'a store value views the image');
      for (const change of history) {
        if (change.value === null) continue;
        assert.notEqual(change.value.buffer, data.buffer, 'a history value views the image');
        const current = stored.get(change.key);
        if (current?.revision === change.revision) {
          assert.equal(change.value, current.value, `the change of ${change.key} at ${change.revision} holds a copy`);
          shared += 1;
        }
      }
      assert.equal(shared, 11, 'the latest write of each of the 11 keys left is in the window');
      assert.deepEqual(Buffer.from(sm.snapshot()), Buffer.from(data));
    });
  }
});
