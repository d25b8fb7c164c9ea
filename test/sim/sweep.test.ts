// Proves the simulator sweep (`npm run sweep`): its plan spreads seeds over the node counts and
// its replay command parses, through `coraft sim`'s own parser, to exactly the run it made; its
// worker pool reports every kind of failure (a violation, a worker that dies, a run that never
// ends) with the seed and the command that replays it, keeps going with a new worker,
// and exits 1, while a clean sweep exits 0. It also replays the pinned seeds of every bug the
// sweep found, each of which failed before its fix.
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';
import { parseSimArgs } from '../../agent/cli/sim.js';
import { SEEDS_DEFAULT, SEEDS_LONG, SWEEP_FAULTS, parseSweepArgs, replayCommand, sweepRuns } from './sweep-plan.js';
import { runSweep } from './sweep.js';
import { runSweepRequest } from './sweep-worker.js';

const FAKE_WORKER = fileURLToPath(new URL('./fixtures/sweep-fake-worker.ts', import.meta.url));

/**
 * One pinned seed per bug the sweep found (run with the sweep's options); each failed on the
 * code before its fix, and must pass now.
 */
const PINNED = [
  {
    seed: 21,
    nodes: 3,
    bug:
      'the nemesis drew a node to restart from an empty list when membership changes left two nodes (intBetween ' +
      'abort)',
  },
  { seed: 52, nodes: 5, bug: 'the same abort on a five-node cluster shrunk by removals' },
  {
    seed: 669,
    nodes: 3,
    bug:
      'a leader that stopped told the waiter of a proposed write RAFT_STOPPED ("not done"); the write then ' +
      'committed',
  },
  { seed: 1798, nodes: 5, bug: 'the same, through a follower that forwarded the write' },
  {
    seed: 436,
    nodes: 5,
    bug:
      'the simulated network ran both copies of a duplicated forwarded write; one proposed it, the other ' +
      'answered "not leader"',
  },
];

