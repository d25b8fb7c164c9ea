// `coraft sim` on an error nothing handles during a run (a rejected background restart, say): the
// run fails with the error among its violations, so that its seed is reported like any other
// failure, instead of the process ending on it.
import { strict as assert } from 'node:assert';
import { runCatchingStrays } from '../../../agent/cli/sim.js';
import type { SimSummary } from '../../../agent/sim/run.js';

const PASSED: SimSummary = {
  type: 'summary',
  seed: 7,
  ok: true,
  elections: 1,
  commits: 1,
  ops: { ok: 0, fail: 0, info: 0 },
  simulatedMs: 0,
  events: 0,
  forgedRejected: 0,
  staleMessages: 0,
  unsyncedKept: 0,
  linearizable: true,
  watched: 0,
  violations: [],
};

describe('coraft sim: errors nothing handles during a run', () => {
  it('fails the run with the error, and leaves no listener behind', async () => {
    const before = process.listenerCount('unhandledRejection');
    const summary = await runCatchingStrays(async () => {
      void Promise.reject(new Error('n3 could not read its disk'));
      await new Promise((resolve) => setImmediate(resolve));
      return PASSED;
    });
    assert.equal(summary.ok, false);
    assert.equal(summary.violations.length, 1);
    assert.match(summary.violations[0] ?? '', /unhandled during the run: .*n3 could not read its disk/);
    assert.equal(process.listenerCount('unhandledRejection'), before);
  });

  it('passes a run with none through unchanged', async () => {
    assert.deepEqual(await runCatchingStrays(() => Promise.resolve(PASSED)), PASSED);
  });
});
