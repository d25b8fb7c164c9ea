// Proves the runtime RaftNode's contract on a single node with fake edges: it elects itself and
// applies commands; it persists before it answers (the persisted batch precedes every reply);
// a persistence error is fatal (logged, node stopped, waiters rejected, sockets closed); a command or membership
// change proposed by a leader that stops is reported as outcome-unknown, since the next leader
// may commit it (and does, here); limits refuse work at once; a follower refuses proposals with
// the leader hint; and the tick loop runs on real timers (sinon fake timers drive setTimeout).
import { strict as assert } from 'node:assert';
import sinon from 'sinon';
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import { RealTimers } from '../../../agent/runtime/timers.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SimNetwork, RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import { PersistenceError } from '../../../contracts/errors.js';
import type { Timers } from '../../../contracts/clock.js';
import type { PersistBatch } from '../../../contracts/persistence.js';
import type { NetworkClient } from '../../../contracts/network.js';
import { entryBytes } from '../../../agent/core/log.js';
import { APPEND_ENVELOPE_BYTES } from '../../../agent/runtime/node-deps.js';
import { EchoStateMachine } from './sim-cluster.js';

function makeNode(
  timers: Timers & { nowMs(): number },
  network: SimNetwork,
  id: string,
  voters: string[],
  storage = new MemoryPersistenceEngine(),
  wholeRequestBytesMax?: number,
) {
  const endpoint = network.endpoint(id);
  const server = endpoint.server;
  // A transport that carries at most wholeRequestBytesMax bytes in one datagram says so.
  const client: NetworkClient =
    wholeRequestBytesMax === undefined
      ? endpoint.client
      : {
          send: (target, request, timeoutMs) => endpoint.client.send(target, request, timeoutMs),
          setPeers: (members) => endpoint.client.setPeers(members),
          close: () => endpoint.client.close(),
          wholeRequestBytesMax,
        };
  const logger = new MemoryLogger();
  const stateMachine = new EchoStateMachine();
  const node = new RaftNodeImpl(
    {
      timers,
      // A seed of its own per node: with one shared seed, nodes with the same history draw the
      // same election timeouts and split every vote (a fresh cluster's lowest-id voter campaigns
      // first, so its two followers share their history).
      prng: new SeededPrng([...id].reduce((hash, c) => hash * 31 + c.charCodeAt(0), 7)),
      client,
      server,
      storage,
      stateMachine,
      logger,
      metrics: new NoopMetrics(),
      membership: new DefaultMembershipManager(),
    },
    { nodeId: id, raft: DEFAULT_RAFT_CONFIGURATION, bootstrap: simpleConfiguration(voters) },
  );
  return { node, logger, stateMachine, storage, client };
}

async function runFor(timers: VirtualTimers, ms: number): Promise<void> {
  await timers.runUntil(timers.nowMs() + ms);
}

