/**
 * One agent's own start-up, A/B (issue 17: the agent's start-up ≤ 300 ms):
 *
 *   npm run bench -- startup-cpu [--a=DIR] [--samples=8] [--together=1] [--cpu-prof-dir=DIR] [--json]
 *                                [--node-args="FLAGS"] [--a-node-args="FLAGS"]
 *
 * Each sample writes a fresh 3-agent cluster's configuration (agent/cli/agent-processes.ts, the
 * agent's defaults, the unit's Node flags), starts --together of its agents at once (1: one agent
 * alone, which waits for no peer to reach READY) on empty data, reads each one's "agent ready"
 * report (CPU time to READY, READY since its process started) and stops them. With --a=DIR (a built
 * checkout of another revision) the samples alternate A, B, B, A, … so that what else loads the
 * machine hits both alike; the first start of each side is left out (it writes the code cache).
 * --cpu-prof-dir writes a V8 CPU profile of every agent started. --node-args and --a-node-args add
 * Node flags (space-separated, after the unit's) to B's and A's agents; either one alone, without
 * --a, compares this build with and without those flags.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Cleanup } from './_cleanup.js';
import { CoraftSystem } from './_coraft.js';
import { cell, formatTable, intOption, option, percentile } from './_figures.js';
import { sleep } from './_system.js';
import type { AgentStartup } from './_startup-phases.js';

/** Longest wait for the agents' "agent ready" reports, ms. */
const READY_BOUND_MS = 20_000;

/** The reports of one sample: `together` agents of a fresh cluster run by `coraftBin`, started at once. */
async function sample(
  coraftBin: string | null,
  together: number,
  cpuProfDir: string,
  nodeArgs: readonly string[],
): Promise<AgentStartup[]> {
  const cleanup = new Cleanup();
  try {
    const system = cleanup.addOwner(
      await CoraftSystem.create({
        requestTimeoutMs: 2_000,
        nodeArgs,
        ...(coraftBin === null ? {} : { coraftBin }),
        ...(cpuProfDir === '' ? {} : { cpuProfDir }),
      }),
    );
    await system.startSome(together);
    for (let waited = 0; waited < READY_BOUND_MS; waited += 20) {
      if (Object.keys(system.startupReports()).length >= together) break;
      await sleep(20);
    }
    const reports = Object.values(system.startupReports());
    if (reports.length < together) throw new Error(`${together - reports.length} agents did not report ready`);
    return reports;
  } finally {
    await cleanup.run();
  }
}

/** Median, p10 and p90 of `values`, rounded; nulls when there are none. */
function spread(values: readonly number[]): readonly [number | null, number | null, number | null] {
  if (values.length === 0) return [null, null, null];
  const sorted = [...values].sort((x, y) => x - y);
  return [percentile(sorted, 0.5), percentile(sorted, 0.1), percentile(sorted, 0.9)];
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const aDir = option(args, 'a', '');
  const aBin = aDir === '' ? null : join(resolve(aDir), 'bin', 'coraft.js');
  if (aBin !== null && !existsSync(aBin)) throw new Error(`--a: a built coraft checkout (no ${aBin})`);
  const samples = intOption(args, 'samples', 8, 1, 200);
  const together = intOption(args, 'together', 1, 1, 3);
  const cpuProfDir = option(args, 'cpu-prof-dir', '');
  if (cpuProfDir !== '') mkdirSync(cpuProfDir, { recursive: true });
  const flags = (name: string): string[] =>
    option(args, name, '')
      .split(' ')
      .filter((f) => f !== '');
  const nodeArgs = { A: flags('a-node-args'), B: flags('node-args') };
  const twoSides = aBin !== null || nodeArgs.A.length + nodeArgs.B.length > 0;
  const sides = twoSides ? (['A', 'B'] as const) : (['B'] as const);
  const binOf = (side: 'A' | 'B'): string | null => (side === 'A' ? aBin : null);
  // The first start of each build writes its code cache: run once, not counted.
  for (const side of sides) await sample(binOf(side), 1, '', nodeArgs[side]);
  const cpu: Record<string, number[]> = { A: [], B: [] };
  const ready: Record<string, number[]> = { A: [], B: [] };
  for (let i = 0; i < samples; i += 1) {
    // ABBA: A B, B A, A B, …
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      for (const report of await sample(binOf(side), together, cpuProfDir, nodeArgs[side])) {
        if (report.cpuMs !== null) cpu[side]?.push(report.cpuMs);
        if (report.ends.ready !== undefined) ready[side]?.push(report.ends.ready);
      }
    }
    say(
      `sample ${i + 1}/${samples}: ${sides.map((s) => `${s} cpu ${cpu[s]?.slice(-together).join('/')} ms`).join(', ')}`,
    );
  }
  const rows = sides.flatMap((side) => [
    [`${side} CPU time to READY`, ...spread(cpu[side] ?? []).map(cell)],
    [`${side} READY since process start`, ...spread(ready[side] ?? []).map(cell)],
  ]);
  say(formatTable([`${together} agent(s) started at once, ms`, 'median', 'p10', 'p90'], rows));
  return { together, samples, cpuMs: cpu, readyMs: ready };
}
