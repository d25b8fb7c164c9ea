/**
 * An agent restarted on its data, A/B (issue 17: the agent's own start-up ≤ 300 ms, also after a
 * load). The footprint bench restarts one follower once per run of 60 s of load; this bench loads
 * a cluster once and then restarts one follower's data folder many times, alternately with two
 * builds, so that a change to start-up on data is measured in pairs:
 *
 *   npm run bench -- restart-data [--a=DIR] [--load-ms=60000] [--clients=64] [--value-bytes=4096]
 *                                 [--runs=5] [--stop=term|kill] [--from=DIR] [--keep=DIR]
 *
 * 1. Unless --from names a folder kept by an earlier run (--keep), a fresh 3-agent cluster of this
 *    checkout takes --clients closed-loop writers of --value-bytes values on its leader for
 *    --load-ms; then a follower is stopped (--stop: SIGTERM, a clean stop, as the footprint bench
 *    does; or SIGKILL, which leaves its write-ahead log to replay) and the others too. Its node
 *    folder (agent.json, keys, data) is the data every run starts on.
 * 2. --runs times, in ABBA order: a copy of that folder, started alone under the unit's Node flags
 *    with build A's (--a, default none: B only) or this checkout's bin/coraft.js, is timed from
 *    spawn to its endpoint's first answer (GET /status every 10 ms), with the start-up phases it
 *    reports; then it is stopped (SIGTERM). Each build starts once first, untimed, to write its
 *    code cache. Peers are down, which start-up up to the endpoint does not wait for.
 * Prints each run and the medians per build. The data folder's size and its WAL segments are printed too.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CORAFT_BIN } from '../agent/cli/agent-processes.js';
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';
import { unitEnvironment } from '../agent/fleet/memory-sizing.js';
import { STARTUP_PHASES, phaseDurations } from '../agent/observability/startup-phases.js';
import { LoadAccumulator, loadFigures, runSlice } from './_closed-loop.js';
import { CoraftSystem } from './_coraft.js';
import { intOption, option, round } from './_figures.js';
import { folderBytes } from './_proc.js';
import { StartupReports } from './_startup-phases.js';
import type { AgentStartup } from './_startup-phases.js';
import { sleep } from './_system.js';

/** Longest a restarted agent may take to answer, ms. */
const ANSWER_BOUND_MS = 30_000;

/** One timed restart. */
interface RestartRun {
  readonly build: 'A' | 'B';
  readonly answeredMs: number | null;
  readonly startup: AgentStartup | null;
  /** The log the node restored: its last index and its snapshot's ("raft node started"), when it said so. */
  readonly log: { readonly lastIndex: number; readonly snapshotIndex: number } | null;
}

/** The last index and snapshot index of the "raft node started" line in `output`, or null. */
function logShape(output: string): RestartRun['log'] {
  const line = output.split('\n').find((l) => l.includes('"raft node started"'));
  const last = /"lastIndex":(\d+)/u.exec(line ?? '');
  const snap = /"snapshotIndex":(\d+)/u.exec(line ?? '');
  return last === null || snap === null ? null : { lastIndex: Number(last[1]), snapshotIndex: Number(snap[1]) };
}

/** Sends `signal` to `pid` and waits until it is gone (at most 30 s). */
async function stopProcess(pid: number, signal: NodeJS.Signals): Promise<void> {
  process.kill(pid, signal);
  for (let i = 0; i < 1_500 && existsSync(`/proc/${pid}/stat`) && !zombie(pid); i += 1) await sleep(20);
}

/** Whether `pid` has exited and waits for its parent to reap it. */
function zombie(pid: number): boolean {
  try {
    return / Z /u.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    // Gone already.
    return true;
  }
}

/** Loads a fresh cluster and keeps a stopped follower's node folder in `keep`; returns its path. */
async function prepare(keep: string, loadMs: number, clients: number, valueBytes: number, kill: boolean) {
  const system = await CoraftSystem.create({ requestTimeoutMs: 10_000 });
  try {
    await system.start();
    const leader = await system.leader(30_000);
    const acc = new LoadAccumulator(clients, valueBytes);
    await runSlice(system, acc, { durationMs: loadMs, warmupMs: 1_000, settleBoundMs: 30_000 });
    const f = loadFigures(acc);
    process.stdout.write(`load: ${f.writes} writes in ${round(f.durationMs, 0)} ms on leader ${leader}\n`);
    const follower = system.members().find((m) => m.id !== leader);
    if (follower === undefined) throw new Error('no follower');
    if (follower.pid !== null) await stopProcess(follower.pid, kill ? 'SIGKILL' : 'SIGTERM');
    cpSync(join(follower.dataDir, '..'), keep, { recursive: true });
    process.stdout.write(`kept ${follower.id}'s folder (${kill ? 'SIGKILL' : 'SIGTERM'}) in ${keep}\n`);
  } finally {
    await system.close();
  }
}

/** The node folder's endpoint address from its agent.json. */
async function endpointOf(nodeDir: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const config: unknown = JSON.parse(await readFile(join(nodeDir, 'agent.json'), 'utf8'));
  const listen: unknown = typeof config === 'object' && config !== null ? Reflect.get(config, 'listen') : null;
  const endpoint: unknown = typeof listen === 'object' && listen !== null ? Reflect.get(listen, 'endpoint') : null;
  if (typeof endpoint !== 'string') throw new Error(`${nodeDir}/agent.json names no endpoint`);
  return endpoint;
}

