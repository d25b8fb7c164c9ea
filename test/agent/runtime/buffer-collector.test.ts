// Proves the buffer collector (agent/runtime/buffer-collector.ts, issue 17). On virtual time with
// scripted memory readings and a fake collection: it collects only while the memory in use (heap
// used + ArrayBuffer bytes above their least since start) is past the budget's line, and only once
// the buffers grew past their least since the last collection by more than the slack, scaled by
// the share of such growth past collections freed; growth that collections do not free (live
// buffers) makes the next one wait for more, down to DEAD_SHARE_MIN, and a collection that frees
// it brings the share back; it looks at most once per check interval while entries apply,
// collects at most once per collectIntervalMsMin, under load none within v8QuietMsMin of V8's own
// full collection, checks once after the last activity (so a load's
// buffers go when it ends) and sets no timer at rest or once stopped. In a child Node started with
// the shipped unit's flags, a store near the line whose 4 KiB values are overwritten at about 8 MiB
// a second holds at most twice the slack plus one check interval's writes of dead buffers with the
// collector, where without it V8 let them pass that (about 32 MiB); the budget gives the unit's
// heap a line of half of it and a slack of 1/16. The count of V8's own full collections leaves out
// those of a gc() call, which V8 reports after the call returned.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BufferCollector,
  type CollectorTurn,
  DEAD_SHARE_MIN,
  TURN_SLOT_MS,
  collectorTurnOf,
} from '../../../agent/runtime/buffer-collector.js';
import {
  BUFFER_SLACK_MAX_BYTES,
  BUFFER_SLACK_MIN_BYTES,
  bufferLineForHeap,
  bufferSlackForHeap,
} from '../../../agent/config/memory-budget.js';
import { UNIT_NODE_FLAGS } from '../../../agent/fleet/memory-sizing.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { NoopMetrics } from '../../../agent/observability/noop.js';

const MIB = 1024 * 1024;
const HERE = dirname(fileURLToPath(import.meta.url));
const SLACK = 6 * MIB;
/** The wall clock at virtual time 0 (a member's turn is a slot of wall-clock time), in the middle of a slot. */
const WALL_START_MS = 1_790_000_000_000 + 337;

/** Scripted memory: the ArrayBuffer bytes and the heap used, in bytes; V8's full collections so far, when counted. */
interface Memory {
  buffers: number;
  heap: number;
  full?: number;
}

function collectorOn(
  timers: VirtualTimers,
  memory: Memory,
  onCollect: () => void,
  lineBytes = 0,
  v8QuietMsMin = 0,
  turn: CollectorTurn | null = null,
): BufferCollector {
  return new BufferCollector(
    {
      timers,
      wallClockMs: () => WALL_START_MS + timers.nowMs(),
      metrics: new NoopMetrics(),
      memory: () => ({
        arrayBufferBytes: memory.buffers,
        heapUsedBytes: memory.heap,
        ...(memory.full === undefined ? {} : { fullCollections: memory.full }),
      }),
      collect: onCollect,
    },
    { lineBytes, slackBytes: SLACK, checkIntervalMs: 250, collectIntervalMsMin: 500, v8QuietMsMin, turn },
  );
}

/** Advances past the check interval and notes one activity. */
async function later(timers: VirtualTimers, collector: BufferCollector, ms = 500): Promise<void> {
  await timers.runUntil(timers.nowMs() + ms);
  collector.noteActivity();
}

