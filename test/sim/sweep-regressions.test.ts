// Seeds that long sweeps (`npm run sweep -- --seeds N --from S`) once failed, replayed with the
// sweep's exact arguments: each must now pass every safety, liveness and linearizability check.
// Each row says what the seed caught; each failed before its fix.
import { strict as assert } from 'node:assert';
import { runSimulation } from '../../agent/sim/run.js';
import { parseSimArgs } from '../../agent/cli/sim.js';
import { SWEEP_FAULTS } from './sweep-plan.js';

const REGRESSIONS: readonly { seed: number; nodes: string[]; caught: string }[] = [
  {
    seed: 501219,
    nodes: ['--nodes', '2', '--witnesses', '1'],
    caught:
      'no leader for ever: a leader that removed itself stepped down before its removal committed, and the ' +
      'witness held an entry that the only full voter left lacked (agent/core/state.ts, isPromotable)',
  },
  {
    seed: 700366,
    nodes: ['--nodes', '7'],
    caught:
      "a crashed node's snapshot read failed on its closed storage and was counted as the live node's fatal " +
      'error (agent/sim/cluster.ts, onFatal)',
  },
];

describe('simulator: seeds long sweeps once failed', function () {
  this.timeout(120_000);

  for (const { seed, nodes, caught } of REGRESSIONS) {
    it(`SEED=${seed}: ${caught}`, async () => {
      const args = [
        '--seed',
        String(seed),
        ...nodes,
        '--membership',
        '--snapshot-bytes',
        '2048',
        '--faults',
        SWEEP_FAULTS,
      ];
      const command = parseSimArgs(args);
      const summary = await runSimulation(command.run);
      assert.deepEqual(summary.violations, [], `replay: node bin/coraft.js sim ${args.join(' ')}`);
      assert.equal(summary.linearizable, true);
    });
  }
});
