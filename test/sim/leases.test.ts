// Leases under failover on the deterministic simulator, over seeds. Lease clients (agent/sim/
// lease-workload.ts) grant leases through random nodes, attach a key, keep the lease alive a few
// times and leave it alone, while the leader is crashed (and restarted) or cut off from the others
// every couple of seconds; then the faults stop. Properties checked on every seed:
// - no lease whose keepalive was acknowledged at virtual time t expires before t + TTL;
// - a lease left alone once the faults stopped (a leader exists) expires within TTL + 1 s of its
//   last acknowledgement, and its key vanishes with it (one log index), on every node;
// plus the simulator's safety checks after every instant. A failure prints the seed; replay one
// with LEASE_SEED=N.
import { strict as assert } from 'node:assert';
import { LeaseWorkload } from '../../agent/sim/lease-workload.js';
import { SeededPrng } from '../../contracts/prng.js';
import { RELIABLE_NETWORK } from '../../agent/sim/network.js';
import { SimHarness } from './harness.js';
import { decodeKvResult, encodeKvCommand, encodeKvQuery } from '../../agent/kv/index.js';
import type { KvCommand, KvResult, KvStateMachine } from '../../agent/kv/index.js';

const TTL_MS = 1500;
const FAULTS_UNTIL_MS = 12_000;
/** After the last fault, time enough for an election: from then on a leader exists. */
const SETTLE_MS = 2000;
const END_MS = 24_000;

async function runSeed(seed: number): Promise<{ violations: string[]; expired: number; granted: number }> {
  // Lossy, reordering, duplicating links: a reply may take up to 25 + 80 ms, 2% of messages are
  // lost and 2% delivered twice. Odd seeds run 5 nodes, even ones 3.
  const ids = seed % 2 === 1 ? ['n1', 'n2', 'n3', 'n4', 'n5'] : ['n1', 'n2', 'n3'];
  const sim = new SimHarness(ids, seed, {
    ...RELIABLE_NETWORK,
    lossRate: 0.02,
    duplicateRate: 0.02,
    latencyMaxMs: 25,
    reorderRate: 0.05,
    reorderDelayMs: 80,
  });
  const prng = new SeededPrng(seed);
  await sim.startAll();
  const workload = new LeaseWorkload(sim.cluster, sim.timers, prng.fork(), {
    clients: 4,
    ttlMs: TTL_MS,
    attemptTimeoutMs: 1000,
  });
  const advance = async (untilMs: number): Promise<void> => {
    await sim.timers.runUntil(untilMs, () => {
      sim.cluster.checkEachEvent();
      workload.observe();
      return sim.cluster.checker.violations.length === 0;
    });
    assert.deepEqual(sim.cluster.checker.violations, [], `SEED=${seed}: safety violations`);
  };
  await advance(1000);
  workload.start();
  while (sim.timers.nowMs() < FAULTS_UNTIL_MS) {
    await advance(sim.timers.nowMs() + prng.intBetween(1200, 2500));
    const leader = sim.cluster.leaders()[0];
    if (leader === undefined) continue;
    const id = leader.getNodeId();
    if (prng.nextFloat() < 0.5) {
      await sim.cluster.crash(id);
      await advance(sim.timers.nowMs() + prng.intBetween(100, 800));
      await sim.cluster.start(id);
    } else {
      sim.cluster.network.partition([[id], sim.ids.filter((other) => other !== id)]);
      await advance(sim.timers.nowMs() + prng.intBetween(300, 1500));
      sim.cluster.network.heal();
    }
  }
  const quietFromMs = sim.timers.nowMs() + SETTLE_MS;
  await advance(END_MS);
  const stopped = workload.stop();
  let done = false;
  void stopped.then(() => (done = true));
  while (!done) await advance(sim.timers.nowMs() + 100);
  sim.cluster.checkAll();
  return {
    violations: workload.violations(quietFromMs, END_MS),
    expired: workload.expiredCount(),
    granted: workload.records.length,
  };
}

