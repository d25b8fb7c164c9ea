// Proves the full-disk guard (agent/runtime/disk-guard.ts) and the write gate of the node: below
// the reserve the guard refuses with a `disk full: ...` diagnostic and raises its gauge, above it
// it admits again, it reads the free space at most once per refresh interval, and a reserve of 0
// turns it off. On a three-node cluster of real RaftNodes (simulated network, virtual time) a
// leader whose gate refuses turns down writes made on it and writes a follower forwards to it,
// both with STORAGE_FULL and nothing proposed, while reads go on; the endpoint answers STORAGE_FULL
// with 4.13.
import { strict as assert } from 'node:assert';
import { DiskGuard } from '../../../agent/runtime/disk-guard.js';
import { EchoStateMachine, startSimCluster } from './sim-cluster.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { PersistenceError } from '../../../contracts/errors.js';
import type { MetricDimensions } from '../../../contracts/metrics.js';
import { responseForError } from '../../../agent/endpoint/responses.js';

class RecordingMetrics extends NoopMetrics {
  readonly gauges: [string, number, MetricDimensions | undefined][] = [];
  override setGauge(name: string, value: number, dimensions?: MetricDimensions): void {
    this.gauges.push([name, value, dimensions]);
  }
}

describe('full-disk guard', () => {
  it('refuses below the reserve, admits above it, and reads at most once per refresh interval', async () => {
    const timers = new VirtualTimers();
    const advance = (ms: number): Promise<boolean> => timers.runUntil(timers.nowMs() + ms);
    const metrics = new RecordingMetrics();
    let free = 10_000;
    let reads = 0;
    const guard = new DiskGuard(
      { path: '/data', reserveBytes: 4096, refreshMs: 100 },
      {
        clock: timers,
        logger: new MemoryLogger(),
        metrics,
        freeBytes: () => {
          reads += 1;
          return free;
        },
      },
    );
    assert.equal(guard.writeRefusal(), null);
    free = 1000;
    assert.equal(guard.writeRefusal(), null, 'the reading is reused within the refresh interval');
    assert.equal(reads, 1);
    await advance(100);
    assert.equal(
      guard.writeRefusal(),
      'disk full: 1000 bytes free in /data, below the reserve of 4096 bytes (NOSPACE); ' +
        'writes resume once space is freed',
    );
    assert.equal(guard.isFull(), true);
    assert.deepEqual(metrics.gauges.at(-1), ['storage_alarm', 1, { alarm: 'NOSPACE' }]);
    free = 5000;
    await advance(100);
    assert.equal(guard.writeRefusal(), null);
    assert.deepEqual(metrics.gauges.at(-1), ['storage_alarm', 0, { alarm: 'NOSPACE' }]);
    const off = new DiskGuard(
      { path: '/data', reserveBytes: 0, refreshMs: 1 },
      { clock: timers, logger: new MemoryLogger(), metrics, freeBytes: () => 0 },
    );
    assert.equal(off.writeRefusal(), null, 'a reserve of 0 turns the guard off');
    // Started, it follows the disk without any write asking.
    guard.start();
    free = 10;
    await advance(150);
    assert.deepEqual(metrics.gauges.at(-1), ['storage_alarm', 1, { alarm: 'NOSPACE' }]);
    guard.stop();
  });

  it('on a leader whose disk is full, refuses local and forwarded writes with STORAGE_FULL; reads go on', async () => {
    const full = new Set<string>();
    const ids = ['a', 'b', 'c'];
    const machines = new Map(ids.map((id) => [id, new EchoStateMachine()]));
    const { timers, nodes } = await startSimCluster(ids, {
      networkSeed: 4,
      stateMachine: (id) => machines.get(id) ?? new EchoStateMachine(),
      extra: (id) => ({ writeGate: { writeRefusal: () => (full.has(id) ? `disk full on ${id}` : null) } }),
    });
    const leader = nodes.find((n) => n.isLeader());
    const follower = nodes.find((n) => !n.isLeader());
    assert.ok(leader !== undefined && follower !== undefined);
    const bytes = new TextEncoder().encode('x');
    const run = async (promise: Promise<Uint8Array>): Promise<unknown> => {
      const settled = promise.then(
        () => null,
        (error: unknown) => error,
      );
      await timers.runUntil(timers.nowMs() + 500);
      return settled;
    };
    assert.equal(await run(leader.submitAnywhere(bytes, 1000)), null, 'writes go on while there is room');
    const applied = machines.get(leader.getNodeId())?.commands;
    full.add(leader.getNodeId());
    const local = await run(leader.submitAnywhere(bytes, 1000));
    assert.ok(local instanceof PersistenceError && local.code === 'STORAGE_FULL', String(local));
    const forwarded = await run(follower.submitAnywhere(bytes, 1000));
    assert.ok(forwarded instanceof PersistenceError && forwarded.code === 'STORAGE_FULL', String(forwarded));
    assert.match(forwarded.message, new RegExp(`disk full on ${leader.getNodeId()}`));
    assert.equal(responseForError(forwarded).code, (4 << 5) | 13, '4.13');
    assert.equal(machines.get(leader.getNodeId())?.commands, applied, 'nothing was proposed');
    assert.equal(await run(follower.readAnywhere(bytes, 1000)), null, 'reads go on');
    full.clear();
    assert.equal(await run(follower.submitAnywhere(bytes, 1000)), null, 'writes resume');
    for (const node of nodes) await node.stop();
  });
});
