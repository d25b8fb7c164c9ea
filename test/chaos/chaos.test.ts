// Proves that real agents (coaps, lmdb; each in its own network namespace when the machine
// allows it) survive a seeded round of kills, pauses and partitions with a linearizable
// history, no lost acknowledged write, identical applied entries and a prompt recovery; and
// that the harness can fail: the same kind of round against agents started with the test-only
// switch CORAFT_UNSAFE_ACK_BEFORE_COMMIT=1 (writes acknowledged before they commit) is caught.
// Spawns dist/ agents: `npm run build` first (npm test does). CORAFT_CHAOS_SEED and
// CORAFT_CHAOS_MS override the seed and the length of the passing round.
import { strict as assert } from 'node:assert';
import { rmSync } from 'node:fs';
import { runChaos } from './harness.js';
import type { ChaosSummary } from './harness.js';
import { formatSummary } from './summary.js';

const SEED = Number(process.env['CORAFT_CHAOS_SEED'] ?? 20261126);
const DURATION_MS = Number(process.env['CORAFT_CHAOS_MS'] ?? 60_000);

function explain(summary: ChaosSummary): string {
  return formatSummary(summary).join('\n');
}

describe('chaos against real agents', function () {
  this.timeout(DURATION_MS + 240_000);

  it(`a short round of faults keeps every guarantee (seed ${SEED})`, async () => {
    const summary = await runChaos({ seed: SEED, nodes: 3, durationMs: DURATION_MS });
    assert.ok(summary.ok, explain(summary));
    assert.ok(summary.faults.length >= 3, `only ${summary.faults.length} faults were injected\n${explain(summary)}`);
    assert.ok(summary.counts.ok > 100, `only ${summary.counts.ok} operations succeeded\n${explain(summary)}`);
  });

  it('catches agents that acknowledge writes before they commit (seed 7)', async () => {
    const summary = await runChaos({ seed: 7, nodes: 3, durationMs: 20_000, unsafeAckBeforeCommit: true });
    assert.equal(summary.ok, false, `the broken agents passed:\n${explain(summary)}`);
    assert.ok(
      summary.violations.some((v) => v.startsWith('not linearizable') || v.includes('is lost')),
      `caught, but not by the history checks:\n${explain(summary)}`,
    );
    // The harness keeps a failed round's files for whoever debugs it; this failure was the expected one.
    rmSync(summary.dir, { recursive: true, force: true });
  });
});
