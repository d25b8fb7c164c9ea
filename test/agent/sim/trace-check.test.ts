// Proves the trace checker's apply rules on hand-made traces and on a real simulator run: a
// node that re-applies after its `restart` line (from 1, or from its restored snapshot's index
// + 1) passes; the same re-apply without the restart line is a double apply and fails, as is
// re-applying what its restored snapshot covers, applying while crashed, and two nodes
// applying different entries at one index. A simulated run's own trace (crashes, restarts,
// snapshots) passes with replays, and fails once its restart lines are removed.
import { strict as assert } from 'node:assert';
import { TraceApplyChecker, checkTraceText } from '../../../agent/sim/trace-check.js';
import { runSimulation } from '../../../agent/sim/run.js';
import type { TraceEvent } from '../../../agent/sim/cluster.js';

const apply = (node: string, index: number, term = 1, digest = `d${index}`): object => ({
  t: 0,
  type: 'apply',
  node,
  index,
  term,
  digest,
});
const restart = (node: string): object => ({ t: 0, type: 'restart', node });
const crash = (node: string): object => ({ t: 0, type: 'crash', node });
const snapshot = (node: string, index: number): object => ({ t: 0, type: 'snapshot', node, index, term: 1 });

function check(events: readonly object[]): ReturnType<TraceApplyChecker['report']> {
  const checker = new TraceApplyChecker();
  for (const event of events) checker.add(event);
  return checker.report();
}

describe('trace checker: applies and restarts', () => {
  it('accepts a replay from index 1 after a restart', () => {
    const report = check([
      restart('a'),
      apply('a', 1),
      apply('a', 2),
      crash('a'),
      restart('a'),
      apply('a', 1),
      apply('a', 2),
      apply('a', 3),
    ]);
    assert.deepEqual(report.violations, []);
    assert.equal(report.replays, 2);
    assert.equal(report.restarts, 2);
    assert.deepEqual(report.lastApplied, { a: 3 });
  });

  it('rejects the same replay without the restart line', () => {
    const report = check([restart('a'), apply('a', 1), apply('a', 2), apply('a', 1), apply('a', 2), apply('a', 3)]);
    assert.equal(report.violationCount, 2);
    assert.match(report.violations[0] ?? '', /^a applied index 1 twice/);
  });

  it('accepts a replay from the restored snapshot index + 1, and rejects re-applying what the snapshot covers', () => {
    const prefix = [restart('a'), apply('a', 1), apply('a', 2), apply('a', 3), restart('a'), snapshot('a', 2)];
    assert.deepEqual(check([...prefix, apply('a', 3), apply('a', 4)]).violations, []);
    const report = check([...prefix, apply('a', 2), apply('a', 3)]);
    assert.equal(report.violationCount, 1);
    assert.match(report.violations[0] ?? '', /^a applied index 2 twice: it had applied or restored up to 2/);
  });

  it('rejects applying an index twice later in one run, and applying while crashed', () => {
    assert.equal(check([restart('a'), apply('a', 1), apply('a', 2), apply('a', 3), apply('a', 2)]).violationCount, 1);
    const crashed = check([restart('a'), apply('a', 1), crash('a'), apply('a', 2)]);
    assert.equal(crashed.violationCount, 1);
    assert.match(crashed.violations[0] ?? '', /while crashed/);
  });

  it('rejects two nodes applying different entries at one index, and counts the indexes compared', () => {
    const agree = check([apply('a', 1), apply('b', 1), apply('a', 2)]);
    assert.deepEqual(agree.violations, []);
    assert.equal(agree.indexesCompared, 1);
    const differ = check([apply('a', 1), apply('b', 1, 2, 'other')]);
    assert.equal(differ.violationCount, 1);
    assert.match(differ.violations[0] ?? '', /^index 1: a applied term 1/);
  });

  it('reads JSON Lines, skipping a line cut short', () => {
    const text =
      [restart('a'), apply('a', 1), restart('a'), apply('a', 1)].map((e) => JSON.stringify(e)).join('\n') +
      '\n{"t":1,"ty';
    const report = checkTraceText(text);
    assert.deepEqual(report.violations, []);
    assert.equal(report.linesSkipped, 1);
    assert.equal(report.replays, 1);
  });

  it("passes a simulated run's trace, replays after restarts included; fails it without restarts", async function () {
    this.timeout(60_000);
    const events: TraceEvent[] = [];
    const summary = await runSimulation({
      seed: 4,
      nodes: 5,
      durationMs: 8_000,
      clients: 3,
      faults: ['crash', 'loss'],
      raft: { snapshotThresholdBytes: 2048 },
      trace: (e) => events.push(e),
    });
    assert.ok(summary.ok, summary.violations.join('\n'));
    const full = check(events);
    assert.deepEqual(full.violations, []);
    assert.ok(full.restarts > 5, 'nodes restarted');
    assert.ok(full.replays > 0, 'restarted nodes re-applied entries');
    assert.ok(events.some((e) => e.type === 'crash'));
    const stripped = check(events.filter((e) => e.type !== 'restart'));
    assert.ok(stripped.violationCount > 0, 'the replays are double applies without the restart lines');
  });
});