describe('buffer collector', () => {
  it('measures the growth under load from what a full collection V8 ran of its own left', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 40 * MIB, heap: 20 * MIB, full: 0 };
    let collections = 0;
    const collector = collectorOn(timers, memory, () => {
      collections += 1; // a gc() call's collection is not counted as V8's own (countFullCollections)
      memory.buffers = 30 * MIB;
    });
    collector.noteActivity(); // the first look: V8's count so far is the start
    memory.buffers = 50 * MIB; // 10 MiB past the least: past the slack
    memory.full += 1; // but V8 ran a full collection since the last look
    await later(timers, collector);
    assert.equal(collections, 0, 'V8 ran one since the last look: none forced');
    memory.buffers = 55 * MIB; // 5 MiB past what it left
    await later(timers, collector);
    assert.equal(collections, 0, 'the growth counts from what V8 left');
    memory.buffers = 57 * MIB; // 7 MiB past it
    await later(timers, collector);
    assert.equal(collections, 1, 'past the slack since V8 ran one: forced');
    memory.buffers = 40 * MIB; // 10 MiB past what the forced one left
    await later(timers, collector);
    assert.equal(collections, 2, "its own collection is not taken for one of V8's");
    collector.stop();
  });

  it('under load runs none within v8QuietMsMin of a full collection V8 ran of its own', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 40 * MIB, heap: 20 * MIB, full: 0 };
    const collectedAt: number[] = [];
    const collector = collectorOn(
      timers,
      memory,
      () => {
        collectedAt.push(timers.nowMs());
        memory.buffers = 30 * MIB;
      },
      0,
      1000,
    );
    collector.noteActivity(); // the first look: V8's count so far is the start
    memory.full += 1; // V8 ran a full collection of its own
    await later(timers, collector);
    const v8At = timers.nowMs(); // the look that saw it
    // Growth past the slack since what V8 left, at every look, while entries apply.
    while (timers.nowMs() < v8At + 3000) {
      memory.buffers += 7 * MIB;
      await later(timers, collector, 250);
      if (collectedAt.length > 0) break;
    }
    assert.deepEqual(collectedAt, [v8At + 1000], 'the first one came v8QuietMsMin after the look that saw V8 collect');
    // V8 collects again, and again the growth passes the slack: none until V8 has been quiet that long.
    memory.full += 1;
    await later(timers, collector);
    const v8AgainAt = timers.nowMs();
    memory.buffers += 14 * MIB;
    await later(timers, collector, 250);
    await later(timers, collector, 250);
    assert.equal(collectedAt.length, 1, 'V8 collected 500 ms ago: none forced');
    await later(timers, collector);
    assert.deepEqual(collectedAt.slice(1), [v8AgainAt + 1000]);
    collector.stop();
  });

  it('collects after the load even when V8 ran a full collection since the last look', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 40 * MIB, heap: 20 * MIB, full: 0 };
    let collections = 0;
    const collector = collectorOn(
      timers,
      memory,
      () => {
        collections += 1;
        memory.buffers = 30 * MIB;
      },
      1024 * MIB,
    );
    collector.noteActivity();
    memory.buffers = 50 * MIB;
    memory.full += 1;
    await timers.runUntil(timers.nowMs() + 5000);
    assert.equal(collections, 1, 'the check after the load collects regardless');
    collector.stop();
  });

  it('collects once the buffers grew past their least by the slack, at most once per interval', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 40 * MIB, heap: 20 * MIB };
    let collections = 0;
    const collector = collectorOn(timers, memory, () => {
      collections += 1;
      memory.buffers = 30 * MIB; // what stays live after a full collection
    });
    memory.buffers = 46 * MIB; // exactly the slack: not yet
    collector.noteActivity();
    assert.equal(collections, 0);
    memory.buffers = 47 * MIB;
    collector.noteActivity();
    assert.equal(collections, 0, 'looked at most once per check interval');
    await later(timers, collector, 250);
    assert.equal(collections, 1);
    memory.buffers = 37 * MIB; // 7 MiB past the new floor of 30 MiB, but within collectIntervalMsMin
    await later(timers, collector, 250);
    assert.equal(collections, 1, 'at most one collection per collectIntervalMsMin');
    await later(timers, collector, 250);
    assert.equal(collections, 2, 'the floor is what a collection left');
    assert.equal(collector.collections(), 2);
    collector.stop();
  });

  it('leaves dead buffers to V8 while the memory in use is below the budget line', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 16 * MIB, heap: 20 * MIB }; // 16 MiB allocated once at start (LMDB's read buffer)
    let collections = 0;
    const collector = collectorOn(
      timers,
      memory,
      () => {
        collections += 1;
        memory.buffers = 20 * MIB;
      },
      50 * MIB,
    );
    memory.buffers = 40 * MIB; // 24 MiB grown, used = 20 + 24 = 44 MiB: below the line
    collector.noteActivity();
    assert.equal(collections, 0, 'below the line: no collection, however much the buffers grew');
    memory.heap = 27 * MIB; // used = 27 + 24 = 51 MiB: past it
    await later(timers, collector);
    assert.equal(collections, 1, 'past the line and the slack: collected');
    memory.buffers = 30 * MIB; // 10 MiB grown again, used = 27 + 14 = 41 MiB
    await later(timers, collector);
    assert.equal(collections, 1, 'the bytes held since start do not count as in use');
    memory.heap = 40 * MIB;
    await later(timers, collector);
    assert.equal(collections, 2);
    collector.stop();
  });

  it('waits for more growth after collections that freed little, and less again after one that freed it', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 20 * MIB, heap: 20 * MIB };
    const grownAt: number[] = [];
    let floor = 20 * MIB;
    let freeAll = false;
    const collector = collectorOn(timers, memory, () => {
      grownAt.push(memory.buffers - floor);
      if (freeAll) memory.buffers = floor; // the growth was dead
      floor = memory.buffers; // otherwise live (a log filling up): nothing freed
    });
    // Live growth of 1 MiB per look, as a log of small entries between snapshots.
    while (grownAt.length < 4) {
      memory.buffers += MIB;
      await later(timers, collector, 250);
    }
    assert.deepEqual(
      grownAt.map((bytes) => bytes / MIB),
      [7, 13, 25, 49],
      'each collection that freed nothing doubled the growth the next one waits for',
    );
    assert.equal(collector.expectedDeadShare(), DEAD_SHARE_MIN);
    freeAll = true;
    while (grownAt.length < 7) {
      memory.buffers += MIB;
      await later(timers, collector, 250);
    }
    assert.deepEqual(
      grownAt.slice(4).map((bytes) => bytes / MIB),
      [49, 11, 8],
      'collections that freed the growth brought the share back up',
    );
    collector.stop();
  });

  it('after the last activity collects once the buffers grew past the slack, whatever the line and share', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 20 * MIB, heap: 40 * MIB };
    let collections = 0;
    let freed = false;
    const collector = collectorOn(
      timers,
      memory,
      () => {
        collections += 1;
        if (freed) memory.buffers = 30 * MIB;
      },
      50 * MIB,
    );
    while (collections < 3) {
      memory.buffers += MIB; // live growth: collections free nothing
      await later(timers, collector, 250);
    }
    assert.equal(collector.expectedDeadShare(), DEAD_SHARE_MIN);
    memory.heap = 10 * MIB; // the load ends; below the line
    memory.buffers += 10 * MIB; // 10 MiB grew past the floor: dead buffers of the load's last writes
    freed = true;
    await timers.runUntil(timers.nowMs() + 10_000);
    assert.equal(collections, 4, 'the check after the last activity collected');
    collector.stop();
  });

  it('follows the bytes down, checks once after the last activity and sets no timer at rest', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 40 * MIB, heap: 20 * MIB };
    let collections = 0;
    const collector = collectorOn(timers, memory, () => {
      collections += 1;
      memory.buffers = 21 * MIB;
    });
    assert.equal(timers.pendingCount(), 0, 'no timer before any activity');
    memory.buffers = 20 * MIB; // V8 collected by itself: the floor follows
    collector.noteActivity();
    memory.buffers = 27 * MIB; // the load's last entries
    assert.equal(timers.pendingCount(), 1);
    await timers.runUntil(timers.nowMs() + 10_000);
    assert.equal(collections, 1, 'the check after the last activity collected');
    assert.equal(timers.pendingCount(), 0, 'nothing runs at rest');
    collector.noteActivity();
    collector.stop();
    memory.buffers = 40 * MIB;
    collector.noteActivity();
    await timers.runUntil(timers.nowMs() + 10_000);
    assert.equal(collections, 1, 'stopped: its timer cancelled and activity ignored');
    assert.equal(timers.pendingCount(), 0);
  });

  it('under load, members whose memory follows one course collect in turns, never at once', async () => {
    // Three members applying the same entries: their buffers grow alike, 1 MiB every 50 ms.
    const timers = new VirtualTimers();
    const members = [0, 1, 2].map((rank) => {
      const memory = { buffers: 30 * MIB, heap: 20 * MIB };
      const times: number[] = [];
      const collector = collectorOn(
        timers,
        memory,
        () => {
          times.push(WALL_START_MS + timers.nowMs());
          memory.buffers = 30 * MIB;
        },
        0,
        0,
        { rank, members: 3 },
      );
      return { rank, memory, times, collector };
    });
    for (let step = 0; step < 400; step += 1) {
      await timers.runUntil(timers.nowMs() + 50);
      for (const member of members) {
        member.memory.buffers += MIB;
        member.collector.noteActivity();
      }
    }
    for (const { rank, times, collector } of members) {
      collector.stop();
      assert.ok(times.length >= 4, `member ${rank} collected ${times.length} times in 20 s of load`);
      for (const at of times) {
        const slot = Math.floor(at / TURN_SLOT_MS);
        assert.equal(slot % 3, rank, `member ${rank} collected at ${at} in its own slot`);
        assert.ok(at - slot * TURN_SLOT_MS < TURN_SLOT_MS / 2, 'in the first half of its slot');
      }
    }
    for (const a of members)
      for (const b of members)
        if (a.rank < b.rank)
          for (const at of a.times)
            for (const bt of b.times)
              assert.ok(Math.abs(at - bt) >= TURN_SLOT_MS / 2, `members ${a.rank} and ${b.rank} at ${at} and ${bt}`);
  });

  it('after the last activity collects without waiting for its turn', async () => {
    const timers = new VirtualTimers();
    const memory = { buffers: 30 * MIB, heap: 20 * MIB };
    let collections = 0;
    // Rank 2 of 3: its turns start 2 s into each 3 s round; the load ends at once.
    const collector = collectorOn(timers, memory, () => (collections += 1), 0, 0, { rank: 2, members: 3 });
    collector.noteActivity();
    memory.buffers = 40 * MIB;
    await timers.runUntil(1100); // the check after the last activity, at 1000 ms (wall: slot 0 of the round)
    assert.equal(collections, 1);
    collector.stop();
  });

  it("gives each member its place among the configured members' ids", () => {
    assert.deepEqual(collectorTurnOf('n2', ['n3', 'n1', 'n2']), { rank: 1, members: 3 });
    assert.deepEqual(collectorTurnOf('n1', ['n1']), { rank: 0, members: 1 });
    assert.equal(collectorTurnOf('n4', ['n1', 'n2', 'n3']), null);
  });

  it('sizes the line to half the heap limit and the slack to a sixteenth, within its bounds', () => {
    assert.equal(bufferLineForHeap(99 * MIB), Math.floor((99 * MIB) / 2));
    assert.equal(bufferLineForHeap(Number.NaN), Number.POSITIVE_INFINITY);
    assert.equal(bufferSlackForHeap(99 * MIB), Math.floor((99 * MIB) / 16));
    assert.equal(bufferSlackForHeap(16 * MIB), BUFFER_SLACK_MIN_BYTES);
    assert.equal(bufferSlackForHeap(4096 * MIB), BUFFER_SLACK_MAX_BYTES);
    assert.equal(bufferSlackForHeap(Number.NaN), BUFFER_SLACK_MAX_BYTES);
  });

  it("collects without --expose-gc given, counting V8's own full collections and not a gc() call's", function () {
    this.timeout(60_000);
    const out = execFileSync(
      process.execPath,
      [...UNIT_NODE_FLAGS, '--import', 'tsx', join(HERE, 'fixtures', 'full-count-child.ts')],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    const counts = JSON.parse(out) as { start: number; afterGc: number; afterGarbage: number; collected: boolean };
    assert.ok(!UNIT_NODE_FLAGS.includes('--expose-gc'), 'the unit leaves --expose-gc to the agent');
    assert.ok(counts.collected, 'gc() collects without --expose-gc on the command line');
    assert.equal(counts.afterGc, counts.start, "the collector's own gc() is not taken for one of V8's");
    assert.ok(counts.afterGarbage > counts.afterGc, `V8's own are counted (${JSON.stringify(counts)})`);
  });

  it("keeps the dead buffers of a store near the line within the slack under the unit's flags", function () {
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
    // Twice the slack (the first collection frees little of the growth since start, which is the store: the next waits
    // for twice the slack), plus what one check interval (250 ms) of writes at about 8 MiB/s adds, with room for a slow
    // machine.
    const bound = 2 * on.slackBytes + 4 * MIB;
    assert.ok(on.peakExcessBytes <= bound, `dead buffers peaked ${on.peakExcessBytes} bytes above live`);
    const off = run('off');
    assert.ok(off.peakExcessBytes > bound, `without it V8 let ${off.peakExcessBytes} bytes wait`);
  });
});
