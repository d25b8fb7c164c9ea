// Proves the commit marker (agent/runtime/commit-marker.ts) that recover --force-new-cluster reads:
// it only ever rises, also across restarts (a restarted node that applies nothing, having no
// quorum, must not lower what an earlier run recorded, or recover would drop committed entries),
// it is written on the interval and at stop, and a damaged marker is reported, not fatal; and
// it sets a timer only while the marker on disk is behind (an idle agent does not wake up for it).
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
    assert.equal(readCommitMarker(dir), 40, 'written on the interval');
    first.noteApplied(50);
    first.stop();
    assert.equal(readCommitMarker(dir), 50, 'written at stop');
    // A restart that re-applies from an older snapshot, or applies nothing at all.
    const second = new CommitMarker(dir, timers, 100, (e) => errors.push(e));
    second.start();
    second.noteApplied(3);
    await timers.runUntil(400);
    second.stop();
    assert.equal(readCommitMarker(dir), 50);
    assert.deepEqual(errors, []);
  });

  it('reports a damaged marker and replaces it as entries apply', () => {
    writeFileSync(join(dir, COMMIT_MARKER_FILE), '{"appliedIndex": "x"}');
    const errors: unknown[] = [];
    const marker = new CommitMarker(dir, new VirtualTimers(), 100, (e) => errors.push(e));
    assert.equal(errors.length, 1);
    marker.noteApplied(7);
    marker.stop();
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
    assert.equal(readCommitMarker(dir), 6);
    assert.equal(timers.firedCount, 1, 'one write for the change, then no timer');
    assert.equal(timers.pendingCount(), 0);
    marker.stop();
  });
});
