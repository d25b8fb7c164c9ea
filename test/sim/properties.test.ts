// The simulator as a property test: over pinned seeds and fresh ones, with every fault mix
// (partitions, loss, reordering, duplication, crashes, clogged links, forged messages, messages
// held for seconds, crashes mid-write or right after an answer), whole
// runs must keep every safety property after every instant (Election Safety, Leader
// Append-Only, Log Matching, Leader Completeness, State Machine Safety, Commit Implies
// Replication, monotonic commit), converge and serve again once healed (Log Convergence,
// Liveness, Majority Availability), recover crashed nodes (Crash Recovery), and produce a
// linearizable client history. Every run prints SEED=…; SIM_SEED=… replays one run exactly.
import { strict as assert } from 'node:assert';
import { randomInt } from 'node:crypto';
import { FAULT_KINDS, runSimulation } from '../../agent/sim/run.js';
import type { FaultKind, SimSummary } from '../../agent/sim/run.js';
import { SeededPrng } from '../../contracts/prng.js';
import type { TraceEvent } from '../../agent/sim/cluster.js';

const PINNED_SEEDS = [1, 2, 3, 42, 1337, 20261126, 7, 99];
const FRESH_SEEDS = Number(process.env.SIM_FRESH_SEEDS ?? 4);

function faultMix(seed: number): FaultKind[] {
  const prng = new SeededPrng(seed ^ 0x5eed);
  const mix = FAULT_KINDS.filter(() => prng.chance(0.6));
  return mix.length === 0 ? [...FAULT_KINDS] : mix;
}

function seeds(): number[] {
  const replay = process.env.SIM_SEED;
  if (replay !== undefined) return [Number(replay)];
  return [...PINNED_SEEDS, ...Array.from({ length: FRESH_SEEDS }, () => randomInt(0, 2 ** 31))];
}

function explain(summary: SimSummary): string {
  return (
    `SEED=${summary.seed} failed (replay: SIM_SEED=${summary.seed} npm run test:sim):\n ` +
    ` ${summary.violations.join('\n  ')}`
  );
}

describe('simulated clusters under faults', function () {
  this.timeout(300_000);

  for (const seed of seeds()) {
    const nodes = 3 + 2 * (seed % 2);
    it(`SEED=${seed}: ${nodes} nodes with ${faultMix(seed).join(',')}`, async () => {
      process.stdout.write(`SEED=${seed}\n`);
      const summary = await runSimulation({ seed, nodes, durationMs: 8_000, clients: 3, faults: faultMix(seed) });
      assert.ok(summary.ok, explain(summary));
      assert.equal(summary.linearizable, true, explain(summary));
      assert.ok(summary.ops.ok > 0, 'clients completed operations');
    });
  }

  for (const seed of seeds().map((s) => s + 1000)) {
    it(`SEED=${seed}: 5 nodes, membership changes, tiny snapshots, every fault`, async () => {
      process.stdout.write(`SEED=${seed}\n`);
      const summary = await runSimulation({
        seed,
        nodes: 5,
        durationMs: 8_000,
        clients: 3,
        faults: [...FAULT_KINDS],
        membership: true,
        raft: { snapshotThresholdBytes: 2048, snapshotChunkBytes: 512 },
      });
      assert.ok(summary.ok, explain(summary));
      assert.equal(summary.linearizable, true, explain(summary));
    });
  }

  it('replays a run byte for byte from its seed', async () => {
    const traceOf = async (): Promise<string> => {
      const lines: string[] = [];
      await runSimulation({
        seed: 77,
        nodes: 5,
        durationMs: 3_000,
        clients: 3,
        faults: [...FAULT_KINDS],
        trace: (e: TraceEvent) => lines.push(JSON.stringify(e)),
      });
      return lines.join('\n');
    };
    const first = await traceOf();
    const second = await traceOf();
    assert.ok(first.length > 1000);
    assert.equal(first, second);
  });

  it('fails a run whose history is not linearizable, so the check can fail', async () => {
    // A run whose state machine lies about reads must be caught by the history check.
    const summary = await runSimulation({
      seed: 5,
      nodes: 3,
      durationMs: 2_000,
      clients: 3,
      faults: [],
      corruptReads: true,
    });
    assert.equal(summary.ok, false);
    assert.equal(summary.linearizable, false);
  });
});
