// Proves the benches release what they hold (bench/_cleanup.ts): every registered item is closed
// once, last registered first, even when one of them fails (the failure is reported, not thrown),
// and a second run waits for the first instead of closing anything twice.
import { strict as assert } from 'node:assert';
import { Cleanup } from '../../bench/_cleanup.js';

describe('bench cleanup', () => {
  it('closes every item once, in reverse order, reporting failures', async () => {
    const closed: string[] = [];
    const reports: string[] = [];
    const cleanup = new Cleanup();
    const item = (name: string, fail = false): { close: () => Promise<void> } => ({
      close: () => {
        closed.push(name);
        return fail ? Promise.reject(new Error(`${name} broke`)) : Promise.resolve();
      },
    });
    cleanup.add(item('folder'));
    cleanup.add(item('etcd', true));
    cleanup.add(item('coraft'));
    await Promise.all([cleanup.run((l) => reports.push(l)), cleanup.run((l) => reports.push(l))]);
    await cleanup.run();
    assert.deepEqual(closed, ['coraft', 'etcd', 'folder']);
    assert.deepEqual(reports, ['cleanup failed: etcd broke']);
  });
});
