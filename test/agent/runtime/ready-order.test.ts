// Proves the order of the Ready loop that agent/runtime/node.ts's module comment states, on
// three real nodes over the simulated network with virtual time, by holding the leader's disk
// writes (a storage whose persist waits until the test releases it):
// - a leader sends AppendEntries with new entries while it writes them (Raft thesis §10.2.1):
//   the followers store the entry while the leader's own write is still held;
// - the leader counts itself toward a commit only once its write is synced: with one follower
//   down, the entry that the other follower has stored stays uncommitted until the leader's
//   write is released, and commits right after;
// - nothing is applied or acknowledged to the client before the leader's write is done;
// - an entry that committed while the leader wrote a later one is applied and acknowledged
//   while the leader writes the next group, without waiting for that group's sync;
// - a leader's AppendEntries leave before its write starts, and the entries that committed
//   earlier are applied (clients answered) only once that write is under way, which it asks the
//   engine to overlap with that work (PersistOptions.overlap);
// - a follower answers the leader before it applies an entry that committed before the entries
//   it is writing, and asks its write to overlap nothing (so the WAL engine may sync it inline).
// That votes and answers wait for the disk is node.test.ts's "Property 9" test.
import { strict as assert } from 'node:assert';
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SimNetwork, RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import type { PersistBatch, PersistOptions } from '../../../contracts/persistence.js';
import type { LatencyProbe, LatencyStage } from '../../../agent/observability/latency-probe.js';
import { EchoStateMachine } from './sim-cluster.js';

/** A memory engine whose writes wait, while `holding`, until `release()`. */
class GatedStorage extends MemoryPersistenceEngine {
  holding = false;
  private held: (() => void)[] = [];
  /** Told of every write as it starts. */
  onWrite: (batch: PersistBatch, options: PersistOptions | undefined) => void = () => undefined;
  override persist(batch: PersistBatch, options?: PersistOptions): Promise<void> {
    this.onWrite(batch, options);
    if (!this.holding) return super.persist(batch);
    return new Promise((resolve, reject) =>
      this.held.push(() => {
        super.persist(batch).then(resolve, reject);
      }),
    );
  }
  /** Releases the writes held so far and holds the next ones. */
  releaseAndHoldNext(): void {
    this.release();
    this.holding = true;
  }
  /** Writes held so far. */
  get heldCount(): number {
    return this.held.length;
  }
  release(): void {
    this.holding = false;
    for (const write of this.held.splice(0)) write();
  }
}

/** A latency probe that keeps every mark in the order it was made. */
class OrderProbe implements LatencyProbe {
  readonly marks: string[] = [];
  mark(stage: LatencyStage, index: number): void {
    this.marks.push(`${stage} ${index}`);
  }
}

async function cluster(seed: number) {
  const timers = new VirtualTimers();
  const network = new SimNetwork(timers, new SeededPrng(seed), RELIABLE_NETWORK);
  const ids = ['a', 'b', 'c'];
  const nodes = ids.map((id, i) => {
    const { client, server } = network.endpoint(id);
    const storage = new GatedStorage();
    const stateMachine = new EchoStateMachine();
    const probe = new OrderProbe();
    const node = new RaftNodeImpl(
      {
        timers,
        prng: new SeededPrng(seed * 10 + i),
        client,
        server,
        storage,
        stateMachine,
        logger: new MemoryLogger(),
        metrics: new NoopMetrics(),
        membership: new DefaultMembershipManager(),
        latencyProbe: probe,
      },
      { nodeId: id, raft: DEFAULT_RAFT_CONFIGURATION, bootstrap: simpleConfiguration(ids) },
    );
    return { node, storage, stateMachine, client, probe };
  });
  for (const n of nodes) await n.node.start();
  await timers.runUntil(timers.nowMs() + 2000);
  const leader = nodes.find((n) => n.node.isLeader());
  assert.ok(leader, 'a leader was elected');
  // Let the leader's first entry of its term commit everywhere before the test starts.
  await timers.runUntil(timers.nowMs() + 200);
  const followers = nodes.filter((n) => n !== leader);
  return { timers, leader, followers, nodes };
}

