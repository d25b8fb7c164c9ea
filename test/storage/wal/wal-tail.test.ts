// Proves the write-ahead log's in-memory tail (storage/wal/wal-tail.ts), the entries durable in
// the WAL and not yet checkpointed into LMDB:
// - it serves exactly the entries not yet dropped, by index, across drops and truncations;
// - it lets a dropped entry's command go (issue 17): the tail cuts its arrays only every 4,096
//   dropped slots, and a dropped entry left in a slot kept its command (a follower under 256
//   clients x 64 KiB held 40 MiB of them). Watched through a WeakRef after a collection: without
//   the release the command stays reachable and the test fails.
import { strict as assert } from 'node:assert';
import type { LogEntry } from '../../../contracts/log.js';
import { WalTail } from '../../../storage/wal/wal-tail.js';
import { collectGarbage } from '../../collect-garbage.js';

function entry(index: number, bytes = 8): LogEntry {
  return { term: 1, index, type: 'command', command: new Uint8Array(bytes).fill(index % 256) };
}

describe('WalTail', () => {
  it('serves the entries not dropped, across drops, a prefix deletion and a truncation', () => {
    const tail = new WalTail();
    tail.apply([{ kind: 'append', entries: [1, 2, 3].map((i) => entry(i)) }], 1);
    tail.apply([{ kind: 'append', entries: [4, 5].map((i) => entry(i)) }], 2);
    tail.apply([{ kind: 'append', entries: [6, 7, 8].map((i) => entry(i)) }], 3);
    tail.dropThrough(1);
    assert.equal(tail.firstIndex(), 4);
    assert.equal(tail.get(3), undefined);
    assert.equal(tail.get(5)?.index, 5);
    tail.apply([{ kind: 'delete', from: 4, to: 5 }], 4);
    assert.equal(tail.firstIndex(), 6);
    assert.equal(tail.size(), 3);
    tail.apply([{ kind: 'delete', from: 8, to: 8 }], 5);
    assert.equal(tail.size(), 2);
    assert.equal(tail.get(8), undefined);
    assert.deepStrictEqual([tail.get(6)?.index, tail.get(7)?.index], [6, 7]);
    tail.dropThrough(3);
    assert.equal(tail.size(), 0);
    assert.equal(tail.firstIndex(), null);
  });

  it('keeps no command of an entry it dropped', async () => {
    const tail = new WalTail();
    const watched: WeakRef<Uint8Array>[] = [];
    for (let seq = 1; seq <= 20; seq += 1) {
      const appended = entry(seq, 65_536);
      watched.push(new WeakRef(appended.command));
      tail.apply([{ kind: 'append', entries: [appended] }], seq);
    }
    tail.dropThrough(10);
    tail.apply([{ kind: 'delete', from: 11, to: 12 }], 21);
    assert.equal(tail.firstIndex(), 13);
    await collectGarbage();
    watched.slice(0, 12).forEach((ref, i) => assert.equal(ref.deref(), undefined, `entry ${i + 1} is still held`));
    assert.ok(watched[12]?.deref() !== undefined, 'an entry still held is not collected');
  });
});
