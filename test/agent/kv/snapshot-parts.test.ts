// Proves that a snapshot cut into parts (agent/kv/snapshot.ts `kvSnapshotParts`, what a backup
// streams) is the state machine's own snapshot: prefix, every entry encoded on its own in column
// order, then suffix, concatenate to exactly the bytes `snapshot()` gives at the same moment
// (property over generated logs, and over stores whose entry counts cross the CBOR array header
// sizes: 23/24, 255/256, 65,535/65,536 entries), and that those bytes are what encoding the image
// in one call (encodeKvSnapshot) gives. And that the parts are a frozen view: writes applied after
// the parts were taken do not change what they encode.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { decodeKvSnapshot, encodeKvEntry, encodeKvSnapshot, type KvSnapshotParts } from '../../../agent/kv/snapshot.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { fcParams } from '../../fc-params.js';
import { genEntryArb, toLogEntries } from './arbitraries.js';
import { Driver } from './kv-helpers.js';

/** The parts joined, after checking that they are the one-call encoding of the image they hold. */
function joined(parts: KvSnapshotParts): Buffer {
  const entries = parts.entries.keys.map((_, i) => encodeKvEntry(parts, i));
  const bytes = Buffer.concat([parts.prefix, ...entries, parts.suffix]);
  assert.deepEqual(Buffer.from(encodeKvSnapshot(decodeKvSnapshot(bytes))), bytes);
  return bytes;
}

describe('KV snapshot parts', () => {
  it('concatenate to the bytes of snapshot() for any generated log', () => {
    fc.assert(
      fc.property(fc.array(genEntryArb, { maxLength: 60 }), (generated) => {
        const sm = new KvStateMachine({ historyRevisionsMax: 8 });
        for (const entry of toLogEntries(generated, 1)) sm.apply(entry);
        assert.deepEqual(joined(sm.snapshotParts()), Buffer.from(sm.snapshot()));
      }),
      fcParams(200, 'kv snapshot parts'),
    );
  });

  for (const count of [0, 23, 24, 255, 256, 65_535, 65_536]) {
    it(`concatenate to the bytes of snapshot() with ${count} keys`, () => {
      const driver = new Driver(new KvStateMachine({ keyCountMax: 100_000 }));
      for (let i = 0; i < count; i += 1) driver.put(`k${String(i).padStart(6, '0')}`, i % 7 === 0 ? 'é€😀' : 'v');
      assert.deepEqual(joined(driver.sm.snapshotParts()), Buffer.from(driver.sm.snapshot()));
    });
  }

  it('concatenate to the bytes of snapshot() with leases (entries carry their lease, version 5)', () => {
    const driver = new Driver(new KvStateMachine());
    driver.run({ op: 'lease-grant', ttlMs: 10_000 });
    const lease = driver.sm.lastApplied;
    for (let i = 0; i < 30; i += 1)
      driver.run({
        op: 'put',
        key: `k${i}`,
        value: Buffer.from('v'),
        returnPrevious: false,
        ...(i % 3 === 0 ? { lease } : {}),
      });
    const parts = driver.sm.snapshotParts();
    assert.equal(parts.leased, true);
    assert.deepEqual(joined(parts), Buffer.from(driver.sm.snapshot()));
  });

  it('stay the state of the moment they were taken while writes go on', () => {
    const driver = new Driver(new KvStateMachine());
    for (const key of ['a', 'b', 'c']) driver.put(key, `${key}1`);
    const before = Buffer.from(driver.sm.snapshot());
    const parts = driver.sm.snapshotParts();
    driver.put('a', 'a2');
    driver.put('aa', 'new');
    driver.run({ op: 'delete', key: 'c', returnPrevious: false });
    assert.deepEqual(joined(parts), before);
    assert.notDeepEqual(Buffer.from(driver.sm.snapshot()), before);
  });
});
