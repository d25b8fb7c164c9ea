// Proves the snapshot trigger that grows with the store (snapshotTriggerBytes, issue 16: under 64
// clients of 4 KiB values a 21 MB snapshot every 10 MB applied stalled every write on all three
// nodes at once):
// - the trigger is snapshotThresholdBytes until a snapshot is larger than half of it, then twice
//   the last snapshot's size, never above snapshotThresholdBytesMax; a max at or below the
//   threshold keeps the fixed trigger;
// - with real RaftNodes on the simulated network, a store of about 12 KiB written over and over
//   with a 1 KiB threshold: the fixed trigger (max 0, the simulator's) snapshots about every
//   1 KiB applied, the growing one only once about twice the snapshot's size was applied, so at
//   most a third as often; both end with every node applying the same entries;
// - the voters do not snapshot at the same index: the first trigger after a start is lowered by
//   the node's rank among the voters (firstTriggerBytes), so with real RaftNodes on the simulated
//   network, writing one entry at a time, n3 takes its first snapshot first, then n2, then n1, each
//   at a different index, and every later snapshot keeps them apart;
// - agent.json's raft.snapshotThresholdBytesMax is accepted (an integer >= 0), defaults to
//   64 MiB, and the memory budget lowers it with the trigger under a small heap.
import { strict as assert } from 'node:assert';
import { AGENT_RAFT_DEFAULTS, resolveAgentConfig } from '../../../agent/config/agent-config.js';
import { SNAPSHOT_HEAP_SHARE } from '../../../agent/config/memory-budget.js';
import {
  SNAPSHOT_GROWTH_FACTOR,
  snapshotTriggerBytes,
  validateRaftConfiguration,
} from '../../../contracts/raft-configuration.js';
import { firstTriggerBytes } from '../../../agent/runtime/snapshots.js';
import type { ClusterConfiguration } from '../../../contracts/log.js';
import { SimHarness } from '../../sim/harness.js';
import { rawAgentConfig } from '../config/raw-config.js';

const MIB = 1024 * 1024;
const IDS = ['n1', 'n2', 'n3'];

describe('the snapshot trigger', () => {
  it('is the threshold, or twice the last snapshot within the max', () => {
    const config = { snapshotThresholdBytes: 10_000_000, snapshotThresholdBytesMax: 64 * MIB };
    assert.equal(SNAPSHOT_GROWTH_FACTOR, 2);
    assert.equal(snapshotTriggerBytes(config, 0), 10_000_000);
    assert.equal(snapshotTriggerBytes(config, 4_000_000), 10_000_000);
    assert.equal(snapshotTriggerBytes(config, 21_000_000), 42_000_000);
    assert.equal(snapshotTriggerBytes(config, 40 * MIB), 64 * MIB);
    for (const max of [0, 10_000_000, 5_000_000])
      assert.equal(snapshotTriggerBytes({ ...config, snapshotThresholdBytesMax: max }, 21_000_000), 10_000_000);
  });

  async function snapshotsTaken(max: number): Promise<{ taken: number; applied: number }> {
    const raft = { snapshotThresholdBytes: 1024, snapshotThresholdBytesMax: max };
    const sim = new SimHarness(IDS, 5, undefined, raft);
    await sim.startAll();
    const leader = await sim.waitLeader();
    for (let i = 0; i < 240; i += 1) assert.equal((await sim.put(leader, `k${i % 24}`, 'v'.repeat(500))).type, 'put');
    await sim.until(
      () => new Set(sim.cluster.running().map((node) => node.getStatus().lastApplied)).size === 1,
      5000,
      'every node applies the same entries',
    );
    return { taken: leader.getStatus().snapshots.taken, applied: leader.getStatus().lastApplied };
  }

  it('lets a node snapshot a store larger than the threshold less often', async () => {
    const fixed = await snapshotsTaken(0);
    const growing = await snapshotsTaken(64 * MIB);
    // 240 puts of about 560 bytes: the fixed 1 KiB trigger fires about every other put.
    assert.ok(fixed.taken >= 80, `fixed trigger: ${fixed.taken} snapshots`);
    assert.ok(growing.taken >= 2, `growing trigger: ${growing.taken} snapshots`);
    assert.ok(growing.taken * 3 <= fixed.taken, `growing ${growing.taken} vs fixed ${fixed.taken}`);
  });

  it('comes first, for each voter, a share of the trigger apart', () => {
    const config = (voters: string[]): ClusterConfiguration => ({ voters, learners: [], oldVoters: null, members: [] });
    const three = config(['n3', 'n1', 'n2']);
    assert.deepEqual(
      ['n1', 'n2', 'n3'].map((id) => firstTriggerBytes(6_000, three, id)),
      [6_000, 5_000, 4_000],
    );
    assert.equal(firstTriggerBytes(6_000, three, 'learner'), 6_000);
    assert.equal(firstTriggerBytes(6_000, config(['n1']), 'n1'), 6_000);
    assert.equal(firstTriggerBytes(1, three, 'n3'), 1);
  });

  it('keeps the voters from snapshotting at the same index', async () => {
    const raft = { snapshotThresholdBytes: 6_000, snapshotThresholdBytesMax: 0 };
    const sim = new SimHarness(IDS, 7, undefined, raft);
    await sim.startAll();
    const leader = await sim.waitLeader();
    const snapshotIndexes = new Map<string, Set<number>>(IDS.map((id) => [id, new Set<number>()]));
    for (let i = 0; i < 90; i += 1) {
      assert.equal((await sim.put(leader, `k${i % 8}`, 'v'.repeat(400))).type, 'put');
      const applied = leader.getStatus().lastApplied;
      await sim.until(
        () => sim.cluster.running().every((node) => node.getStatus().lastApplied >= applied),
        5000,
        'every node applies the put',
      );
      for (const node of sim.cluster.running()) {
        const status = node.getStatus();
        if (status.snapshotIndex > 0) snapshotIndexes.get(status.nodeId)?.add(status.snapshotIndex);
      }
    }
    const first = IDS.map((id) => Math.min(...(snapshotIndexes.get(id) ?? [])));
    assert.ok(first[2]! < first[1]! && first[1]! < first[0]!, `first snapshots at ${first.join(', ')} (n1, n2, n3)`);
    const all = IDS.flatMap((id) => [...(snapshotIndexes.get(id) ?? [])]);
    assert.ok(all.length >= 9, `${all.length} snapshots taken`);
    assert.equal(new Set(all).size, all.length, `no two voters snapshot at one index: ${all.join(', ')}`);
  });

  it('is set in agent.json, 64 MiB by default, and lowered by the memory budget', () => {
    assert.equal(resolveAgentConfig(rawAgentConfig(), '/a.json').raft.snapshotThresholdBytesMax, 64 * MIB);
    const set = resolveAgentConfig(rawAgentConfig({ raft: { snapshotThresholdBytesMax: 0 } }), '/a.json');
    assert.equal(set.raft.snapshotThresholdBytesMax, 0);
    assert.throws(
      () => resolveAgentConfig(rawAgentConfig({ raft: { snapshotThresholdBytesMax: -1 } }), '/a.json'),
      /snapshotThresholdBytesMax/,
    );
    const small = resolveAgentConfig(rawAgentConfig(), '/a.json', 104 * MIB).raft;
    assert.ok(small.snapshotThresholdBytesMax <= (104 * MIB) / SNAPSHOT_HEAP_SHARE);
    assert.ok(small.snapshotThresholdBytesMax < 64 * MIB);
    assert.deepEqual(validateRaftConfiguration(AGENT_RAFT_DEFAULTS), []);
  });
});
