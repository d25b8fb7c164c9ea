// Named scenarios on the deterministic simulator: real RaftNodes with the KV state machine on a
// simulated network, safety checked after every instant. Each proves one classic claim: a
// leader cut off from the majority is replaced and cannot commit; a node back from a long
// partition does not disrupt the cluster (pre-vote); a 30%-loss network still makes progress;
// a whole-cluster crash loses nothing acknowledged; a retried command runs once.
import { strict as assert } from 'node:assert';
import { SimHarness } from './harness.js';
import { RELIABLE_NETWORK } from '../../agent/sim/network.js';

describe('simulator scenarios', function () {
  this.timeout(120_000);

  it('replaces a leader partitioned from the majority; the old leader commits nothing', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3', 'n4', 'n5'], 11);
    await sim.startAll();
    const old = await sim.waitLeader();
    await sim.put(old, 'k', 'before');
    const others = sim.ids.filter((id) => id !== old.getNodeId());
    sim.cluster.network.partition([[old.getNodeId()], others]);
    const stranded = old.submitCommand(new TextEncoder().encode('never'), 2000);
    stranded.catch(() => undefined);
    await sim.until(
      () => sim.cluster.leaders().some((l) => l.getNodeId() !== old.getNodeId()),
      3000,
      'the majority elects a new leader',
    );
    const fresh = sim.cluster.leaders().find((l) => l.getNodeId() !== old.getNodeId());
    assert.ok(fresh);
    assert.ok(fresh.getCurrentTerm() > old.getCurrentTerm() || !old.isLeader());
    await sim.put(fresh, 'k', 'after');
    await assert.rejects(sim.settle(stranded), { code: 'RAFT_TIMEOUT' });
    sim.cluster.network.heal();
    await sim.run(1000);
    assert.equal(await sim.get(sim.leader(), 'k'), 'after');
    assert.equal(old.isLeader(), false);
  });

  it('does not let a node back from a long partition disrupt the cluster (pre-vote)', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 5);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const loner = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    sim.cluster.network.partition([[loner], sim.ids.filter((id) => id !== loner)]);
    await sim.run(10_000);
    const lonerNode = sim.cluster.node(loner);
    assert.ok(lonerNode);
    assert.equal(
      lonerNode.getCurrentTerm(),
      leader.getCurrentTerm(),
      'pre-vote kept the isolated node from raising its term',
    );
    const term = leader.getCurrentTerm();
    sim.cluster.network.heal();
    await sim.run(3000);
    assert.equal(sim.leader().getNodeId(), leader.getNodeId(), 'the leader kept its leadership');
    assert.equal(leader.getCurrentTerm(), term, 'no election was forced');
  });

  it('makes progress on a network that loses 30% of messages', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 3, { ...RELIABLE_NETWORK, lossRate: 0.3 });
    await sim.startAll();
    const leader = await sim.waitLeader(20_000);
    for (let i = 0; i < 10; i += 1) await sim.put(sim.cluster.leaders()[0] ?? leader, `k${i}`, `v${i}`);
    await sim.until(() => sim.cluster.leaders().length === 1, 10_000, 'a leader');
    for (let i = 0; i < 10; i += 1) assert.equal(await sim.get(sim.leader(), `k${i}`), `v${i}`);
  });

  it('keeps every acknowledged write through a crash of the whole cluster (Property 17)', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 8);
    await sim.startAll();
    const leader = await sim.waitLeader();
    for (let i = 0; i < 20; i += 1) await sim.put(leader, `k${i}`, `v${i}`);
    for (const id of sim.ids) await sim.cluster.crash(id);
    await sim.run(100);
    for (const id of sim.ids) await sim.cluster.start(id);
    const next = await sim.waitLeader();
    for (let i = 0; i < 20; i += 1) assert.equal(await sim.get(next, `k${i}`), `v${i}`);
  });

  it('runs a retried command once and returns the cached response (Property 19)', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 4);
    await sim.startAll();
    const leader = await sim.waitLeader();
    await sim.put(leader, 'k', 'v0');
    const session = { clientId: 'client-a', seq: 1 };
    const first = await sim.put(leader, 'k', 'v1', session);
    await sim.put(leader, 'k', 'v2');
    const retry = await sim.put(leader, 'k', 'v1', session);
    assert.deepEqual(retry, first, 'the retry returns the first response');
    assert.equal(await sim.get(leader, 'k'), 'v2', 'the retry did not run again');
  });

  it('forwards writes and reads from a follower to the leader', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 9);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const follower = sim.cluster.running().find((n) => n !== leader);
    assert.ok(follower);
    await sim.put(follower, 'f', 'from-follower');
    assert.equal(await sim.get(follower, 'f'), 'from-follower');
  });
});