describe('RaftNodeImpl', () => {
  const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

  it('elects itself in a one-node cluster and applies submitted commands', async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(1), RELIABLE_NETWORK);
    const { node, stateMachine, logger } = makeNode(timers, network, 'a', ['a']);
    await node.start();
    await runFor(timers, 1000);
    assert.equal(node.isLeader(), true);
    const result = node.submitCommand(bytes('hello'), 1000);
    await runFor(timers, 50);
    assert.deepEqual(await result, bytes('hello'));
    assert.deepEqual(
      stateMachine.applied.filter((e) => e.type === 'command').map((e) => new TextDecoder().decode(e.command)),
      ['hello'],
    );
    assert.ok(
      logger.records.some((r) => r.message === 'became leader' && r.fields.term === 1),
      'the state transition is logged with its term (Property 21)',
    );
    await node.stop();
  });

  it('persists term, vote and entries before a peer sees the answer (Property 9)', async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(2), RELIABLE_NETWORK);
    const a = makeNode(timers, network, 'a', ['a', 'b', 'c']);
    const b = makeNode(timers, network, 'b', ['a', 'b', 'c']);
    const c = makeNode(timers, network, 'c', ['a', 'b', 'c']);
    const checked = { votes: 0, appends: 0 };
    // The hook sees every answer as it leaves its node: the durable state must already back it.
    network.forger = (request, response) => {
      const responder =
        request.type === 'RequestVoteRequest'
          ? [a, b, c].find(
              (n) =>
                n.node.getNodeId() !== request.candidateId && n.storage.disk.hardState.votedFor === request.candidateId,
            )
          : null;
      if (response.type === 'RequestVoteResponse' && response.voteGranted) {
        assert.ok(responder, 'a granted vote is on the voter disk before the answer leaves');
        assert.equal(responder.storage.disk.hardState.currentTerm, response.term);
        checked.votes += 1;
      }
      if (
        response.type === 'AppendEntriesResponse' &&
        response.success &&
        request.type === 'AppendEntriesRequest' &&
        request.entries.length > 0
      ) {
        const last = request.entries[request.entries.length - 1];
        const holders = [a, b, c].filter(
          (n) =>
            n.node.getNodeId() !== request.leaderId &&
            n.storage.disk.entries.some((e) => e.index === last?.index && e.term === last.term),
        );
        assert.ok(holders.length > 0, 'acknowledged entries are on the follower disk before the answer leaves');
        checked.appends += 1;
      }
      return null;
    };
    for (const n of [a, b, c]) await n.node.start();
    await runFor(timers, 2000);
    const leader = [a, b, c].find((n) => n.node.isLeader());
    assert.ok(leader);
    for (let i = 0; i < 5; i += 1) void leader.node.submitCommand(bytes(`c${i}`), 1000);
    await runFor(timers, 500);
    assert.ok(
      checked.votes > 0 && checked.appends > 0,
      `checked ${checked.votes} votes and ${checked.appends} appends`,
    );
    for (const n of [a, b, c]) await n.node.stop();
  });

  it("sizes each AppendEntries to the transport's datagram (NetworkClient.wholeRequestBytesMax)", async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(4), RELIABLE_NETWORK);
    const whole = 4096;
    const nodes = ['a', 'b', 'c'].map((id) =>
      makeNode(timers, network, id, ['a', 'b', 'c'], new MemoryPersistenceEngine(), whole),
    );
    const appends: number[][] = [];
    network.forger = (request) => {
      if (request.type === 'AppendEntriesRequest' && request.entries.length > 0)
        appends.push(request.entries.map(entryBytes));
      return null;
    };
    for (const n of nodes) await n.node.start();
    await runFor(timers, 2000);
    const leader = nodes.find((n) => n.node.isLeader());
    assert.ok(leader);
    const command = new Uint8Array(300).fill(1);
    const results = Array.from({ length: 60 }, () => leader.node.submitCommand(command, 5000));
    await runFor(timers, 1000);
    await Promise.all(results);
    const multi = appends.filter((sizes) => sizes.length > 1);
    assert.ok(multi.length > 0, 'entries are batched');
    for (const sizes of multi) {
      const bytes = sizes.reduce((sum, size) => sum + size, 0);
      assert.ok(bytes <= whole - APPEND_ENVELOPE_BYTES, `an append of ${sizes.length} entries, ${bytes} bytes`);
    }
    for (const n of nodes) await n.node.stop();
  });

  it('stops on a persistence error, logs it as critical and rejects waiting commands', async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(3), RELIABLE_NETWORK);
    let fail = false;
    class FailingStorage extends MemoryPersistenceEngine {
      override persist(batch: PersistBatch): Promise<void> {
        return fail ? Promise.reject(new PersistenceError('STORAGE_FULL', 'disk full')) : super.persist(batch);
      }
    }
    const { node, logger } = makeNode(timers, network, 'a', ['a'], new FailingStorage());
    await node.start();
    await runFor(timers, 1000);
    fail = true;
    const pending = node.submitCommand(bytes('x'), 5000);
    pending.catch(() => undefined);
    await runFor(timers, 50);
    // The command was proposed before the node stopped: its outcome is unknown, not "not done".
    await assert.rejects(pending, { code: 'RAFT_TIMEOUT' });
    assert.equal(node.isRunning(), false);
    assert.ok(logger.records.some((r) => r.level === 'critical' && r.fields.code === 'STORAGE_FULL'));
  });

  it('closes its client on a fatal error, so that no peer socket keeps the stopped agent process alive', async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(3), RELIABLE_NETWORK);
    let fail = false;
    class FailingStorage extends MemoryPersistenceEngine {
      override persist(batch: PersistBatch): Promise<void> {
        return fail ? Promise.reject(new PersistenceError('STORAGE_IO', 'EIO')) : super.persist(batch);
      }
    }
    const { node, client } = makeNode(timers, network, 'a', ['a'], new FailingStorage());
    const close = sinon.spy(client, 'close');
    await node.start();
    await runFor(timers, 1000);
    fail = true;
    node.submitCommand(bytes('x'), 5000).catch(() => undefined);
    await runFor(timers, 50);
    assert.equal(node.isRunning(), false);
    // The agent then stops the node (agent-command.ts untilStopped), which does nothing more once halted.
    await node.stop();
    assert.equal(close.callCount, 1, 'the client (its peer sockets) is closed');
  });

  it("tells the waiter of a stopping leader's command its outcome is unknown; the next leader commits it", async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(6), RELIABLE_NETWORK);
    const nodes = ['a', 'b', 'c'].map((id) => makeNode(timers, network, id, ['a', 'b', 'c']));
    for (const n of nodes) await n.node.start();
    await runFor(timers, 2000);
    const leader = nodes.find((n) => n.node.isLeader());
    assert.ok(leader);
    const id = leader.node.getNodeId();
    // The followers receive the entry but their answers never reach the leader.
    for (const n of nodes) if (n !== leader) network.cutLink(n.node.getNodeId(), id);
    const pending = leader.node.submitCommand(bytes('proposed-then-stopped'), 5000);
    pending.catch(() => undefined);
    await runFor(timers, 50);
    await leader.node.stop();
    await assert.rejects(pending, { code: 'RAFT_TIMEOUT' });
    network.heal();
    await runFor(timers, 3000);
    for (const n of nodes.filter((m) => m !== leader)) {
      assert.ok(
        n.stateMachine.applied.some((e) => new TextDecoder().decode(e.command) === 'proposed-then-stopped'),
        `${n.node.getNodeId()} applied the command`,
      );
    }
    for (const n of nodes) await n.node.stop();
  });

  it('sends a forwarded identified write on to the next leader once one is known, not at its timeout', async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(8), RELIABLE_NETWORK);
    const ids = ['a', 'b', 'c'];
    const nodes = ids.map((id) => makeNode(timers, network, id, ids));
    for (const n of nodes) await n.node.start();
    await runFor(timers, 2000);
    const leader = nodes.find((n) => n.node.isLeader());
    const follower = nodes.find((n) => !n.node.isLeader());
    assert.ok(leader !== undefined && follower !== undefined);
    const gone = leader.node.getNodeId();
    // The leader goes away (no datagram in or out) just as the follower forwards a write to it.
    network.partition([[gone], ids.filter((id) => id !== gone)]);
    const started = timers.nowMs();
    let answeredAt: number | null = null;
    const write = follower.node.submitAnywhere(bytes('forwarded-then-moved'), 10_000, true).then((result) => {
      answeredAt = timers.nowMs();
      return result;
    });
    write.catch(() => undefined);
    await runFor(timers, 5000);
    assert.notEqual(answeredAt, null, 'the write was answered within 5 s of its 10 s timeout');
    assert.equal(new TextDecoder().decode(await write), 'forwarded-then-moved');
    assert.ok(follower.node.getLeaderId() !== gone);
    console.log(`      answered ${Math.round((answeredAt ?? 0) - started)} ms after the leader went away`);
    for (const n of nodes) await n.node.stop();
  });

  it('tells the waiter of a membership change a stopping leader proposed that its outcome is unknown', async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(7), RELIABLE_NETWORK);
    const nodes = ['a', 'b', 'c'].map((id) => makeNode(timers, network, id, ['a', 'b', 'c']));
    for (const n of nodes) await n.node.start();
    await runFor(timers, 2000);
    const leader = nodes.find((n) => n.node.isLeader());
    const victim = nodes.find((n) => !n.node.isLeader());
    assert.ok(leader && victim);
    for (const n of nodes) if (n !== leader) network.cutLink(n.node.getNodeId(), leader.node.getNodeId());
    const change = leader.node.removeServer(victim.node.getNodeId());
    change.catch(() => undefined);
    await runFor(timers, 50);
    assert.ok(leader.node.requireCore().hasUncommittedConfiguration(), 'the change was proposed');
    await leader.node.stop();
    await assert.rejects(change, { code: 'RAFT_TIMEOUT' });
    for (const n of nodes) await n.node.stop();
  });

  it('refuses a proposal on a follower with the leader hint, and an oversized command at once', async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(4), RELIABLE_NETWORK);
    const nodes = ['a', 'b', 'c'].map((id) => makeNode(timers, network, id, ['a', 'b', 'c']));
    for (const n of nodes) await n.node.start();
    await runFor(timers, 2000);
    const leader = nodes.find((n) => n.node.isLeader());
    const follower = nodes.find((n) => !n.node.isLeader());
    assert.ok(leader && follower);
    await assert.rejects(follower.node.submitCommand(bytes('x'), 100), (error: unknown) => {
      assert.equal((error as { code: string }).code, 'RAFT_NOT_LEADER');
      assert.equal((error as { leaderHint: string }).leaderHint, leader.node.getNodeId());
      return true;
    });
    await assert.rejects(
      leader.node.submitCommand(new Uint8Array(DEFAULT_RAFT_CONFIGURATION.commandBytesMax + 1), 100),
      { code: 'RAFT_PROPOSAL_DROPPED' },
    );
    for (const n of nodes) await n.node.stop();
  });

  it('drives its tick loop with real timers (sinon fake timers)', async () => {
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const timers = new RealTimers();
      const network = new SimNetwork(new VirtualTimers(), new SeededPrng(5), RELIABLE_NETWORK);
      const { node } = makeNode(timers, network, 'a', ['a']);
      await node.start();
      assert.equal(node.isLeader(), false);
      await clock.tickAsync(DEFAULT_RAFT_CONFIGURATION.electionTimeoutMaxMs + 50);
      assert.equal(node.isLeader(), true);
      await node.stop();
    } finally {
      clock.restore();
    }
  });
});
