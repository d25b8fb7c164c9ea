// Proves, on three real RaftNodeImpl on virtual time and the simulated network with memory
// storage (the simulator's disk), that the core keeps only a window of the log in memory and
// reads older entries back from storage (agent/core/log-window.ts, contracts/persistence.ts
// LogReader):
// - a follower cut off while the leader commits far more than the window (logResidentBytes
//   1 KiB) catches up by appends whose entries the leader read from its storage, with no
//   InstallSnapshot, and applies exactly the leader's commands; the status says so (entries read
//   back, and payloads in memory from an index within the window of the last entry);
// - a read that fails stops the leader with the storage's error (critical, its code), rather than
//   skipping entries (the other two then elect a leader of their own);
// - a follower restarted on its disk with 200 committed entries and a fresh state machine starts
//   with none of their payloads in memory (issue 17: storage's loadShape, no payload read), then
//   applies every one, in order, reading them back from storage, and keeps at most its window;
//   a read that fails then stops it with the storage's error instead of skipping entries.
import { strict as assert } from 'node:assert';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import { RELIABLE_NETWORK, SimNetwork } from '../../../agent/sim/network.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { PersistenceError } from '../../../contracts/errors.js';
import type { LogEntry, LogIndex } from '../../../contracts/log.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import { EchoStateMachine } from './sim-cluster.js';

/** Memory storage that counts the entries it served to the core, and can be made to fail reads. */
class ReadCountingStorage extends MemoryPersistenceEngine {
  entriesRead = 0;
  failReads = false;

  override readEntries(from: LogIndex, to: LogIndex): LogEntry[] {
    if (this.failReads) throw new PersistenceError('STORAGE_IO', 'test: the log cannot be read');
    const entries = super.readEntries(from, to);
    this.entriesRead += entries.length;
    return entries;
  }
}

const IDS = ['a', 'b', 'c'];
const RAFT = { ...DEFAULT_RAFT_CONFIGURATION, logResidentBytes: 1024 };

function startNodes(timers: VirtualTimers, network: SimNetwork) {
  return IDS.map((id) => startNode(timers, network, id, new ReadCountingStorage()));
}

/** A node `id` on `storage` (a new one, or one on the disk of a node stopped before). */
function startNode(timers: VirtualTimers, network: SimNetwork, id: string, storage: ReadCountingStorage) {
  const endpoint = network.endpoint(id);
  const stateMachine = new EchoStateMachine();
  const logger = new MemoryLogger();
  const node = new RaftNodeImpl(
    {
      timers,
      prng: new SeededPrng(id.charCodeAt(0) * 7919),
      client: endpoint.client,
      server: endpoint.server,
      storage,
      stateMachine,
      logger,
      metrics: new NoopMetrics(),
      membership: new DefaultMembershipManager(),
    },
    { nodeId: id, raft: RAFT, bootstrap: simpleConfiguration(IDS) },
  );
  return { id, node, storage, stateMachine, logger, timers, network };
}

/** Commands applied by a state machine, as text. */
function commands(machine: EchoStateMachine): string[] {
  return machine.applied.filter((e) => e.type === 'command').map((e) => new TextDecoder().decode(e.command));
}

