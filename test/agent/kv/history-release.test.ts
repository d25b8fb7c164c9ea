// Proves that the history window lets a forgotten change's value go (issue 17): the window drops
// old revisions by moving its start and cuts its array only every 1,024 slots or so, and a
// forgotten change left in a slot kept its value: a leader under 256 clients x 64 KiB held 46 MiB
// of values beyond historyBytesMax (4 MiB). Watched through a WeakRef after a collection, with
// fewer than 1,024 revisions forgotten (the array not cut yet): without the release the value
// stays reachable and the test fails.
import { strict as assert } from 'node:assert';
import { KvHistory } from '../../../agent/kv/history.js';
import { collectGarbage } from '../../collect-garbage.js';

describe('KvHistory: forgotten values', () => {
  it('keeps no value of a change it forgot', async () => {
    const history = new KvHistory({ historyRevisionsMax: 10_000, historyBytesMax: 4 * 65_536 });
    const watched: WeakRef<Uint8Array>[] = [];
    for (let revision = 1; revision <= 40; revision += 1) {
      const value = new Uint8Array(65_536).fill(revision);
      if (revision <= 3) watched.push(new WeakRef(value));
      history.record(revision, [{ revision, key: `k${revision % 5}`, value }]);
    }
    // Four 64 KiB values fit (with their keys, three): the window starts well after revision 3.
    assert.ok(history.compactedRevision >= 36, `compacted at ${history.compactedRevision}`);
    assert.deepStrictEqual(
      history.list().map((change) => change.revision),
      Array.from({ length: 40 - history.compactedRevision }, (_, i) => history.compactedRevision + 1 + i),
    );
    await collectGarbage();
    watched.forEach((ref, i) => assert.equal(ref.deref(), undefined, `the value of revision ${i + 1} is still held`));
    history.checkInvariants(40);
  });
});
