// Proves the buffer collector (agent/runtime/buffer-collector.ts, issue 17). On virtual time with
// a scripted byte count: it collects once the ArrayBuffer bytes grew past their least by more
// than the slack and not before, looks at most once per check interval while entries apply,
// collects at most once per collectIntervalMsMin, takes the bytes left after a collection as its
// new floor, checks once after the last activity (so a load's buffers go when it ends) and sets
// no timer at rest or once stopped. In a child Node started with the shipped unit's flags, a
// store whose 4 KiB values are overwritten at about 8 MiB a second holds at most the slack plus
// one check interval's writes of dead buffers with the collector, where without it V8 let them
// pass 16 MiB; the budget gives the unit's heap a slack of 1/16 of it.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BufferCollector } from '../../../agent/runtime/buffer-collector.js';
import {
  BUFFER_SLACK_MAX_BYTES,
  BUFFER_SLACK_MIN_BYTES,
  bufferSlackForHeap,
} from '../../../agent/config/memory-budget.js';
import { UNIT_NODE_FLAGS } from '../../../agent/fleet/memory-sizing.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { NoopMetrics } from '../../../agent/observability/noop.js';

const MIB = 1024 * 1024;
const HERE = dirname(fileURLToPath(import.meta.url));

function collectorOn(timers: VirtualTimers, bytes: { now: number }, onCollect: () => void): BufferCollector {
  return new BufferCollector(
    { timers, metrics: new NoopMetrics(), arrayBufferBytes: () => bytes.now, collect: onCollect },
    { slackBytes: 6 * MIB, checkIntervalMs: 250, collectIntervalMsMin: 500 },
  );
}

describe('buffer collector', () => {
  it('collects once the buffers grew past their least by the slack, at most once per interval', async () => {
    const timers = new VirtualTimers();
    const bytes = { now: 40 * MIB };
    let collections = 0;
    const collector = collectorOn(timers, bytes, () => {
      collections += 1;
      bytes.now = 30 * MIB; // what stays live after a full collection
    });
    bytes.now = 46 * MIB; // exactly the slack: not yet
    collector.noteActivity();
    assert.equal(collections, 0);
    bytes.now = 47 * MIB;
    collector.noteActivity();
    assert.equal(collections, 0, 'looked at most once per check interval');
    await timers.runUntil(timers.nowMs() + 250);
    collector.noteActivity();
    assert.equal(collections, 1);
    bytes.now = 37 * MIB; // 7 MiB past the new floor of 30 MiB, but within collectIntervalMsMin
    await timers.runUntil(timers.nowMs() + 250);
    collector.noteActivity();
    assert.equal(collections, 1, 'at most one collection per collectIntervalMsMin');
    await timers.runUntil(timers.nowMs() + 250);
    collector.noteActivity();
    assert.equal(collections, 2, 'the floor is what a collection left');
    assert.equal(collector.collections(), 2);
    collector.stop();
  });

  it('follows the bytes down, checks once after the last activity and sets no timer at rest', async () => {
    const timers = new VirtualTimers();
    const bytes = { now: 40 * MIB };
    let collections = 0;
    const collector = collectorOn(timers, bytes, () => {
      collections += 1;
      bytes.now = 21 * MIB;
    });
    assert.equal(timers.pendingCount(), 0, 'no timer before any activity');
    bytes.now = 20 * MIB; // V8 collected by itself: the floor follows
    collector.noteActivity();
    bytes.now = 27 * MIB; // the load's last entries
    assert.equal(timers.pendingCount(), 1);
    await timers.runUntil(timers.nowMs() + 10_000);
    assert.equal(collections, 1, 'the check after the last activity collected');
    assert.equal(timers.pendingCount(), 0, 'nothing runs at rest');
    collector.noteActivity();
    collector.stop();
    bytes.now = 40 * MIB;
    collector.noteActivity();
    await timers.runUntil(timers.nowMs() + 10_000);
    assert.equal(collections, 1, 'stopped: its timer cancelled and activity ignored');
    assert.equal(timers.pendingCount(), 0);
  });

  it('sizes the slack to a sixteenth of the heap limit, within its bounds', () => {
    assert.equal(bufferSlackForHeap(99 * MIB), Math.floor((99 * MIB) / 16));
    assert.equal(bufferSlackForHeap(16 * MIB), BUFFER_SLACK_MIN_BYTES);
    assert.equal(bufferSlackForHeap(4096 * MIB), BUFFER_SLACK_MAX_BYTES);
    assert.equal(bufferSlackForHeap(Number.NaN), BUFFER_SLACK_MAX_BYTES);
  });

  it("keeps the dead buffers of an overwritten store within the slack under the unit's flags", function () {
    this.timeout(60_000);
    const run = (mode: 'on' | 'off'): { slackBytes: number; peakExcessBytes: number; collections: number } => {
      const out = execFileSync(
        process.execPath,
        [...UNIT_NODE_FLAGS, '--import', 'tsx', join(HERE, 'fixtures', 'buffer-churn-child.ts'), mode],
        { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
      );
      const figures: unknown = JSON.parse(out);
      assert.ok(typeof figures === 'object' && figures !== null);
      return figures as { slackBytes: number; peakExcessBytes: number; collections: number };
    };
    const on = run('on');
    assert.ok(on.collections >= 1, 'the collector collected');
    // The slack, plus what one check interval (250 ms) of writes at about 8 MiB/s adds, with room for a slow machine.
    assert.ok(
      on.peakExcessBytes <= on.slackBytes + 4 * MIB,
      `dead buffers peaked ${on.peakExcessBytes} bytes above live`,
    );
    const off = run('off');
    assert.ok(off.peakExcessBytes > on.slackBytes + 4 * MIB, `without it V8 let ${off.peakExcessBytes} bytes wait`);
  });
});
