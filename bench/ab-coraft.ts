/**
 * Two builds of coraft side by side, for A/B measurements on a shared, noisy machine:
 *
 *   npm run bench -- ab-coraft --a=DIR [--clients=1] [--value-bytes=256] [--slices=16]
 *                               [--slice-ms=2000] [--warmup-ms=300] [--latency-probe-dir=DIR] [--json]
 *                               [--a-node-args="FLAGS"] [--b-node-args="FLAGS"] [--a-env="K=V ..."] [--b-env="K=V ..."]
 *
 * A is a built checkout of another revision (its DIR/bin/coraft.js runs the agents; build it with
 * `npm run build` there), B is this checkout (build it first too). Both 3-agent clusters run at
 * once, idle while the other is loaded; the load (closed-loop writes to the leader, as vs-etcd's)
 * goes to them in --slices slices each, ABBA, so that what else loads the machine hits both
 * alike. An A/A run (the same build twice) measured 340 and 345 writes/s, p50 1.48 and 1.49 ms,
 * on a machine where back-to-back runs of one build varied 2-4x. --latency-probe-dir writes each
 * cluster's latency probes to DIR/A and DIR/B and prints both breakdowns (bench/_latency-breakdown.ts).
 * Each side's peak RssAnon per agent over its slices is printed too (sampled as the footprint
 * bench does). --a-node-args and --b-node-args add Node flags (space-separated) to one side's
 * agents, after the unit's (agent/fleet/memory-sizing.ts), which the benches give both sides:
 * with --a set to this checkout, a run compares two sets of flags on one build. --a-env and --b-env
 * set environment variables (space-separated NAME=VALUE) of one side's agents, over the unit's malloc
 * settings (UNIT_MALLOC_ENV), to compare those (MALLOC_ARENA_MAX=1, MALLOC_TRIM_THRESHOLD_=...).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Cleanup } from './_cleanup.js';
import { LoadAccumulator, loadFigures, runSlice } from './_closed-loop.js';
import { CoraftSystem } from './_coraft.js';
import { intOption, option } from './_figures.js';
import { latencyBreakdown } from './_latency-breakdown.js';

/** Timeout of one client write, ms. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bound on waiting for a leader and for the members to agree before a slice, ms. */
const SETTLE_BOUND_MS = 30_000;
const SIDES = ['A', 'B'] as const;
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** Starts one side's cluster; its agents write probes to `probeDir` when it is not ''. */
async function startSide(
  cleanup: Cleanup,
  coraftBin: string | null,
  probeDir: string,
  nodeArgs: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<CoraftSystem> {
  // The agents inherit this process's environment when they start (agent/cli/agent-processes.ts).
  if (probeDir === '') delete process.env.CORAFT_LATENCY_PROBE;
  else {
    mkdirSync(probeDir, { recursive: true });
    process.env.CORAFT_LATENCY_PROBE = probeDir;
  }
  const system = cleanup.addOwner(
    await CoraftSystem.create({
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      nodeArgs,
      agentEnv: env,
      ...(coraftBin === null ? {} : { coraftBin }),
    }),
  );
  await system.start();
  await system.leader(60_000);
  return system;
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const aDir = option(args, 'a', '');
  const aBin = join(resolve(aDir), 'bin', 'coraft.js');
  if (aDir === '' || !existsSync(aBin)) throw new Error(`--a: a built coraft checkout (no ${aBin})`);
  const clients = intOption(args, 'clients', 1, 1, 1024);
  const valueBytes = intOption(args, 'value-bytes', 256, 1, 1024 * 1024);
  const slices = intOption(args, 'slices', 16, 1, 1000);
  const slice = { durationMs: intOption(args, 'slice-ms', 2000, 100, 600_000), settleBoundMs: SETTLE_BOUND_MS };
  const warmupMs = intOption(args, 'warmup-ms', 300, 0, 60_000);
  const probeDir = option(args, 'latency-probe-dir', '');
  const flagsOf = (name: string): string[] =>
    option(args, name, '')
      .split(' ')
      .filter((flag) => flag !== '');
  const nodeArgs = { A: flagsOf('a-node-args'), B: flagsOf('b-node-args') };
  const envOf = (name: string): Record<string, string> =>
    Object.fromEntries(
      flagsOf(name).map((pair) => {
        const at = pair.indexOf('=');
        if (at < 1) throw new Error(`--${name}: expected NAME=VALUE pairs separated by spaces, got ${pair}`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
    );
  const env = { A: envOf('a-env'), B: envOf('b-env') };
  const cleanup = new Cleanup();
  const uninstall = cleanup.onSignals(say);
  try {
    const systems = {
      A: await startSide(cleanup, aBin, probeDir === '' ? '' : join(resolve(probeDir), 'A'), nodeArgs.A, env.A),
      B: await startSide(cleanup, null, probeDir === '' ? '' : join(resolve(probeDir), 'B'), nodeArgs.B, env.B),
    };
    say(`ab-coraft: A ${aBin}, B this checkout; ${clients} client(s) x ${valueBytes} B, ${slices} slices each`);
    for (const side of SIDES)
      if (nodeArgs[side].length > 0 || Object.keys(env[side]).length > 0)
        say(`${side}'s extra Node flags: ${nodeArgs[side].join(' ')}; environment: ${JSON.stringify(env[side])}`);
    const acc = { A: new LoadAccumulator(clients, valueBytes), B: new LoadAccumulator(clients, valueBytes) };
    for (let i = 0; i < slices; i += 1)
      for (const side of i % 2 === 0 ? SIDES : [...SIDES].reverse())
        await runSlice(systems[side], acc[side], { ...slice, warmupMs });
    const figures = { A: loadFigures(acc.A), B: loadFigures(acc.B) };
    for (const side of SIDES) {
      const f = figures[side];
      say(
        `${side}: ${f.writesPerSecond}/s p50 ${f.p50Ms} ms p99 ${f.p99Ms} ms p99.9 ${f.p999Ms} ms, ` +
          `CPU ${f.cpuSecondsPer1000Writes} s/1k, errors ${f.errors}, ` +
          `peak RssAnon MiB ${f.members.map((m) => `${m.id} ${mib(m.rssAnonPeakBytes)}`).join(' / ')}`,
      );
    }
    // The agents write their probes as they stop.
    await cleanup.run(say);
    if (probeDir !== '')
      for (const side of SIDES) for (const line of latencyBreakdown(join(resolve(probeDir), side))) say(line);
    return { a: aBin, nodeArgs, env, clients, valueBytes, slices, sliceMs: slice.durationMs, figures };
  } finally {
    await cleanup.run(say);
    uninstall();
  }
}