/** Starts `bin` on a copy of `source` and times it to its endpoint's first answer; stops it. */
async function restartOnce(bin: string, source: string, build: 'A' | 'B'): Promise<RestartRun> {
  const dir = mkdtempSync(join(tmpdir(), 'coraft-restart-'));
  cpSync(source, dir, { recursive: true });
  const reports = new StartupReports();
  const endpoint = await endpointOf(dir);
  const client = new EndpointClient(endpointTarget(endpoint, 250));
  const spawned = performance.now();
  const child = spawn(process.execPath, [bin, 'agent', '--config', join(dir, 'agent.json')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: unitEnvironment(process.env),
  });
  let output = '';
  const take = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    reports.add('x', text);
    if (output.length < 1 << 20) output += text;
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let answeredMs: number | null = null;
  let outstanding = 0;
  const probes: Promise<void>[] = [];
  while (answeredMs === null && performance.now() - spawned < ANSWER_BOUND_MS) {
    if (outstanding < 25) {
      outstanding += 1;
      probes.push(
        client.json('GET', '/status').then(
          () => {
            outstanding -= 1;
            answeredMs ??= performance.now() - spawned;
          },
          () => {
            outstanding -= 1;
          },
        ),
      );
    }
    await sleep(10);
  }
  await Promise.all(probes);
  // Wait for the ready line (it follows the endpoint's start by a few ms).
  for (let i = 0; i < 100 && reports.all().x === undefined; i += 1) await sleep(20);
  child.kill('SIGTERM');
  await exited;
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    build,
    answeredMs: answeredMs === null ? null : round(answeredMs, 0),
    startup: reports.all().x ?? null,
    log: logShape(output),
  };
}

const median = (values: readonly number[]): number | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? null) : round(((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2, 1);
};

function describeFolder(nodeDir: string): string {
  const data = join(nodeDir, 'data');
  const files = readdirSync(data).map((f) => `${f} ${round(statSync(join(data, f)).size / 2 ** 20, 1)} MiB`);
  return `data folder ${round(folderBytes(data).apparentBytes / 2 ** 20, 1)} MiB: ${files.join(', ')}`;
}

function line(run: RestartRun): string {
  const d = run.startup === null ? {} : phaseDurations(run.startup.ends);
  const phases = Object.entries(d)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const ready = `READY ${run.startup?.ends.ready ?? '-'}; cpu ${run.startup?.cpuMs ?? '-'}`;
  const log = run.log === null ? '' : `; log ${run.log.snapshotIndex}..${run.log.lastIndex}`;
  return `${run.build}: answered ${run.answeredMs} ms; ${ready}; ${phases}${log}`;
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const opt = (name: string): string | undefined => {
    const value = option(args, name, '');
    return value === '' ? undefined : value;
  };
  const a = opt('a');
  const runs = intOption(args, 'runs', 5, 1, 100);
  const from = opt('from');
  const keepOption = opt('keep');
  let source: string;
  let owned: string | null = null;
  if (from !== undefined) {
    source = resolve(from);
  } else {
    source = keepOption === undefined ? mkdtempSync(join(tmpdir(), 'coraft-restart-src-')) : resolve(keepOption);
    if (keepOption === undefined) owned = source;
    if (existsSync(join(source, 'agent.json'))) throw new Error(`${source} holds a node folder already; use --from`);
    const kill = opt('stop') === 'kill';
    await prepare(
      source,
      intOption(args, 'load-ms', 60_000, 0, 3_600_000),
      intOption(args, 'clients', 64, 1, 1024),
      intOption(args, 'value-bytes', 4096, 1, 1 << 20),
      kill,
    );
  }
  process.stdout.write(`${describeFolder(source)}\n`);
  const binA = a === undefined ? null : join(resolve(a), 'bin', 'coraft.js');
  const order: ('A' | 'B')[] = [];
  for (let i = 0; i < runs; i += 1) {
    const pair: ('A' | 'B')[] = binA === null ? ['B'] : i % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    order.push(...pair);
  }
  const binOf = (build: 'A' | 'B'): string => (build === 'A' && binA !== null ? binA : CORAFT_BIN);
  // One untimed start of each build writes its code cache.
  for (const build of binA === null ? (['B'] as const) : (['A', 'B'] as const))
    await restartOnce(binOf(build), source, build);
  const results: RestartRun[] = [];
  for (const build of order) {
    const r = await restartOnce(binOf(build), source, build);
    results.push(r);
    process.stdout.write(`${line(r)}\n`);
  }
  const summary: Record<string, unknown> = {};
  for (const build of ['A', 'B'] as const) {
    const mine = results.filter((r) => r.build === build);
    if (mine.length === 0) continue;
    const pick = (f: (r: RestartRun) => number | null | undefined): number | null =>
      median(mine.map(f).filter((v): v is number => typeof v === 'number'));
    const phases: Record<string, number | null> = {};
    for (const phase of STARTUP_PHASES)
      phases[phase] = pick((r) => (r.startup === null ? null : (phaseDurations(r.startup.ends)[phase] ?? null)));
    const s = {
      answeredMs: pick((r) => r.answeredMs),
      readyMs: pick((r) => r.startup?.ends.ready),
      cpuMs: pick((r) => r.startup?.cpuMs),
      phases,
    };
    summary[build] = s;
    process.stdout.write(`median ${build}: ${JSON.stringify(s)}\n`);
  }
  if (owned !== null) rmSync(owned, { recursive: true, force: true });
  return summary;
}
