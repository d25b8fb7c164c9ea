// Proves the commit marker (agent/runtime/commit-marker.ts) that recover --force-new-cluster reads:
// it only ever rises, also across restarts (a restarted node that applies nothing, having no
// quorum, must not lower what an earlier run recorded, or recover would drop committed entries),
// it is written on the interval and at stop, and a damaged marker is reported, not fatal; and
// it sets a timer only while the marker on disk is behind (an idle agent does not wake up for it),
// and the timer's write runs in the background: the event loop is not held for its fsyncs.
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CommitMarker,
  COMMIT_MARKER_FILE,
  readCommitMarker,
  writeCommitMarker,
} from '../../../agent/runtime/commit-marker.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import type { TimerHandle, Timers } from '../../../contracts/clock.js';

/** Waits (real time, bounded) until the marker on disk names `index`. */
async function markerReaches(dir: string, index: number): Promise<void> {
  for (let i = 0; i < 200 && readCommitMarker(dir) !== index; i += 1) await new Promise((r) => setTimeout(r, 10));
  assert.equal(readCommitMarker(dir), index);
}
import { makeTempDir, removeDir } from '../../storage/helpers.js';

describe('commit marker', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => {
    removeDir(dir);
  });

  it('rises on the interval and at stop, and never below what an earlier run recorded', async () => {
    const timers = new VirtualTimers();
    const errors: unknown[] = [];
    assert.equal(readCommitMarker(dir), null);
    const first = new CommitMarker(dir, timers, 100, (e) => errors.push(e));
    first.start();
    first.noteApplied(40);
    await timers.runUntil(150);
    await markerReaches(dir, 40);
    first.noteApplied(50);
    await first.stop();
    assert.equal(readCommitMarker(dir), 50, 'written at stop');
    // A restart that re-applies from an older snapshot, or applies nothing at all.
    const second = new CommitMarker(dir, timers, 100, (e) => errors.push(e));
    second.start();
    second.noteApplied(3);
    await timers.runUntil(400);
    await second.stop();
    assert.equal(readCommitMarker(dir), 50);
    assert.deepEqual(errors, []);
  });

  it('reports a damaged marker and replaces it as entries apply', async () => {
    writeFileSync(join(dir, COMMIT_MARKER_FILE), '{"appliedIndex": "x"}');
    const errors: unknown[] = [];
    const marker = new CommitMarker(dir, new VirtualTimers(), 100, (e) => errors.push(e));
    assert.equal(errors.length, 1);
    marker.noteApplied(7);
    await marker.stop();
    assert.equal(readCommitMarker(dir), 7);
    writeCommitMarker(dir, 9);
    assert.equal(readCommitMarker(dir), 9);
  });

  it('sets its timer only while the marker on disk is behind', async () => {
    const timers = new VirtualTimers();
    const marker = new CommitMarker(dir, timers, 100, () => undefined);
    marker.start();
    await timers.runUntil(1_000);
    assert.equal(timers.firedCount, 0, 'nothing applied: no timer fired');
    marker.noteApplied(5);
    marker.noteApplied(6);
    await timers.runUntil(2_000);
    await markerReaches(dir, 6);
    await timers.runUntil(4_000);
    assert.equal(timers.firedCount, 1, 'one write for the change, then no timer');
    assert.equal(timers.pendingCount(), 0);
    await marker.stop();
  });

  it("writes on the timer in the background, and stop's last write waits for it", async () => {
    const due: (() => void)[] = [];
    const timers: Timers = {
      nowMs: () => 0,
      setTimer: (_delayMs: number, callback: () => void): TimerHandle => {
        due.push(callback);
        return { cancel: () => undefined };
      },
    };
    const marker = new CommitMarker(dir, timers, 1_000, (e) => assert.fail(String(e)));
    marker.start();
    marker.noteApplied(40);
    assert.equal(due.length, 1);
    due.shift()?.();
    assert.equal(readCommitMarker(dir), null, 'the timer returned before the write: it runs in the background');
    await markerReaches(dir, 40);
    marker.noteApplied(41);
    due.shift()?.();
    marker.noteApplied(42);
    await marker.stop();
    assert.equal(readCommitMarker(dir), 42, 'the last write came after the one in flight');
  });
});
