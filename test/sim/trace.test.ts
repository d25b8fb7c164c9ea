// Proves what the simulator's trace says about a crash and a restart: the crashed node's last
// line is its `crash`; when it comes back its next lines are its `restart` and a `snapshot` line
// naming the snapshot it restored from its disk, and only then the entries it re-applies, from
// that snapshot's index + 1. Every node's first line is its `restart`.
import { strict as assert } from 'node:assert';
import { SimHarness } from './harness.js';
import { RELIABLE_NETWORK } from '../../agent/sim/network.js';

describe('simulator trace: crashes and restarts', function () {
  this.timeout(60_000);

  it('marks a crash, then the restart and the restored snapshot before the re-applied entries', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 31, RELIABLE_NETWORK, { snapshotThresholdBytes: 1024 });
    await sim.startAll();
    for (const id of sim.ids)
      assert.deepEqual(
        sim.trace.find((e) => e.node === id),
        { t: 0, type: 'restart', node: id },
      );
    const leader = await sim.waitLeader();
    for (let i = 0; i < 30; i += 1) await sim.put(leader, `k${i}`, 'v'.repeat(80));
    const victim = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    await sim.until(
      () => (sim.cluster.nodes.get(victim)?.disk.snapshot?.lastIncludedIndex ?? 0) > 0,
      2000,
      `${victim} took a snapshot`,
    );
    await sim.cluster.crash(victim);
    const persisted = sim.cluster.nodes.get(victim)?.disk.snapshot?.lastIncludedIndex ?? 0;
    const persistedTerm = sim.cluster.nodes.get(victim)?.disk.snapshot?.lastIncludedTerm;
    const own = (): typeof sim.trace => sim.trace.filter((e) => e.node === victim);
    assert.equal(own().at(-1)?.type, 'crash');
    const before = own().length;
    await sim.run(300);
    assert.equal(own().length, before, 'a crashed node writes nothing');
    const restartedAt = sim.timers.nowMs();
    await sim.cluster.start(victim);
    await sim.put(sim.leader(), 'after', 'restart');
    await sim.run(500);
    const after = own().slice(before);
    assert.deepEqual(after[0], { t: restartedAt, type: 'restart', node: victim });
    assert.deepEqual(after[1], {
      t: restartedAt,
      type: 'snapshot',
      node: victim,
      index: persisted,
      term: persistedTerm,
    });
    const applies = after.filter((e) => e.type === 'apply').map((e) => Number(e.index));
    assert.ok(applies.length > 0, 'the restarted node applied entries');
    assert.equal(applies[0], persisted + 1, 're-applies start right after the restored snapshot');
    for (let i = 1; i < applies.length; i += 1) assert.equal(applies[i], (applies[i - 1] ?? 0) + 1);
    assert.equal(after.findIndex((e) => e.type === 'apply') > 1, true, 'restart and snapshot come first');
  });
});
