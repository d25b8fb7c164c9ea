// Proves how the comparison benches add up a measurement made of slices (bench/_closed-loop.ts):
// CPU and disk writes are summed as differences over each slice's window, memory peaks are the
// highest seen, disk writes become unknown once a reading lacks them, and the rates divide by
// the measured time and the acknowledged writes only; the warm-up before a comparison loads every
// load shape in turn and measures nothing; a slice keeps its keys within the store budget and
// removes them when it ends.
import { strict as assert } from 'node:assert';
import {
  KEYS_PER_CLIENT,
  LoadAccumulator,
  STORE_BUDGET_BYTES,
  keysPerClient,
  loadFigures,
  runSlice,
  warmUp,
} from '../../bench/_closed-loop.js';
import type { BenchSystem } from '../../bench/_system.js';
import type { ProcessSample } from '../../bench/_proc.js';

const sample = (cpuSeconds: number, writeBytes: number | null, writeCallBytes = writeBytes): ProcessSample => ({
  cpuSeconds,
  rssBytes: 0,
  rssPeakBytes: 0,
  rssAnonBytes: 0,
  rssFileBytes: 0,
  writeBytes,
  writeCallBytes,
});

describe('bench closed-loop figures', () => {
  it('adds slices: CPU and writes as differences, peaks as maxima, rates over measured time', () => {
    const acc = new LoadAccumulator(16, 256);
    acc.addMember('a', sample(10, 1000), sample(12, 5096), 80, 40);
    acc.addMember('b', sample(5, 0), sample(5.5, 4096), 70, 30);
    acc.addMember('a', sample(20, 9000), sample(21, 9000), 60, 50);
    acc.addMember('b', sample(6, 4096), sample(6.5, 8192), 90, 20);
    acc.writes = 3000;
    acc.errors = 2;
    acc.elapsedMs = 1500;
    for (const ms of [1, 2, 3]) acc.latencies.record(ms);
    const f = loadFigures(acc);
    assert.equal(f.writesPerSecond, 2000);
    assert.equal(f.cpuSecondsPer1000Writes, 1.3333);
    assert.deepEqual(
      f.members.map((m) => [
        m.id,
        m.cpuSeconds,
        m.cpuSecondsPer1000Writes,
        m.writeBytes,
        m.rssPeakBytes,
        m.rssAnonPeakBytes,
      ]),
      [
        ['a', 3, 1, 4096, 80, 50],
        ['b', 1, 0.3333, 8192, 90, 30],
      ],
    );
    assert.equal(f.p50Ms, 2);
    assert.equal(f.errors, 2);
  });

  it('leaves writes unknown once a reading lacks them, and CPU per write unknown without writes', () => {
    const acc = new LoadAccumulator(1, 256);
    acc.addMember('a', sample(1, 100), sample(2, 200), 0, 0);
    acc.addMember('a', sample(2, null), sample(3, 300), 0, 0);
    acc.addMember('a', sample(3, 300), sample(4, 400), 0, 0);
    acc.addMember('gone', null, sample(4, 400), 0, 0);
    const f = loadFigures(acc);
    assert.equal(f.members[0]?.writeBytes, null);
    assert.equal(f.members[1]?.cpuSeconds, 0);
    assert.equal(f.cpuSecondsPer1000Writes, null);
    assert.equal(f.writesPerSecond, 0);
  });

  it('sums the bytes handed to write calls apart from the block-layer writes', () => {
    const acc = new LoadAccumulator(1, 256);
    acc.addMember('a', sample(1, 100, 10), sample(2, 8292, 4106), 0, 0);
    acc.addMember('a', sample(2, 8292, 4106), sample(3, 8292, 5106), 0, 0);
    acc.addMember('b', sample(1, 0, 0), sample(2, 0, null), 0, 0);
    const f = loadFigures(acc);
    assert.deepEqual(
      f.members.map((m) => [m.id, m.writeBytes, m.writeCallBytes]),
      [
        ['a', 8192, 5096],
        ['b', 0, null],
      ],
    );
  });

  it('warms a system up with every load shape in turn, each for its share of the time', async () => {
    const opened: string[] = [];
    let writes = 0;
    const system: BenchSystem = {
      name: 'coraft',
      start: () => Promise.resolve(new Map()),
      members: () => [],
      leader: () => Promise.resolve('n1'),
      openWriter: (_id, value) => {
        opened.push(`${value.byteLength}`);
        return Promise.resolve({
          put: async () => {
            writes += 1;
            await new Promise((r) => setTimeout(r, 1));
            return true;
          },
          close: () => Promise.resolve(),
        });
      },
      removeKeys: () => Promise.resolve(),
      probe: () => Promise.reject(new Error('not used')),
      settle: () => Promise.resolve(),
      snapshotSends: () => Promise.resolve(null),
      snapshotSendsSource: 'none',
      close: () => Promise.resolve(),
    };
    const started = performance.now();
    await warmUp(
      system,
      [
        { clients: 2, valueBytes: 256 },
        { clients: 1, valueBytes: 4096 },
      ],
      60,
      1000,
    );
    assert.ok(performance.now() - started >= 55, 'the shapes share the whole warm-up time');
    assert.deepEqual(opened, ['256', '256', '4096']);
    assert.ok(writes > 0);
    opened.length = 0;
    await warmUp(system, [{ clients: 1, valueBytes: 256 }], 0, 1000);
    assert.deepEqual(opened, [], 'no warm-up when its time is 0');
  });

  it('keeps the keys of a slice within the store budget and removes them when it ends', async () => {
    const written = new Set<string>();
    const removed: string[] = [];
    const system: BenchSystem = {
      name: 'etcd',
      start: () => Promise.resolve(new Map()),
      members: () => [],
      leader: () => Promise.resolve('m1'),
      openWriter: () =>
        Promise.resolve({
          put: async (key: string) => {
            written.add(key);
            await new Promise((r) => setTimeout(r, 1));
            return true;
          },
          close: () => Promise.resolve(),
        }),
      removeKeys: (id, keys) => {
        assert.equal(id, 'm1', 'through the leader');
        removed.push(...keys);
        return Promise.resolve();
      },
      probe: () => Promise.reject(new Error('not used')),
      settle: () => Promise.resolve(),
      snapshotSends: () => Promise.resolve(null),
      snapshotSendsSource: 'none',
      close: () => Promise.resolve(),
    };
    const valueBytes = STORE_BUDGET_BYTES / 4;
    assert.equal(keysPerClient(2, valueBytes), 2, 'two clients of a quarter of the budget get two keys each');
    assert.equal(keysPerClient(1, 256), KEYS_PER_CLIENT);
    assert.equal(keysPerClient(300, STORE_BUDGET_BYTES), 1, 'at least one key each');
    await runSlice(system, new LoadAccumulator(2, valueBytes), { durationMs: 30, warmupMs: 0, settleBoundMs: 1000 });
    assert.deepEqual([...written].sort(), ['bench-0-0', 'bench-0-1', 'bench-1-0', 'bench-1-1']);
    assert.deepEqual([...removed].sort(), [...written].sort(), 'every key written is removed, once');
  });
});
