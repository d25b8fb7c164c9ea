// Proves RaftNodeDeps.deferReady (agent/runtime/node-deps.ts), which the agent sets to
// setImmediate: proposals that arrive in separate callbacks (each followed by its own microtask
// checkpoint, as node:dgram's datagrams are) before the deferred turn runs go to storage as one
// write, where the default (queueMicrotask, the simulator's) gives each its own write. On a
// single-node cluster over the simulated network with virtual time.
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
import type { PersistBatch } from '../../../contracts/persistence.js';
import { EchoStateMachine } from './sim-cluster.js';

/** A memory engine that records how many entries each write carried. */
class CountingStorage extends MemoryPersistenceEngine {
  readonly entriesPerWrite: number[] = [];
  override persist(batch: PersistBatch): Promise<void> {
    if (batch.entries !== undefined && batch.entries.length > 0) this.entriesPerWrite.push(batch.entries.length);
    return super.persist(batch);
  }
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
/** One callback's end: the microtasks it queued run, as after a datagram's callback. */
const checkpoint = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function singleNode(deferred: (() => void)[] | null) {
  const timers = new VirtualTimers();
  const network = new SimNetwork(timers, new SeededPrng(5), RELIABLE_NETWORK);
  const { client, server } = network.endpoint('a');
  const storage = new CountingStorage();
  const node = new RaftNodeImpl(
    {
      timers,
      prng: new SeededPrng(7),
      client,
      server,
      storage,
      stateMachine: new EchoStateMachine(),
      logger: new MemoryLogger(),
      metrics: new NoopMetrics(),
      membership: new DefaultMembershipManager(),
      ...(deferred === null ? {} : { deferReady: (run: () => void) => void deferred.push(run) }),
    },
    { nodeId: 'a', raft: DEFAULT_RAFT_CONFIGURATION, bootstrap: simpleConfiguration(['a']) },
  );
  const flush = (): void => {
    for (let run = deferred?.shift(); run !== undefined; run = deferred?.shift()) run();
  };
  await node.start();
  for (let i = 0; i < 100 && !node.isLeader(); i += 1) {
    await timers.runUntil(timers.nowMs() + 10);
    flush();
    await checkpoint();
  }
  assert.ok(node.isLeader(), 'the single node leads');
  for (let i = 0; i < 5; i += 1) {
    flush();
    await checkpoint();
  }
  return { node, storage, flush };
}

describe('the Ready loop deferred to after the waiting inputs (deferReady)', () => {
  it('puts proposals from separate callbacks into one write', async () => {
    const deferred: (() => void)[] = [];
    const { node, storage, flush } = await singleNode(deferred);
    storage.entriesPerWrite.length = 0;
    const answers: Promise<Uint8Array>[] = [];
    for (let i = 0; i < 5; i += 1) {
      answers.push(node.submitCommand(text(`w${i}`), 5000));
      await checkpoint();
    }
    assert.deepEqual(storage.entriesPerWrite, [], 'nothing written before the deferred turn');
    for (let i = 0; i < 5; i += 1) {
      flush();
      await checkpoint();
    }
    assert.deepEqual(storage.entriesPerWrite, [5], 'the five proposals went to storage as one write');
    assert.deepEqual(
      await Promise.all(answers),
      [0, 1, 2, 3, 4].map((i) => text(`w${i}`)),
    );
    await node.stop();
  });

  it("by default (queueMicrotask) writes each callback's proposal on its own", async () => {
    const { node, storage } = await singleNode(null);
    storage.entriesPerWrite.length = 0;
    const answers: Promise<Uint8Array>[] = [];
    for (let i = 0; i < 5; i += 1) {
      answers.push(node.submitCommand(text(`w${i}`), 5000));
      await checkpoint();
    }
    assert.deepEqual(storage.entriesPerWrite, [1, 1, 1, 1, 1]);
    assert.deepEqual(
      await Promise.all(answers),
      [0, 1, 2, 3, 4].map((i) => text(`w${i}`)),
    );
    await node.stop();
  });
});