describe('simulator sweep', function () {
  this.timeout(120_000);

  it('plans seeds over the node counts, with a replay command that parses to the same run', () => {
    const plan = parseSweepArgs(['--seeds', '6', '--from', '10', '--nodes', '3,5,7', '--jobs', '2']);
    const runs = sweepRuns(plan);
    assert.deepEqual(
      runs.map((r) => [r.seed, r.nodes]),
      [
        [10, 5],
        [11, 7],
        [12, 3],
        [13, 5],
        [14, 7],
        [15, 3],
      ],
    );
    const run = runs[0];
    assert.ok(run);
    const command = replayCommand(run);
    assert.equal(
      command,
      `node bin/coraft.js sim --seed 10 --nodes 5 --membership --snapshot-bytes 2048 --faults ${SWEEP_FAULTS}`,
    );
    const parsed = parseSimArgs(command.split(' ').slice(3)).run;
    assert.deepEqual(parsed, {
      seed: 10,
      nodes: 5,
      witnesses: 0,
      durationMs: 10_000,
      clients: 3,
      faults: ['partition', 'loss', 'reorder', 'duplicate', 'crash'],
      membership: true,
      leases: 2,
      raft: { snapshotThresholdBytes: 2048 },
    });
    assert.equal(parseSweepArgs([]).seeds, SEEDS_DEFAULT);
    assert.equal(parseSweepArgs(['--long']).seeds, SEEDS_LONG);
    assert.throws(() => parseSweepArgs(['--nodes', '3,10']), /--nodes: expected an integer from 1 to 9/);
  });

  it('plans witness runs by default (2+1: two members and a witness), replayed with --witnesses', () => {
    const runs = sweepRuns(parseSweepArgs(['--seeds', '4', '--from', '4']));
    assert.deepEqual(
      runs.map((r) => [r.seed, r.nodes, r.witnesses ?? 0]),
      [
        [4, 3, 0],
        [5, 5, 0],
        [6, 7, 0],
        [7, 2, 1],
      ],
    );
    const witnessRun = runs[3];
    assert.ok(witnessRun);
    const command = replayCommand(witnessRun);
    assert.match(command, / --nodes 2 --witnesses 1 /);
    const parsed = parseSimArgs(command.split(' ').slice(3)).run;
    assert.equal(parsed.nodes, 2);
    assert.equal(parsed.witnesses, 1);
    assert.throws(() => parseSweepArgs(['--nodes', '2+0']), /witnesses after \+/);
  });

  it('plans other fault mixes (--faults) and runs without membership changes (--no-membership)', () => {
    const plan = parseSweepArgs(['--seeds', '1', '--from', '4', '--faults', 'crash,clog,byzantine', '--no-membership']);
    const run = sweepRuns(plan)[0];
    assert.ok(run);
    const command = replayCommand(run);
    assert.equal(
      command,
      'node bin/coraft.js sim --seed 4 --nodes 3 --snapshot-bytes 2048 --faults crash,clog,byzantine',
    );
    const parsed = parseSimArgs(command.split(' ').slice(3)).run;
    assert.deepEqual(parsed.faults, ['crash', 'clog', 'byzantine']);
    assert.equal(parsed.membership, false);
    assert.equal(parseSweepArgs([]).faults, SWEEP_FAULTS);
    assert.equal(parseSweepArgs([]).membership, true);
    assert.throws(() => parseSweepArgs(['--faults', 'loss,meteor']), /--faults: unknown fault "meteor"/);
    const long = sweepRuns(parseSweepArgs(['--seeds', '1', '--from', '4', '--duration-ms', '60000', '--clients', '8']));
    const longRun = parseSimArgs(long[0]?.args ?? []).run;
    assert.equal(longRun.durationMs, 60_000);
    assert.equal(longRun.clients, 8);
    assert.equal(longRun.membership, true);
  });

  it('reports a violation, a dead worker and a hung run with seeds and replay commands, and exits 1', async () => {
    let out = '';
    const code = await runSweep(
      { from: 1, seeds: 8, nodes: [3], jobs: 2, runTimeoutMs: 1000 },
      { write: (text) => (out += text), workerPath: FAKE_WORKER },
    );
    assert.equal(code, 1);
    assert.match(out, /sweep: 8 seeds run, 6 failed, /);
    for (const seed of [2, 3, 4, 6, 7, 8])
      assert.match(
        out,
        new RegExp(`failed: node bin/coraft\\.js sim --seed ${seed} --nodes 3 `),
        `seed ${seed} is reported`,
      );
    assert.doesNotMatch(out, /FAIL SEED=(1|5) /);
    assert.match(
      out,
      /FAIL SEED=2 \(3 nodes\): Election Safety: made up\n {2}replay: node bin\/coraft\.js sim --seed 2 /,
    );
    assert.match(out, /FAIL SEED=3 \(3 nodes\): worker exited \(code 1, signal null\)/);
    assert.match(out, /FAIL SEED=4 \(3 nodes\): no result within 1000 ms \(hung\)/);
  });

  it('exits 0 when every seed passes', async () => {
    let out = '';
    const code = await runSweep(
      { from: 1, seeds: 2, nodes: [3, 5], jobs: 1, runTimeoutMs: 120_000 },
      { write: (text) => (out += text) },
    );
    assert.equal(code, 0, out);
    assert.match(out, /sweep: 2 seeds run, 0 failed, /);
  });

  for (const { seed, nodes, bug } of PINNED) {
    it(`SEED=${seed} on ${nodes} nodes passes (${bug})`, async () => {
      const outcome = await runSweepRequest({
        seed,
        args: sweepRuns({ from: seed, seeds: 1, nodes: [nodes], jobs: 1, runTimeoutMs: 1000 })[0]?.args ?? [],
      });
      assert.ok(
        outcome.ok,
        `SEED=${seed} failed (replay: node bin/coraft.js sim --seed ${seed} --nodes ${nodes} --membership ` +
          `--snapshot-bytes 2048 --faults ${SWEEP_FAULTS}):\n${outcome.error ?? outcome.violations.join('\n')}`,
      );
    });
  }
});
