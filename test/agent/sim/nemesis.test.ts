// Proves the nemesis's crash action on a cluster too small for any minority to go down (two
// nodes, which membership changes produce for a while when they replace a voter of three): it
// crashes nothing and does not abort. The sweep found `intBetween range is not empty` aborts
// there: the action drew a node to restart from an empty list of down nodes.
import { strict as assert } from 'node:assert';
import { Nemesis } from '../../../agent/sim/nemesis.js';
import { SIM_RAFT_CONFIGURATION, SimCluster } from '../../../agent/sim/cluster.js';
import { RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SeededPrng } from '../../../contracts/prng.js';

async function crashOnly(
  ids: string[],
  seed: number,
): Promise<{ cluster: SimCluster; faults: string[]; mostDown: number }> {
  const timers = new VirtualTimers();
  const cluster = new SimCluster(
    timers,
    {
      seed,
      nodeIds: ids,
      raft: SIM_RAFT_CONFIGURATION,
      faults: RELIABLE_NETWORK,
      syncDelayMs: 1,
    },
    () => undefined,
  );
  for (const id of ids) await cluster.start(id);
  const faults: string[] = [];
  const nemesis = new Nemesis(cluster, timers, new SeededPrng(seed), new Set(['crash'] as const), 5_000, {
    membership: false,
  });
  let mostDown = 0;
  nemesis.onFault = (description) => {
    faults.push(description);
    mostDown = Math.max(mostDown, ids.length - cluster.running().length);
  };
  nemesis.start();
  await timers.runUntil(5_000);
  nemesis.stop();
  return { cluster, faults, mostDown };
}

describe('nemesis: crashes', () => {
  it('crashes nothing in a cluster of two nodes, and does not abort', async () => {
    for (let seed = 1; seed <= 5; seed += 1) {
      const { cluster, faults } = await crashOnly(['n1', 'n2'], seed);
      assert.deepEqual(faults, [], `seed ${seed}`);
      assert.equal(cluster.running().length, 2);
      for (const node of cluster.running()) await node.stop();
    }
  });

  it('keeps at most a minority of three nodes down, and does crash and restart them', async () => {
    const { cluster, faults, mostDown } = await crashOnly(['n1', 'n2', 'n3'], 1);
    assert.ok(
      faults.some((f) => f.includes('crashed')),
      'it crashed a node',
    );
    assert.ok(
      faults.some((f) => f.includes('restarted')),
      'it restarted a node',
    );
    assert.equal(mostDown, 1);
    for (const node of cluster.running()) await node.stop();
  });
});

describe('nemesis: a restart that throws', () => {
  // A crashed node whose disk no longer reads back (a gap in its log) fails its restart. The run
  // must record that as a violation naming the node and the error, so that `coraft sim` reports
  // its seed like any other failure; it used to be a rejection nothing handled, which ended the
  // process without the seed.
  it('is a violation of the run, not an unhandled rejection', async () => {
    const timers = new VirtualTimers();
    const ids = ['n1', 'n2', 'n3'];
    const cluster = new SimCluster(
      timers,
      { seed: 1, nodeIds: ids, raft: SIM_RAFT_CONFIGURATION, faults: RELIABLE_NETWORK, syncDelayMs: 1 },
      () => undefined,
    );
    for (const id of ids) await cluster.start(id);
    await timers.runUntil(2_000);
    const crash = cluster.crash.bind(cluster);
    cluster.crash = async (id) => {
      await crash(id);
      const disk = cluster.nodes.get(id)?.disk;
      const first = disk?.entries[0];
      if (disk !== undefined && first !== undefined) disk.entries = [first, { ...first, index: first.index + 2 }];
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const nemesis = new Nemesis(cluster, timers, new SeededPrng(1), new Set(['crash'] as const), 8_000, {
        membership: false,
      });
      nemesis.start();
      await timers.runUntil(8_000);
      nemesis.stop();
      // Let the process report any rejection left unhandled.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    const failed = cluster.checker.violations.filter((v) => /failed to restart: .*log has a gap/.test(v));
    assert.ok(failed.length > 0, `a violation names the failed restart: ${cluster.checker.violations.join('; ')}`);
    for (const node of cluster.running()) await node.stop();
  });
});
