/**
 * Benchmark `sim`: how fast the deterministic simulator runs a 5-node cluster with every fault
 * on — seeds per second and simulated seconds per wall second. Not a test: it prints figures.
 * Options: --seeds N (default 5), --duration-ms T (simulated, default 10000), --nodes N.
 */
import { FAULT_KINDS, runSimulation } from '../agent/sim/run.js';
import { intOption } from '../agent/cli/args.js';

function option(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const seeds = intOption(option(args, 'seeds'), 'seeds', 5, 1, 10_000);
  const durationMs = intOption(option(args, 'duration-ms'), 'duration-ms', 10_000, 100, 10_000_000);
  const nodes = intOption(option(args, 'nodes'), 'nodes', 5, 1, 9);
  const membership = args.includes('--membership');
  const snapshotBytes = intOption(option(args, 'snapshot-bytes'), 'snapshot-bytes', 1_000_000, 1024, 2 ** 40);
  let simulatedMs = 0;
  let events = 0;
  let failures = 0;
  const started = performance.now();
  for (let seed = 1; seed <= seeds; seed += 1) {
    const summary = await runSimulation({
      seed,
      nodes,
      durationMs,
      clients: 3,
      faults: [...FAULT_KINDS],
      membership,
      raft: { snapshotThresholdBytes: snapshotBytes },
    });
    simulatedMs += summary.simulatedMs;
    events += summary.events;
    if (!summary.ok) failures += 1;
    process.stdout.write(
      `seed ${seed}: ${summary.ok ? 'ok' : 'FAILED'} simulated ${(summary.simulatedMs / 1000).toFixed(1)} ` +
        `s, ${summary.events} events, ${summary.ops.ok} ops ok, ${summary.elections} elections\n`,
    );
  }
  const wallS = (performance.now() - started) / 1000;
  const figures = {
    nodes,
    seeds,
    membership,
    snapshotBytes,
    wallSeconds: Number(wallS.toFixed(2)),
    seedsPerSecond: Number((seeds / wallS).toFixed(3)),
    simulatedSecondsPerWallSecond: Number((simulatedMs / 1000 / wallS).toFixed(1)),
    eventsPerSecond: Math.round(events / wallS),
    failures,
  };
  process.stdout.write(
    `${nodes} nodes, all faults${membership ? ', membership' : ''}: ${figures.seedsPerSecond} ` +
      `seeds/s, ${figures.simulatedSecondsPerWallSecond} simulated s per wall s, ${figures.eventsPerSecond} ` +
      `events/s\n`,
  );
  return figures;
}
