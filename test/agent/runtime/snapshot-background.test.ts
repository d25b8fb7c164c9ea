// Proves that a snapshot no longer holds the Ready loop (issue 16), on three real nodes over the
// simulated network with virtual time, with disks that hold every snapshot write (a persist that
// carries a snapshot, and a snapshot writer's commit) until the test releases them:
// - while the leader's snapshot is held on its way to disk, clients' writes go on committing and
//   being answered (on a snapshot taken on the Ready loop they all waited for it), and the
//   leader's log is not compacted (compaction waits until the snapshot is durable);
// - once released, the snapshot is counted, the core's snapshot index is the captured one, and the
//   entries applied while it was held count toward the next snapshot, which is captured next;
// - a signed snapshot command given while one is under way waits for it, then takes one at the
//   applied index of that moment, and resolves with that index.
import { strict as assert } from 'node:assert';
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import type { Snapshots } from '../../../agent/runtime/snapshots.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SimNetwork, RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import type { SnapshotMeta } from '../../../contracts/log.js';
import type { PersistBatch, SnapshotWriter } from '../../../contracts/persistence.js';
import { EchoStateMachine } from './sim-cluster.js';

/** A memory engine that holds every snapshot write while `holding`, until `release()`. */
class SnapshotGatedStorage extends MemoryPersistenceEngine {
  holding = true;
  /** Snapshot writes begun (held or not). */
  snapshotWrites = 0;
  private held: (() => void)[] = [];

  override persist(batch: PersistBatch): Promise<void> {
    if (batch.snapshot === null) return super.persist(batch);
    this.snapshotWrites += 1;
    return this.gate(() => super.persist(batch));
  }

  override beginSnapshot(meta: SnapshotMeta, totalBytes?: number): SnapshotWriter {
    const writer = super.beginSnapshot(meta, totalBytes);
    this.snapshotWrites += 1;
    return {
      write: (chunk) => writer.write(chunk),
      commit: () => this.gate(() => writer.commit()),
      abort: () => writer.abort(),
    };
  }

  get heldCount(): number {
    return this.held.length;
  }

  release(): void {
    this.holding = false;
    for (const write of this.held.splice(0)) write();
  }

  private gate<T>(write: () => Promise<T>): Promise<T> {
    if (!this.holding) return write();
    return new Promise((resolve, reject) => this.held.push(() => void write().then(resolve, reject)));
  }
}

const RAFT = { ...DEFAULT_RAFT_CONFIGURATION, snapshotThresholdBytes: 2048, snapshotThresholdBytesMax: 0 };
const command = (i: number): Uint8Array => new TextEncoder().encode(`${i}:${'v'.repeat(500)}`);

async function cluster(seed: number) {
  const timers = new VirtualTimers();
  const network = new SimNetwork(timers, new SeededPrng(seed), RELIABLE_NETWORK);
  const ids = ['a', 'b', 'c'];
  const nodes = ids.map((id, i) => {
    const { client, server } = network.endpoint(id);
    const storage = new SnapshotGatedStorage();
    const deps = {
      timers,
      prng: new SeededPrng(seed * 10 + i),
      client,
      server,
      storage,
      stateMachine: new EchoStateMachine(),
      logger: new MemoryLogger(),
      metrics: new NoopMetrics(),
      membership: new DefaultMembershipManager(),
    };
    const node = new RaftNodeImpl(deps, { nodeId: id, raft: RAFT, bootstrap: simpleConfiguration(ids) });
    return { node, storage };
  });
  for (const n of nodes) await n.node.start();
  await timers.runUntil(timers.nowMs() + 2000);
  const leader = nodes.find((n) => n.node.isLeader());
  assert.ok(leader, 'a leader was elected');
  return { timers, leader, nodes };
}

describe('a snapshot in the background (snapshots.ts)', () => {
  it('lets writes commit while it is on its way to disk, and compacts once it is durable', async () => {
    const { timers, leader, nodes } = await cluster(21);
    const submit = async (i: number): Promise<void> => {
      let answer: Uint8Array | null = null;
      void leader.node.submitCommand(command(i), 1000).then((result) => (answer = result));
      await timers.runUntil(timers.nowMs() + 20);
      assert.deepEqual(answer, command(i), `write ${i} is answered within 20 ms`);
    };
    let i = 0;
    // About 3 KiB applied: past the 2 KiB trigger, so the leader captures a snapshot and its write is held.
    for (; i < 6; i += 1) await submit(i);
    assert.ok(leader.storage.heldCount > 0, "the leader's snapshot write is held");
    const snapshotIndex = leader.node.getStatus().snapshotIndex;

    const startedMs = timers.nowMs();
    // Each is answered within 20 ms while the snapshot is held.
    for (; i < 30; i += 1) await submit(i);
    assert.ok(timers.nowMs() - startedMs < 1000);
    assert.equal(leader.node.getStatus().snapshotIndex, snapshotIndex, 'no compaction before the snapshot is durable');
    assert.equal(leader.node.getStatus().snapshots.taken, 0);
    const appliedWhileHeld = leader.node.getStatus().lastApplied;

    const writesBefore = leader.storage.snapshotWrites;
    leader.storage.release();
    leader.storage.holding = true;
    await timers.runUntil(timers.nowMs() + 50);
    const status = leader.node.getStatus();
    assert.equal(status.snapshots.taken, 1, 'the snapshot is counted once durable');
    assert.ok(status.snapshotIndex > snapshotIndex && status.snapshotIndex < appliedWhileHeld);
    // 24 writes of about 500 bytes were applied while it was held: they trigger the next one at once.
    assert.equal(leader.storage.snapshotWrites, writesBefore + 1, 'the entries applied meanwhile trigger the next');
    for (const n of nodes) n.storage.release();
    await timers.runUntil(timers.nowMs() + 50);
    assert.ok(leader.node.getStatus().snapshotIndex >= appliedWhileHeld);
    for (const n of nodes) await n.node.stop();
  });

  it('answers a snapshot command given while one is under way with a later snapshot', async () => {
    const { timers, leader, nodes } = await cluster(22);
    for (let i = 0; i < 6; i += 1) void leader.node.submitCommand(command(i), 1000);
    await timers.runUntil(timers.nowMs() + 50);
    assert.equal(leader.storage.heldCount, 1, "the leader's snapshot write is held");
    const snapshots = (leader.node as unknown as { snapshots: Snapshots }).snapshots;
    const appliedAtCommand = leader.node.getStatus().lastApplied;
    let taken: number | null = null;
    void snapshots.takeNow().then((index) => (taken = index));
    for (let i = 6; i < 9; i += 1) void leader.node.submitCommand(command(i), 1000);
    await timers.runUntil(timers.nowMs() + 50);
    assert.equal(taken, null, 'the command waits for the snapshot under way');
    const applied = leader.node.getStatus().lastApplied;
    assert.ok(applied > appliedAtCommand);

    leader.storage.release();
    leader.storage.holding = true;
    await timers.runUntil(timers.nowMs() + 50);
    assert.equal(leader.node.getStatus().snapshots.taken, 1);
    assert.equal(taken, null, 'then for the one it asked for');
    assert.equal(leader.storage.heldCount, 1);
    leader.storage.release();
    await timers.runUntil(timers.nowMs() + 50);
    assert.equal(taken, applied, 'the snapshot taken after the one under way, at the applied index');
    assert.equal(leader.node.getStatus().snapshotIndex, applied);
    for (const n of nodes) await n.node.stop();
  });
});
