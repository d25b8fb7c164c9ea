// Proves the in-memory engine meets the PersistenceEngine contract: the shared suite of
// persistence-contract.ts run on engines over one MemoryDisk (reopen = a new engine on it); and
// its crash that keeps a prefix of the writes not yet synced.
import { strict as assert } from 'node:assert';
import { VirtualTimers } from '../../agent/sim/virtual-time.js';
import { EMPTY_BATCH, MemoryDisk, MemoryPersistenceEngine } from '../../storage/memory.js';
import { entries, memoryHarness } from './helpers.js';
import { persistenceContract } from './persistence-contract.js';

persistenceContract('memory', memoryHarness);

describe("memory engine: a crash that keeps part of the unsynced tail (the simulator's unsynced fault)", () => {
  it('keeps exactly the first writes issued, in order, and none after them', async () => {
    const timers = new VirtualTimers();
    const disk = new MemoryDisk();
    const engine = new MemoryPersistenceEngine({ disk, timers }, { syncDelayMs: 5 });
    const writes = [
      engine.persist({ ...EMPTY_BATCH, entries: entries(1, 2, 1), hardState: { currentTerm: 1, votedFor: 'a' } }),
      engine.persist({ ...EMPTY_BATCH, entries: entries(3, 3, 1) }),
      engine.persist({
        ...EMPTY_BATCH,
        truncateFrom: 3,
        entries: entries(3, 4, 2),
        hardState: { currentTerm: 2, votedFor: 'b' },
      }),
    ];
    for (const write of writes) write.catch(() => undefined);
    assert.equal(engine.unsyncedCount(), 3);
    assert.equal(await engine.closeKeeping(2), 2);
    await timers.runUntil(100);
    await Promise.allSettled(writes);
    assert.deepEqual(
      disk.entries.map((e) => [e.index, e.term]),
      [
        [1, 1],
        [2, 1],
        [3, 1],
      ],
    );
    assert.deepEqual(disk.hardState, { currentTerm: 1, votedFor: 'a' });
  });

  it('keeps nothing once every write is synced, and nothing when asked to keep none', async () => {
    const timers = new VirtualTimers();
    const disk = new MemoryDisk();
    const engine = new MemoryPersistenceEngine({ disk, timers }, { syncDelayMs: 5 });
    const synced = engine.persist({ ...EMPTY_BATCH, entries: entries(1, 1, 1) });
    await timers.runUntil(10);
    await synced;
    assert.equal(engine.unsyncedCount(), 0);
    const lost = engine.persist({ ...EMPTY_BATCH, entries: entries(2, 2, 1) });
    lost.catch(() => undefined);
    assert.equal(await engine.closeKeeping(0), 0);
    await timers.runUntil(20);
    await assert.rejects(lost);
    assert.deepEqual(
      disk.entries.map((e) => e.index),
      [1],
    );
  });
});
