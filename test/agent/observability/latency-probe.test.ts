// The bench's latency probe (agent/observability/latency-probe.ts): what it records per index
// and stage, its bounds, the file it writes, and that an agent has none unless its environment
// names a folder. That the node marks the stages of a write in their order is checked on a
// simulated cluster below.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  LATENCY_STAGES,
  PROBE_INDEXES_MAX,
  RecordingProbe,
  latencyProbeFromEnvironment,
} from '../../../agent/observability/latency-probe.js';
import type { LatencyStage } from '../../../agent/observability/latency-probe.js';
import { probedEndpoint } from '../../../agent/observability/endpoint-probe.js';
import type { DatagramEndpoint, DatagramHandler } from '../../../transport/datagram.js';
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SimNetwork, RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import { EchoStateMachine } from '../runtime/sim-cluster.js';

function stageTimes(probe: RecordingProbe, index: number): Partial<Record<LatencyStage, number>> {
  const row = probe.record().marks.find(([i]) => i === index);
  assert.ok(row, `index ${index} is recorded`);
  const out: Partial<Record<LatencyStage, number>> = {};
  LATENCY_STAGES.forEach((stage, i) => {
    const t = row[i + 1];
    if (typeof t === 'number') out[stage] = t;
  });
  return out;
}

describe('latency probe', () => {
  it('keeps the first time of each stage, and takes a second ack as ack2', () => {
    let now = 10;
    const probe = new RecordingProbe('n1', () => now);
    probe.mark('propose', 5);
    now = 11;
    probe.mark('propose', 5);
    probe.mark('ack', 5);
    now = 12.5;
    probe.mark('ack', 5);
    now = 13;
    probe.mark('ack', 5);
    assert.deepEqual(stageTimes(probe, 5), { propose: 10, ack: 11, ack2: 12.5 });
  });

  it("gives the endpoint's received time to the next index proposed and responded to the last applied", () => {
    let now = 1;
    const probe = new RecordingProbe('n1', () => now);
    probe.markEndpoint('responded'); // nothing applied yet: no index to give it to
    probe.markEndpoint('received');
    now = 2;
    probe.mark('propose', 4);
    now = 3;
    probe.mark('propose', 5); // no datagram since index 4's: no received time
    now = 4;
    probe.mark('applied', 4);
    now = 5;
    probe.markEndpoint('responded');
    assert.deepEqual(stageTimes(probe, 4), { received: 1, propose: 2, applied: 4, responded: 5 });
    assert.deepEqual(stageTimes(probe, 5), { propose: 3 });
  });

  it("marks the endpoint socket's datagrams in and out, and leaves the endpoint as it is without a probe", async () => {
    let handler: DatagramHandler | null = null;
    const sent: string[] = [];
    const socket: DatagramEndpoint = {
      send: (data) => Promise.resolve(void sent.push(`send ${data.length}`)),
      post: (data) => void sent.push(`post ${data.length}`),
      onMessage: (h) => void (handler = h),
      localAddress: () => ({ address: '127.0.0.1', port: 1 }),
      close: () => Promise.resolve(),
    };
    assert.equal(probedEndpoint(socket, undefined), socket);
    const marks: string[] = [];
    const probed = probedEndpoint(socket, { mark: () => undefined, markEndpoint: (stage) => void marks.push(stage) });
    const got: number[] = [];
    probed.onMessage((data) => void got.push(data.length));
    (handler as DatagramHandler | null)?.(new Uint8Array(3), { address: '127.0.0.1', port: 2, identity: null });
    await probed.send(new Uint8Array(4), '127.0.0.1', 2);
    probed.post?.(new Uint8Array(5), '127.0.0.1', 2, () => undefined);
    assert.equal(probed.sendParts, undefined, 'no sendParts on a socket without it');
    assert.deepEqual(got, [3]);
    assert.deepEqual(sent, ['send 4', 'post 5']);
    assert.deepEqual(marks, ['received', 'responded', 'responded']);
  });

  it(`records at most ${PROBE_INDEXES_MAX} indexes and counts the rest`, () => {
    const probe = new RecordingProbe('n1', () => 1);
    for (let i = 1; i <= PROBE_INDEXES_MAX + 3; i += 1) probe.mark('applied', i);
    const record = probe.record();
    assert.equal(record.marks.length, PROBE_INDEXES_MAX);
    assert.equal(record.droppedIndexes, 3);
  });

  it('writes its record to DIR/<node>.latency.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-probe-'));
    try {
      const probe = new RecordingProbe('n7', () => 2.0004);
      probe.mark('synced', 3);
      const file = probe.writeTo(dir);
      assert.equal(file, join(dir, 'n7.latency.json'));
      const written: unknown = JSON.parse(readFileSync(file, 'utf8'));
      assert.deepEqual(written, {
        node: 'n7',
        stages: [...LATENCY_STAGES],
        marks: [[3, ...LATENCY_STAGES.map((s) => (s === 'synced' ? 2 : null))]],
        gc: [],
        droppedIndexes: 0,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes a record of more marks than one write takes as the same JSON as record()', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-probe-'));
    try {
      for (const count of [0, 1, 999, 1000, 1001, 2500]) {
        const probe = new RecordingProbe('n2', () => 1.5);
        for (let i = 1; i <= count; i += 1) probe.mark(i % 2 === 0 ? 'applied' : 'recv', i);
        const written: unknown = JSON.parse(readFileSync(probe.writeTo(dir), 'utf8'));
        assert.deepEqual(written, JSON.parse(JSON.stringify(probe.record())), `${count} marks`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records GC pauses while it watches: a gc() call is a major, forced one', async () => {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    assert.ok(typeof gc === 'function');
    const probe = new RecordingProbe('n1');
    probe.watchGc();
    gc();
    // The observer hears of a collection in a later turn of the event loop.
    for (let turns = 0; probe.record().gc.length === 0 && turns < 100; turns += 1)
      await new Promise((resolve) => setTimeout(resolve, 5));
    probe.stopGc();
    const pause = probe.record().gc.find(([, , kind]) => kind === 4);
    assert.ok(pause, 'a major collection was recorded');
    assert.equal((pause[3] ?? 0) & 4, 4, 'flagged as forced');
    assert.ok(pause[1] >= 0);
  });

  it('is made only when CORAFT_LATENCY_PROBE names a folder', () => {
    assert.equal(latencyProbeFromEnvironment({}, 'n1'), null);
    assert.equal(latencyProbeFromEnvironment({ CORAFT_LATENCY_PROBE: '' }, 'n1'), null);
    const made = latencyProbeFromEnvironment({ CORAFT_LATENCY_PROBE: '/tmp/x' }, 'n1');
    assert.ok(made);
    made.probe.stopGc();
    assert.equal(made.dir, '/tmp/x');
  });

  it("marks a write's stages on the leader and on the followers, in the order of its path", async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(3), RELIABLE_NETWORK);
    const ids = ['a', 'b', 'c'];
    const probes = new Map(ids.map((id) => [id, new RecordingProbe(id, () => timers.nowMs())]));
    const nodes = ids.map((id, i) => {
      const { client, server } = network.endpoint(id);
      return new RaftNodeImpl(
        {
          timers,
          prng: new SeededPrng(30 + i),
          client,
          server,
          storage: new MemoryPersistenceEngine(),
          stateMachine: new EchoStateMachine(),
          logger: new MemoryLogger(),
          metrics: new NoopMetrics(),
          membership: new DefaultMembershipManager(),
          latencyProbe: probes.get(id) ?? new RecordingProbe(id),
        },
        { nodeId: id, raft: DEFAULT_RAFT_CONFIGURATION, bootstrap: simpleConfiguration(ids) },
      );
    });
    for (const n of nodes) await n.start();
    await timers.runUntil(timers.nowMs() + 2000);
    const leader = nodes.find((n) => n.isLeader());
    assert.ok(leader);
    const submitted = leader.submitCommand(new TextEncoder().encode('x'), 5000);
    await timers.runUntil(timers.nowMs() + 500);
    await submitted;
    const index = leader.getStatus().lastLogIndex;
    const l = stageTimes(probes.get(leader.getNodeId()) ?? new RecordingProbe('?'), index);
    const order: LatencyStage[] = ['propose', 'ready', 'sent', 'synced', 'committed', 'applied'];
    for (const stage of [...order, 'ack', 'ack2'] as const) assert.ok(l[stage] !== undefined, `leader ${stage}`);
    for (let i = 1; i < order.length; i += 1)
      assert.ok((l[order[i - 1] ?? 'propose'] ?? 0) <= (l[order[i] ?? 'propose'] ?? 0), `${order[i]} after`);
    for (const follower of nodes.filter((n) => n !== leader)) {
      const f = stageTimes(probes.get(follower.getNodeId()) ?? new RecordingProbe('?'), index);
      const path: LatencyStage[] = ['recv', 'ready', 'synced', 'answered'];
      for (const stage of path) assert.ok(f[stage] !== undefined, `${follower.getNodeId()} ${stage}`);
      assert.ok((f.recv ?? 0) >= (l.sent ?? 0) && (f.answered ?? 0) <= (l.ack2 ?? 0), 'between send and ack');
    }
    for (const n of nodes) await n.stop();
    for (const p of probes.values()) assert.equal(p.record().gc.length, 0, 'no GC watch unless asked');
  });
});
