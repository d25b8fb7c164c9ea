// Proves, with real RaftNodes on the simulated network and virtual time, that the runtime's
// snapshots compact the log where the core's retention says and count what happens:
// - a follower on a slow link from the start (the leader probes it one append per round trip,
//   so it falls behind by more than logRetainEntries, but it answers) while the leader snapshots
//   and compacts several times catches up by AppendEntries: no InstallSnapshot is started (the
//   fixed retain count alone cut it off, again and again, each snapshot superseding the last);
// - a follower that is down (behind, its match stalled for 20 election timeouts) does not hold
//   compaction back (nor would it past logRetainEntriesMax, test/agent/core/retention.test.ts):
//   it gets a snapshot when it returns, and both ends count the transfer in their status.
import { strict as assert } from 'node:assert';
import { SimHarness } from '../../sim/harness.js';
import type { RaftNodeImpl } from '../../../agent/runtime/node.js';
import type { NodeId } from '../../../contracts/log.js';

const IDS = ['n1', 'n2', 'n3'];
/** A snapshot every 1 KiB applied; 2 entries kept behind it, at most 200 for a lagging follower. */
const RAFT = { snapshotThresholdBytes: 1024, logRetainEntries: 2, logRetainEntriesMax: 200 };
const VALUE = 'v'.repeat(100);

async function writeMany(sim: SimHarness, leader: RaftNodeImpl, count: number, prefix: string): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const result = await sim.put(leader, `${prefix}${i % 5}`, VALUE);
    assert.equal(result.type, 'put');
  }
}

function follower(leader: RaftNodeImpl): NodeId {
  const id = IDS.find((candidate) => candidate !== leader.getNodeId());
  assert.ok(id !== undefined);
  return id;
}

async function converged(sim: SimHarness): Promise<void> {
  await sim.until(
    () => {
      const applied = sim.cluster.running().map((node) => node.getStatus().lastApplied);
      return applied.length === IDS.length && applied.every((index) => index === applied[0]);
    },
    5000,
    'every node applies the same entries',
  );
}

describe('runtime snapshots: log retention and counters', () => {
  it('lets a follower on a slow link catch up by AppendEntries while the leader compacts', async () => {
    const sim = new SimHarness(IDS, 11, undefined, RAFT);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const slow = follower(leader);
    // 40 ms each way is within the RPC timeout: the follower answers, only late.
    sim.cluster.network.clog(leader.getNodeId(), slow, 40);
    sim.cluster.network.clog(slow, leader.getNodeId(), 40);
    await writeMany(sim, leader, 60, 'k');
    const status = leader.getStatus();
    const match = status.members.find((m) => m.id === slow)?.matchIndex ?? 0;
    assert.ok(
      status.lastLogIndex - match > RAFT.logRetainEntries,
      `the follower lags (${match}/${status.lastLogIndex})`,
    );
    sim.cluster.network.heal();
    await converged(sim);

    const counts = leader.getStatus().snapshots;
    assert.ok(counts.taken >= 3, `the leader compacted several times (${counts.taken})`);
    assert.equal(counts.sendsStarted, 0, 'no InstallSnapshot was started');
    assert.equal(sim.cluster.node(slow)?.getStatus().snapshots.restored, 0);
  });

  it('does not wait for a follower that is down: it gets a snapshot, counted on both ends', async () => {
    const sim = new SimHarness(IDS, 12, undefined, RAFT);
    await sim.startAll();
    const leader = await sim.waitLeader();
    await writeMany(sim, leader, 3, 'warm');
    const down = follower(leader);
    await sim.cluster.crash(down);
    await writeMany(sim, leader, 50, 'k');
    // Behind without progress for 20 election timeouts (3 s): the leader stops keeping the log for it.
    await sim.run(3500);
    await writeMany(sim, leader, 20, 'later');
    assert.ok(leader.getStatus().snapshots.taken >= 1);
    await sim.cluster.start(down);
    await converged(sim);

    const counts = leader.getStatus().snapshots;
    assert.ok(counts.sendsStarted >= 1, 'the returning follower needed a snapshot');
    assert.equal(counts.sendsCompleted, counts.sendsStarted - counts.sendsFailed);
    assert.ok(counts.sendsCompleted >= 1);
    assert.ok((sim.cluster.node(down)?.getStatus().snapshots.restored ?? 0) >= 1);
  });
});
