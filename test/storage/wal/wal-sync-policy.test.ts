// The choice of walSyncMode `auto` between an inline sync and one on the thread pool
// (storage/wal/wal-sync-policy.ts). The running mean is of the sync alone: a write on the pool is
// timed with its hand-off and the event loop's wait (on a loaded leader, its whole apply), so
// such a time counts only when it is below the mean. Before, every time counted: once a disk
// hiccup had put the mean above 1 ms, the pool's slower times kept it there and lone writes
// never went inline again; and overlapped writes' times (a leader's apply included) pushed lone
// writes off inline. Both tests below fail with the old rule (every time in the mean, no probe).
import { strict as assert } from 'node:assert';
import { AUTO_INLINE_SYNC_MS_MAX, AUTO_PROBE_EVERY, AutoSyncPolicy } from '../../../storage/wal/wal-sync-policy.js';

/** Runs one append through the policy: returns whether it went inline, and records `inlineMs` or `poolMs`. */
function append(policy: AutoSyncPolicy, single: boolean, inlineMs: number, poolMs: number): boolean {
  const inline = policy.inline(single);
  policy.record(inline, inline ? inlineMs : poolMs);
  return inline;
}

describe('WAL auto sync policy', () => {
  it('syncs lone writes inline on a fast disk, whatever overlapped writes on the pool took', () => {
    const policy = new AutoSyncPolicy();
    for (let i = 0; i < 200; i += 1) {
      // A leader under load: an overlapped write waits for its apply (8 ms), then a lone write.
      assert.equal(append(policy, false, 0.3, 8), false, 'an overlapped write goes to the pool');
      assert.equal(append(policy, true, 0.3, 8), true, `lone write ${i} goes inline on a 0.3 ms disk`);
    }
    assert.ok(policy.syncMeanMs() < AUTO_INLINE_SYNC_MS_MAX);
  });

  it('returns lone writes to inline after a disk hiccup, though the pool stays slow', () => {
    const policy = new AutoSyncPolicy();
    for (let i = 0; i < 20; i += 1) append(policy, true, 0.3, 3);
    // One 14 ms sync: the mean goes above the limit, lone writes go to the pool.
    assert.equal(append(policy, true, 14, 3), true);
    assert.ok(policy.syncMeanMs() >= AUTO_INLINE_SYNC_MS_MAX, `mean ${policy.syncMeanMs()} ms`);
    assert.equal(append(policy, true, 0.3, 3), false, 'after the hiccup a lone write goes to the pool');
    // The disk is fast again (0.3 ms) while a hand-off to the pool takes 3 ms: lone writes come back inline.
    let writes = 0;
    while (policy.syncMeanMs() >= AUTO_INLINE_SYNC_MS_MAX && writes < 10 * AUTO_PROBE_EVERY) {
      append(policy, true, 0.3, 3);
      writes += 1;
    }
    assert.ok(writes < 10 * AUTO_PROBE_EVERY, `the mean is back below the limit after ${writes} writes`);
    const streak = Array.from({ length: 100 }, () => append(policy, true, 0.3, 3));
    assert.ok(
      streak.every((inline) => inline),
      'and stay inline',
    );
  });

  it('keeps lone writes on the pool on a slow disk, but for one probe in AUTO_PROBE_EVERY', () => {
    const policy = new AutoSyncPolicy();
    const choices = Array.from({ length: 40 * AUTO_PROBE_EVERY }, () => append(policy, true, 10, 10.5));
    const inlineLater = choices.slice(10 * AUTO_PROBE_EVERY).filter((inline) => inline).length;
    assert.equal(inlineLater, 30, `one lone write in ${AUTO_PROBE_EVERY} is synced inline (got ${inlineLater})`);
  });
});
