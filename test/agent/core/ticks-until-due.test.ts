// Proves RaftCore.ticksUntilDue (agent/core/raft.ts), on which the runtime's deadline-driven
// tick rests: the ticks before the due one only count. Property, over seeded cluster histories
// (elections, replication, a partitioned node, at random points): ticking any one node
// ticksUntilDue() - 1 times on its own changes neither its role nor its term and gives it
// nothing to send or persist. And the due tick itself acts: a leader's is its heartbeat round,
// a follower's its (pre-)campaign.
import { strict as assert } from 'node:assert';
import { CoreCluster, bytes } from './core-cluster.js';
import { SeededPrng } from '../../../contracts/prng.js';

const IDS = ['a', 'b', 'c'];

describe('RaftCore.ticksUntilDue', () => {
  it('the ticks before the due one only count (seeded histories)', () => {
    for (let seed = 1; seed <= 30; seed += 1) {
      const cluster = new CoreCluster(IDS, seed, { heartbeatTicks: 3 });
      const random = new SeededPrng(seed * 101);
      for (let step = 0; step < 60; step += 1) {
        const action = random.intBetween(0, 4);
        if (action === 0) cluster.tick(random.intBetween(1, 8));
        if (action === 1) {
          const leader = cluster.leaders()[0];
          if (leader !== undefined) cluster.core(leader).propose(bytes(`s${seed}-${step}`));
          cluster.stabilize();
        }
        if (action === 2) {
          const cut = IDS[random.intBetween(0, IDS.length)] ?? 'a';
          cluster.drop = (from, to) => from === cut || to === cut;
        }
        if (action === 3) cluster.drop = () => false;
        const id = IDS[random.intBetween(0, IDS.length)] ?? 'a';
        const core = cluster.core(id);
        if (core.hasReady()) cluster.stabilize();
        if (core.hasReady()) continue;
        const role = core.getRole();
        const term = core.getTerm();
        const due = core.ticksUntilDue();
        assert.ok(due >= 1, `seed ${seed}: due in ${due} ticks`);
        for (let i = 0; i < due - 1; i += 1) core.tick();
        const where = `seed ${seed}, step ${step}, ${id} (${role}, due in ${due})`;
        assert.equal(core.getRole(), role, `${where}: role kept`);
        assert.equal(core.getTerm(), term, `${where}: term kept`);
        assert.equal(core.hasReady(), false, `${where}: nothing to send or persist`);
        cluster.stabilize();
      }
    }
  });

  it('a leader is due at its heartbeat round, a follower at its election timeout', () => {
    const cluster = new CoreCluster(IDS, 3, { heartbeatTicks: 3 });
    const leader = cluster.electLeader();
    cluster.stabilize();
    const core = cluster.core(leader);
    const due = core.ticksUntilDue();
    assert.ok(due >= 1 && due <= 3);
    for (let i = 0; i < due - 1; i += 1) core.tick();
    assert.equal(core.hasReady(), false);
    core.tick();
    assert.equal(core.hasReady(), true, 'the due tick sends the heartbeat round');
    cluster.stabilize();
    const follower = IDS.find((id) => id !== leader) ?? 'a';
    cluster.drop = () => true;
    const f = cluster.core(follower);
    const followerDue = f.ticksUntilDue();
    for (let i = 0; i < followerDue - 1; i += 1) f.tick();
    assert.equal(f.getRole(), 'follower');
    f.tick();
    assert.equal(f.getRole(), 'precandidate', 'the due tick starts the pre-campaign');
  });
});
