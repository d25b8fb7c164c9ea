// Named membership, leadership-transfer and snapshot scenarios on the simulator (the core and
// runtime of reference section 6 and 10), with every safety property checked after every
// instant: growing 1→3→5 and shrinking 5→3 through joint consensus, replacing a crashed member,
// removing the leader, a removed node that never learnt of it, a learner that cannot keep up,
// transfers to a lagging follower and to a target that crashes, snapshot transfer over a lossy
// reordering network, and crashes while snapshots are being written.
import { strict as assert } from 'node:assert';
import { SimHarness } from './harness.js';
import { RELIABLE_NETWORK } from '../../agent/sim/network.js';
import type { RaftNodeImpl } from '../../agent/runtime/node.js';

async function add(sim: SimHarness, id: string): Promise<void> {
  const leader = sim.leader();
  await sim.cluster.start(id, leader.getStatus().configuration);
  assert.equal(await sim.settle(leader.addServer(id, '')), true);
}

function voters(node: RaftNodeImpl): string[] {
  return [...node.getStatus().configuration.voters].sort();
}

describe('membership, transfer and snapshots', function () {
  this.timeout(120_000);

  it('grows a cluster from 1 to 3 to 5 voters and keeps its data', async () => {
    const sim = new SimHarness(['n1'], 21);
    await sim.startAll();
    await sim.waitLeader();
    await sim.put(sim.leader(), 'a', '1');
    await add(sim, 'n2');
    await add(sim, 'n3');
    assert.deepEqual(voters(sim.leader()), ['n1', 'n2', 'n3']);
    await sim.put(sim.leader(), 'b', '2');
    await add(sim, 'n4');
    await add(sim, 'n5');
    assert.deepEqual(voters(sim.leader()), ['n1', 'n2', 'n3', 'n4', 'n5']);
    await sim.run(500);
    for (const node of sim.cluster.running()) {
      assert.deepEqual(voters(node), ['n1', 'n2', 'n3', 'n4', 'n5'], `${node.getNodeId()} knows the configuration`);
      assert.equal(await sim.get(node, 'a'), '1');
    }
    assert.ok(
      sim.trace.some((e) => e.type === 'config' && e.joint === true),
      'changes went through joint configurations',
    );
  });

  it('shrinks 5 to 3 and stays available', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3', 'n4', 'n5'], 22);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const victims = sim.ids.filter((id) => id !== leader.getNodeId()).slice(0, 2);
    for (const id of victims) assert.equal(await sim.settle(leader.removeServer(id)), true);
    for (const id of victims) await sim.cluster.crash(id);
    assert.equal(voters(leader).length, 3);
    await sim.put(sim.leader(), 'k', 'v');
    assert.equal(await sim.get(sim.leader(), 'k'), 'v');
  });

  it('changes several voters in one joint step: adds two, replaces one, removes two with the leader', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 32);
    await sim.startAll();
    let leader = await sim.waitLeader();
    for (const id of ['n4', 'n5']) {
      await sim.cluster.start(id, leader.getStatus().configuration);
      assert.equal(await sim.settle(leader.addServer(id, '', { learner: true })), true);
    }
    assert.equal(await sim.settle(leader.changeVoters(['n4', 'n5'], [])), true);
    assert.deepEqual(voters(leader), ['n1', 'n2', 'n3', 'n4', 'n5']);
    const joints = sim.trace.filter((e) => e.type === 'config' && e.joint === true && e.node === leader.getNodeId());
    assert.deepEqual(joints.at(-1)?.voters, ['n1', 'n2', 'n3', 'n4', 'n5'], 'both joined in one joint step');
    await sim.cluster.start('n6', leader.getStatus().configuration);
    assert.equal(await sim.settle(leader.addServer('n6', '', { learner: true })), true);
    const old = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    assert.equal(await sim.settle(leader.changeVoters(['n6'], [old])), true);
    assert.ok(voters(leader).includes('n6') && !voters(leader).includes(old));
    const gone = [leader.getNodeId(), voters(leader).find((id) => id !== leader.getNodeId()) ?? 'n1'];
    assert.equal(await sim.settle(leader.changeVoters([], gone)), true);
    await sim.until(
      () => sim.cluster.leaders().some((l) => !gone.includes(l.getNodeId())),
      5000,
      'a remaining voter leads',
    );
    assert.equal(leader.isLeader(), false, 'the removed leader stepped down');
    leader = sim.leader();
    assert.equal(voters(leader).length, 3);
    await sim.put(leader, 'k', 'after');
    await assert.rejects(leader.changeVoters(['n9'], []), { code: 'RAFT_MEMBERSHIP' });
  });

  it('demotes a voter to a learner and promotes it back; refuses to hand leadership to a learner', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3', 'n4'], 33);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const demoted = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    assert.equal(await sim.settle(leader.changeVoters([], [demoted])), true);
    assert.equal(await sim.settle(leader.addServer(demoted, '', { learner: true })), true);
    assert.deepEqual(leader.getStatus().configuration.learners, [demoted]);
    await assert.rejects(leader.transferLeadership(demoted, 1000), { code: 'RAFT_TRANSFER' });
    await assert.rejects(leader.transferLeadership(leader.getNodeId(), 1000), { code: 'RAFT_TRANSFER' });
    assert.equal(leader.isLeader(), true);
    await sim.put(leader, 'k', 'still leading');
    assert.equal(await sim.settle(leader.changeVoters([demoted], [])), true);
    assert.ok(voters(leader).includes(demoted));
    assert.equal(await sim.get(sim.cluster.node(demoted) ?? leader, 'k'), 'still leading');
  });

  it('refuses a second change while one is in progress', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 23);
    await sim.startAll();
    const leader = await sim.waitLeader();
    await sim.cluster.start('n4', leader.getStatus().configuration);
    const first = leader.addServer('n4', '');
    await assert.rejects(leader.addServer('n5', ''), { code: 'RAFT_MEMBERSHIP' });
    assert.equal(await sim.settle(first), true);
  });

  it('replaces a crashed member with a new node', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 24);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const dead = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    await sim.cluster.crash(dead);
    assert.equal(await sim.settle(leader.removeServer(dead)), true);
    await add(sim, 'n4');
    assert.ok(voters(sim.leader()).includes('n4'));
    assert.ok(!voters(sim.leader()).includes(dead));
    await sim.put(sim.leader(), 'k', 'after-replace');
  });

  it('removes the leader: it manages the change until C_new commits, then steps down', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 25);
    await sim.startAll();
    const leader = await sim.waitLeader();
    assert.equal(await sim.settle(leader.removeServer(leader.getNodeId())), true);
    await sim.until(() => sim.cluster.leaders().some((l) => l !== leader), 5000, 'a remaining node leads');
    assert.equal(leader.isLeader(), false);
    await sim.run(3000);
    assert.equal(leader.isLeader(), false, 'the removed leader never campaigns again');
    await sim.put(sim.cluster.leaders()[0] ?? leader, 'k', 'v');
  });

  it('keeps a removed node that never learnt of its removal from disrupting the cluster', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3', 'n4'], 26);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const outcast = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    sim.cluster.network.partition([[outcast], sim.ids.filter((id) => id !== outcast)]);
    assert.equal(await sim.settle(leader.removeServer(outcast)), true);
    const term = leader.getCurrentTerm();
    sim.cluster.network.heal();
    await sim.run(5000);
    assert.equal(sim.leader(), leader, 'the leader keeps leading');
    assert.equal(leader.getCurrentTerm(), term, 'no term was disrupted');
  });

  it('does not promote a learner that cannot keep up, and fails the request clearly', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 27, RELIABLE_NETWORK, { learnerCatchUpTimeoutMs: 2000 });
    await sim.startAll();
    const leader = await sim.waitLeader();
    await sim.cluster.start('slow', leader.getStatus().configuration);
    sim.cluster.network.cutLink(leader.getNodeId(), 'slow');
    await assert.rejects(sim.settle(leader.addServer('slow', '')), (error: unknown) => {
      assert.equal((error as { code: string }).code, 'RAFT_MEMBERSHIP');
      assert.match((error as Error).message, /did not catch up/);
      return true;
    });
    assert.ok(!voters(leader).includes('slow'));
  });

  it('says why a learner did not catch up when the leader refused its address, and logs it once', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 27, RELIABLE_NETWORK, { learnerCatchUpTimeoutMs: 2000 });
    await sim.startAll();
    const leader = await sim.waitLeader();
    await sim.cluster.start('n4', leader.getStatus().configuration);
    const reason = 'peers n4 and n2 are both reached at 127.0.0.1:5684: one process cannot answer for two members';
    sim.cluster.network.refuseAddress(leader.getNodeId(), 'n4', reason);
    await assert.rejects(sim.settle(leader.addServer('n4', '')), (error: unknown) => {
      assert.equal((error as { code: string }).code, 'RAFT_MEMBERSHIP');
      assert.match((error as Error).message, /did not catch up .*: the leader did not send to it \(peers n4 and n2/);
      return true;
    });
    const warnings = (sim.cluster.nodes.get(leader.getNodeId())?.logger.records ?? []).filter(
      (r) => r.level === 'warning' && r.fields['peer'] === 'n4' && r.fields['reason'] === reason,
    );
    assert.equal(warnings.length, 1, 'the refusal is logged once, with both members and the address');
  });

  it('transfers leadership to a lagging follower once it has caught up', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 28);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const target = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    sim.cluster.network.partition([[target], sim.ids.filter((id) => id !== target)]);
    for (let i = 0; i < 20; i += 1) await sim.put(leader, `k${i}`, 'v');
    sim.cluster.network.heal();
    const to = await sim.settle(leader.transferLeadership(target, 3000));
    assert.equal(to, target);
    await sim.until(() => sim.cluster.node(target)?.isLeader() === true, 2000, 'the target leads');
    assert.equal(await sim.get(sim.leader(), 'k19'), 'v');
  });

  it('aborts a transfer whose target crashes and resumes accepting proposals', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 29);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const target = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    sim.cluster.network.cutLink(leader.getNodeId(), target);
    const transfer = leader.transferLeadership(target, 1000);
    transfer.catch(() => undefined);
    await sim.cluster.crash(target);
    await assert.rejects(leader.submitCommand(new TextEncoder().encode('x'), 100), { code: 'RAFT_TRANSFER' });
    await assert.rejects(sim.settle(transfer), { code: 'RAFT_TIMEOUT' });
    assert.equal(leader.isLeader(), true);
    await sim.put(leader, 'k', 'after-abort');
  });

  it('sends a snapshot in chunks over a lossy, reordering network', async () => {
    const faults = { ...RELIABLE_NETWORK, lossRate: 0.1, reorderRate: 0.2, reorderDelayMs: 15, latencyMaxMs: 6 };
    const sim = new SimHarness(['n1', 'n2', 'n3'], 30, faults, {
      snapshotThresholdBytes: 2048,
      snapshotChunkBytes: 512,
    });
    await sim.startAll();
    let leader = await sim.waitLeader(20_000);
    const lagger = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    await sim.cluster.crash(lagger);
    for (let i = 0; i < 150; i += 1) {
      await sim.until(() => sim.cluster.leaders().length === 1, 20_000, 'a leader');
      leader = sim.leader();
      await sim.put(leader, `k${i % 40}`, `value-${i}-${'x'.repeat(40)}`).catch(() => undefined);
    }
    await sim.cluster.start(lagger);
    await sim.until(
      () => sim.trace.some((e) => e.type === 'snapshot' && e.node === lagger),
      20_000,
      'the lagging node restores a snapshot',
    );
    await sim.until(
      () => (sim.cluster.node(lagger)?.getStatus().lastApplied ?? 0) >= sim.leader().getStatus().commitIndex,
      20_000,
      'it catches up',
    );
    const node = sim.cluster.node(lagger);
    assert.ok(node);
    assert.equal(node.readLocal(new Uint8Array()) instanceof Uint8Array, true);
    await sim.run(500);
  });

  it('survives crashes at any point while snapshots are written', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 31, RELIABLE_NETWORK, {
      snapshotThresholdBytes: 1024,
      snapshotChunkBytes: 512,
    });
    await sim.startAll();
    await sim.waitLeader();
    let written = 0;
    for (let round = 0; round < 12; round += 1) {
      await sim.until(() => sim.cluster.leaders().length === 1, 10_000, 'a leader');
      for (let i = 0; i < 10; i += 1) {
        await sim.put(sim.leader(), `k${i}`, `r${round}-${'y'.repeat(30)}`).catch(() => undefined);
        written += 1;
      }
      // Crash a random node a few ms into its work: a snapshot write may be in flight.
      const victim = sim.ids[round % 3] ?? 'n1';
      await sim.run(round % 4);
      await sim.cluster.crash(victim);
      await sim.run(50);
      await sim.cluster.start(victim);
    }
    await sim.until(() => sim.cluster.leaders().length === 1, 10_000, 'a leader');
    await sim.run(2000);
    assert.ok(written > 0);
    for (const node of sim.cluster.running()) {
      const disk = sim.cluster.nodes.get(node.getNodeId())?.disk;
      assert.ok(disk?.snapshot !== null, `${node.getNodeId()} holds a complete snapshot`);
    }
    const values = new Set<string | null>();
    for (const node of sim.cluster.running()) values.add(await sim.get(node, 'k9'));
    assert.equal(values.size, 1);
  });
});