describe('the log window: entries older than it are read back from storage', () => {
  async function cutOffFollowerWhileWriting(failReads: boolean) {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(11), RELIABLE_NETWORK);
    const nodes = startNodes(timers, network);
    for (const n of nodes) await n.node.start();
    await timers.runUntil(timers.nowMs() + 2000);
    const leader = nodes.find((n) => n.node.isLeader());
    assert.ok(leader, 'a leader is elected');
    const lagging = nodes.find((n) => n !== leader);
    assert.ok(lagging);
    network.partition([[lagging.id], nodes.filter((n) => n !== lagging).map((n) => n.id)]);
    // 200 commands of 100 bytes: about 25 KB of log, 24 times the window.
    const results = [];
    for (let i = 0; i < 200; i += 1) {
      const result = leader.node.submitCommand(new TextEncoder().encode(`cmd-${i}-${'x'.repeat(94)}`), 10_000);
      result.catch(() => undefined);
      results.push(result);
      await timers.runUntil(timers.nowMs() + 5);
    }
    await timers.runUntil(timers.nowMs() + 500);
    leader.storage.failReads = failReads;
    network.heal();
    await timers.runUntil(timers.nowMs() + 3000);
    return { nodes, leader, lagging, results };
  }

  it('catches a follower behind the window up by appends read from storage, not by a snapshot', async () => {
    const { nodes, leader, lagging } = await cutOffFollowerWhileWriting(false);
    assert.equal(commands(leader.stateMachine).length, 200);
    assert.deepEqual(commands(lagging.stateMachine), commands(leader.stateMachine));
    assert.ok(leader.storage.entriesRead >= 150, `the leader read ${leader.storage.entriesRead} entries back`);
    const status = leader.node.getStatus();
    assert.equal(status.snapshots.sendsStarted, 0, 'no InstallSnapshot');
    assert.equal(status.log.entriesReadBack, leader.storage.entriesRead, 'the status counts the entries read back');
    assert.ok(status.log.firstIndex < status.log.residentFromIndex, 'older payloads are not in memory');
    // Every entry is applied and durable: what is in memory is the window (1 KiB) at most.
    assert.ok(status.log.residentBytes <= 1024, `${status.log.residentBytes} resident bytes`);
    assert.ok(status.log.residentBytes > 0, 'the newest entries stay in memory');
    for (const n of nodes) await n.node.stop();
  });

  async function restartFollowerOnItsDisk(failReads: boolean) {
    const { nodes, leader, lagging } = await cutOffFollowerWhileWriting(false);
    await lagging.node.stop();
    const storage = new ReadCountingStorage({ disk: lagging.storage.disk });
    storage.failReads = failReads;
    const restarted = startNode(lagging.timers, lagging.network, lagging.id, storage);
    await restarted.node.start();
    const atStart = restarted.node.getStatus().log;
    return { nodes, leader, restarted, atStart };
  }

  it('restarts a follower holding no payload and applies every stored entry, read back in order', async () => {
    const { nodes, leader, restarted, atStart } = await restartFollowerOnItsDisk(false);
    assert.equal(atStart.residentBytes, 0, 'a restarted node holds no payload of its stored entries');
    assert.equal(restarted.storage.entriesRead, 0, 'and has read none back yet');
    await restarted.timers.runUntil(restarted.timers.nowMs() + 2000);
    assert.equal(commands(leader.stateMachine).length, 200);
    assert.deepEqual(commands(restarted.stateMachine), commands(leader.stateMachine));
    assert.ok(restarted.storage.entriesRead >= 200, `the follower read ${restarted.storage.entriesRead} entries back`);
    const status = restarted.node.getStatus().log;
    assert.ok(status.residentBytes <= 1024, `${status.residentBytes} resident bytes`);
    for (const n of [...nodes.filter((n) => n.id !== restarted.id), restarted]) await n.node.stop();
  });

  it('stops a restarted follower with the storage error when a read of its stored entries fails', async () => {
    const { nodes, restarted } = await restartFollowerOnItsDisk(true);
    await restarted.timers.runUntil(restarted.timers.nowMs() + 2000);
    assert.equal(restarted.node.isRunning(), false);
    assert.deepEqual(commands(restarted.stateMachine), [], 'nothing applied past a failed read');
    const critical = restarted.logger.records.find((r) => r.level === 'critical');
    assert.ok(critical, 'a critical record');
    assert.equal(critical.fields.code, 'STORAGE_IO');
    for (const n of nodes.filter((n) => n.id !== restarted.id)) await n.node.stop();
  });

  it('stops the leader with the storage error when a read fails', async () => {
    const { nodes, leader } = await cutOffFollowerWhileWriting(true);
    assert.equal(leader.node.isRunning(), false);
    const critical = leader.logger.records.find((r) => r.level === 'critical');
    assert.ok(critical, 'a critical record');
    assert.equal(critical.fields.code, 'STORAGE_IO');
    assert.match(String(critical.fields.error), /the log cannot be read/);
    for (const n of nodes) await n.node.stop();
  });
});
