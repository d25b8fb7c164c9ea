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