/**
 * How long the leader's write is held, ms: well past a network round trip (1 to 3 ms each way),
 * and short of the election timeout (150 ms), after which check-quorum would depose a leader
 * whose stalled Ready loop sends no heartbeats.
 */
const HOLD_MS = 60;

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const holds = (storage: GatedStorage, index: number): boolean => storage.disk.entries.some((e) => e.index === index);

describe('the Ready loop order (node.ts)', () => {
  it('a leader sends new entries while it writes them, and applies them once its write is done', async () => {
    const { timers, leader, followers, nodes } = await cluster(11);
    const index = leader.node.getStatus().lastLogIndex + 1;
    leader.storage.holding = true;
    let acknowledged = false;
    const submitted = leader.node.submitCommand(text('while-writing'), 5000).then((result) => {
      acknowledged = true;
      return result;
    });
    await timers.runUntil(timers.nowMs() + HOLD_MS);
    assert.ok(leader.storage.heldCount > 0, 'the leader is writing the entry');
    assert.equal(holds(leader.storage, index), false, 'the leader has not stored it yet');
    for (const f of followers)
      assert.ok(holds(f.storage, index), `${f.node.getNodeId()} stored the entry the leader is still writing`);
    assert.equal(acknowledged, false, 'the client has no answer while the leader is still writing');
    assert.equal(
      leader.stateMachine.applied.some((e) => e.index === index),
      false,
      'the leader applied nothing yet',
    );
    leader.storage.release();
    await timers.runUntil(timers.nowMs() + 100);
    assert.deepEqual(await submitted, text('while-writing'));
    assert.ok(holds(leader.storage, index));
    for (const n of nodes) await n.node.stop();
  });

  it('a leader counts itself toward a commit only once its own write is synced', async () => {
    const { timers, leader, followers, nodes } = await cluster(12);
    const [down, up] = followers;
    assert.ok(down && up);
    await down.node.stop();
    const index = leader.node.getStatus().lastLogIndex + 1;
    leader.storage.holding = true;
    const submitted = leader.node.submitCommand(text('needs-the-leader'), 5000);
    await timers.runUntil(timers.nowMs() + HOLD_MS);
    assert.ok(holds(up.storage, index), 'the live follower stored the entry');
    assert.equal(holds(leader.storage, index), false, 'the leader has not stored it yet');
    // Leader plus one follower is a majority of three, but the leader's copy is not durable.
    assert.ok(
      leader.node.getStatus().commitIndex < index,
      `not committed while the leader's write is held (commit ${leader.node.getStatus().commitIndex}, entry ${index})`,
    );
    leader.storage.release();
    await timers.runUntil(timers.nowMs() + 100);
    assert.ok(leader.node.getStatus().commitIndex >= index, 'committed once the leader synced');
    assert.deepEqual(await submitted, text('needs-the-leader'));
    for (const n of nodes) await n.node.stop();
  });

  it("a leader applies what committed while it wrote, without waiting for the next group's sync", async () => {
    const { timers, leader, followers, nodes } = await cluster(13);
    const first = leader.node.getStatus().lastLogIndex + 1;
    leader.storage.holding = true;
    let firstAcknowledged = false;
    const submitted = leader.node.submitCommand(text('first'), 5000).then((result) => {
      firstAcknowledged = true;
      return result;
    });
    await timers.runUntil(timers.nowMs() + HOLD_MS);
    for (const f of followers) assert.ok(holds(f.storage, first), `${f.node.getNodeId()} stored the first entry`);
    // A second write arrives while the first is being written: it goes into the next group.
    const second = leader.node.submitCommand(text('second'), 5000);
    // The first write is synced; it commits at once (the followers' answers are in), and the
    // group holding the second entry is written next, held.
    leader.storage.releaseAndHoldNext();
    await timers.runUntil(timers.nowMs() + HOLD_MS);
    assert.ok(leader.storage.heldCount > 0, "the leader is writing the second entry's group");
    assert.equal(holds(leader.storage, first + 1), false, 'the second entry is not stored yet');
    assert.ok(
      leader.stateMachine.applied.some((e) => e.index === first),
      'the first entry is applied while the next group is written',
    );
    assert.equal(firstAcknowledged, true, 'the first client has its answer while the next group is written');
    assert.deepEqual(await submitted, text('first'));
    leader.storage.release();
    await timers.runUntil(timers.nowMs() + 100);
    assert.deepEqual(await second, text('second'));
    for (const n of nodes) await n.node.stop();
  });

  it('a leader sends its appends, then starts its write, then applies what committed earlier', async () => {
    const { timers, leader, nodes } = await cluster(14);
    const first = leader.node.getStatus().lastLogIndex + 1;
    const events: string[] = [];
    leader.storage.onWrite = (batch, options) => {
      if (batch.entries.some((e) => e.index === first + 1)) events.push(`write overlap=${String(options?.overlap)}`);
    };
    const send = leader.client.send.bind(leader.client);
    leader.client.send = (target, request, timeoutMs) => {
      if (request.type === 'AppendEntriesRequest' && request.entries.some((e) => e.index === first + 1))
        events.push('append');
      return send(target, request, timeoutMs);
    };
    const apply = leader.stateMachine.apply.bind(leader.stateMachine);
    leader.stateMachine.apply = (entry) => {
      if (entry.index === first) events.push('apply first');
      return apply(entry);
    };
    // The first entry commits while the leader's write of it is held; the second waits for the next Ready.
    leader.storage.holding = true;
    const submitted = leader.node.submitCommand(text('first'), 5000);
    await timers.runUntil(timers.nowMs() + HOLD_MS);
    const second = leader.node.submitCommand(text('second'), 5000);
    leader.storage.release();
    await timers.runUntil(timers.nowMs() + 100);
    assert.deepEqual(await submitted, text('first'));
    assert.deepEqual(await second, text('second'));
    // One Ready carries the second entry and the commit of the first.
    assert.deepEqual(events, ['append', 'append', 'write overlap=true', 'apply first']);
    for (const n of nodes) await n.node.stop();
  });

  it('a follower answers before it applies what committed earlier, and its write overlaps nothing', async () => {
    const { timers, leader, followers, nodes } = await cluster(15);
    const [held] = followers;
    assert.ok(held);
    const first = leader.node.submitCommand(text('first'), 5000);
    await timers.runUntil(timers.nowMs() + 50);
    assert.deepEqual(await first, text('first'));
    const firstIndex = leader.node.getStatus().lastLogIndex;
    assert.equal(held.node.getStatus().lastApplied < firstIndex, true, 'the follower has not learnt the commit yet');
    const overlaps: (boolean | undefined)[] = [];
    held.storage.onWrite = (batch, options) => {
      if (batch.entries.some((e) => e.index === firstIndex + 1)) overlaps.push(options?.overlap);
    };
    // The next append carries the second entry and the commit of the first.
    held.storage.holding = true;
    const second = leader.node.submitCommand(text('second'), 5000);
    await timers.runUntil(timers.nowMs() + HOLD_MS);
    assert.ok(held.storage.heldCount > 0, 'the follower is writing the second entry');
    assert.equal(
      held.stateMachine.applied.some((e) => e.index === firstIndex),
      false,
      'the first entry waits while the follower writes the second',
    );
    held.storage.release();
    await timers.runUntil(timers.nowMs() + 100);
    assert.deepEqual(await second, text('second'));
    assert.deepEqual(overlaps, [false], 'the write of the second entry asks to overlap nothing');
    const order = held.probe.marks.filter((m) => m === `answered ${firstIndex + 1}` || m === `applied ${firstIndex}`);
    assert.deepEqual(order, [`answered ${firstIndex + 1}`, `applied ${firstIndex}`], 'the answer leaves first');
    for (const n of nodes) await n.node.stop();
  });
});
