// Proves the simulator runs witnesses (coraft sim --witnesses) under every fault with its
// safety and linearizability checks: two members and a witness, and four members and a witness
// with membership changes (which add witnesses too and take the joint path with them), pass
// every check over pinned seeds; the trace shows the witness never led and marks its applies
// (compared by term only); and the safety checker fails a run in which a witness holds a payload
// or leads (the checks can fail: the checker is fed such events directly).
import { strict as assert } from 'node:assert';
import { runSimulation } from '../../agent/sim/run.js';
import { SafetyChecker } from '../../agent/sim/safety.js';
import type { TraceEvent } from '../../agent/sim/cluster.js';
import { SWEEP_FAULTS } from './sweep-plan.js';
import { parseFaults } from '../../agent/cli/sim.js';

describe('simulator with witnesses', function () {
  this.timeout(600_000);

  for (const [nodes, seeds] of [
    [2, [11, 12, 13]],
    [4, [21, 22]],
  ] as const) {
    for (const seed of seeds) {
      it(`SEED=${seed}: ${nodes} members and a witness pass every check under every fault`, async () => {
        const events: TraceEvent[] = [];
        const summary = await runSimulation({
          seed,
          nodes,
          witnesses: 1,
          durationMs: 8_000,
          clients: 3,
          faults: parseFaults(SWEEP_FAULTS),
          membership: true,
          raft: { snapshotThresholdBytes: 2048 },
          trace: (event) => events.push(event),
        });
        assert.deepEqual(summary.violations, [], `SEED=${seed}`);
        assert.equal(summary.ok, true);
        assert.equal(summary.linearizable, true);
        const witness = `n${nodes + 1}`;
        const led = events.filter((e) => e['type'] === 'leader').map((e) => e['node']);
        assert.ok(led.length > 0);
        assert.ok(!led.includes(witness), 'the witness never leads');
        const applies = events.filter((e) => e['type'] === 'apply' && e['node'] === witness);
        assert.ok(applies.length > 0, 'the witness follows the log');
        assert.ok(applies.every((e) => e['witness'] === true));
      });
    }
  }

  it('fails a witness that holds a payload or leads', () => {
    const checker = new SafetyChecker(new Set(['w']));
    checker.onApply('w', { term: 1, index: 1, type: 'command', command: new Uint8Array([1, 2, 3]) });
    assert.match(checker.violations[0] ?? '', /Witness: w holds the payload of entry 1/);
    checker.onApply('a', { term: 2, index: 2, type: 'command', command: new Uint8Array([1]) });
    checker.onApply('w', { term: 1, index: 2, type: 'command', command: new Uint8Array(0) });
    assert.match(checker.violations[1] ?? '', /State Machine Safety: witness w applied \(2, term 1\)/);
  });
});