describe('simulator: leases under failover', function () {
  this.timeout(300_000);

  const replay = process.env['LEASE_SEED'];
  const seeds = replay === undefined ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] : [Number(replay)];

  it('keeps acknowledged leases for their TTL and expires abandoned ones within TTL + 1 s', async () => {
    let expired = 0;
    let granted = 0;
    for (const seed of seeds) {
      const outcome = await runSeed(seed);
      assert.deepEqual(outcome.violations, [], `SEED=${seed} (replay: LEASE_SEED=${seed})`);
      expired += outcome.expired;
      granted += outcome.granted;
    }
    assert.ok(granted >= seeds.length * 4, `clients granted leases (${granted})`);
    assert.ok(expired >= seeds.length * 4, `abandoned leases expired (${expired})`);
  });
});

describe('simulator: leases through InstallSnapshot', function () {
  this.timeout(120_000);

  // A follower cut off while leases are granted and the log is compacted past them catches up by
  // InstallSnapshot: it then holds the same leases (ids, TTLs, refresh indexes) and attachments,
  // and a revoke sent through it deletes the leased keys on every node.
  it('gives a follower restored from a snapshot the same leases', async () => {
    const sim = new SimHarness(['n1', 'n2', 'n3'], 21, RELIABLE_NETWORK, {
      snapshotThresholdBytes: 1024,
      logRetainEntries: 5,
      logRetainEntriesMax: 10,
      logRetainBytesMax: 1024,
    });
    await sim.startAll();
    const leader = await sim.waitLeader();
    const lagging = sim.ids.find((id) => id !== leader.getNodeId()) ?? 'n1';
    sim.cluster.network.partition([[lagging], sim.ids.filter((id) => id !== lagging)]);
    const submit = async (command: KvCommand): Promise<KvResult> =>
      decodeKvResult(await sim.settle(leader.submitAnywhere(encodeKvCommand(command), 3000)));
    const ids: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const granted = await submit({ op: 'lease-grant', ttlMs: 600_000, session: null, timeMs: 0 });
      assert.equal(granted.type, 'lease');
      if (granted.type === 'lease') ids.push(granted.id);
    }
    for (const [i, id] of ids.entries()) {
      const value = new TextEncoder().encode(`v${i}`);
      await submit({
        op: 'put',
        key: `leased/${i}`,
        value,
        returnPrevious: false,
        lease: id,
        session: null,
        timeMs: 0,
      });
    }
    await submit({ op: 'lease-keepalive', id: ids[0] ?? 0, session: null, timeMs: 0 });
    for (let i = 0; i < 60; i += 1) await sim.put(leader, `filler/${i % 5}`, 'x'.repeat(40));
    sim.cluster.network.heal();
    const slot = sim.cluster.nodes.get(lagging);
    await sim.until(
      () =>
        (slot?.node?.getStatus().snapshots.restored ?? 0) > 0 &&
        slot?.kv?.lastApplied === leader.getStatus().lastApplied,
      10_000,
      `${lagging} restores a snapshot and catches up`,
    );
    const leaderKv = sim.cluster.nodes.get(leader.getNodeId())?.kv;
    assert.ok(leaderKv && slot?.kv && slot.node);
    assert.deepEqual(slot.kv.leases(), leaderKv.leases());
    assert.equal(slot.kv.leases().length, 3);
    const show = (kv: KvStateMachine, id: number): KvResult =>
      decodeKvResult(kv.query(encodeKvQuery({ op: 'lease', id })));
    for (const id of ids) assert.deepEqual(show(slot.kv, id), show(leaderKv, id));
    const revoked = decodeKvResult(
      await sim.settle(
        slot.node.submitAnywhere(
          encodeKvCommand({ op: 'lease-revoke', id: ids[1] ?? 0, session: null, timeMs: 0 }),
          3000,
        ),
      ),
    );
    assert.equal(revoked.type === 'lease-end' && revoked.deletedKeys, 1);
    await sim.run(500);
    for (const node of sim.cluster.running()) assert.equal(await sim.get(node, 'leased/1'), null);
    assert.equal(await sim.get(slot.node, 'leased/0'), 'v0');
  });
});
