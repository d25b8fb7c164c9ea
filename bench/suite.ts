/**
 * The bench suite: `npm run bench -- suite [--quick | --full] [--out DIR] [--no-micro] [--no-load]
 *                  [--only=NAME,...]` (--only: just these benchmark scripts, e.g. --only=vs-etcd).
 * Runs the benchmark scripts (each in a child process; vs-etcd among them, with its own plots of
 * coraft beside etcd) and an end-to-end load test against real
 * loopback clusters (bench/_load.ts): write throughput and latency percentiles over a sweep of
 * concurrent clients, value sizes, cluster sizes, transports and codecs, with each agent's CPU and
 * memory, and the failover time after a SIGKILL of the leader. Writes
 * bench/results/<timestamp>/results.json, one SVG plot per cluster configuration and report.md.
 *
 * Durations: --quick about 2 minutes, the default under about 10, --full (every combination of
 * 3/5 nodes, coaps/coap, cbor/json, 1-256 clients, 16 B-64 KiB) about 20.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureFailover, measureLoad, settle, withCluster } from './_load.js';
import type { ClusterConfig, FailoverFigures } from './_load.js';
import { runMicro } from './_micro.js';
import type { MicroResult } from './_micro.js';
import { headlines, machineInfo, renderReport, versions, writePlots } from './_report.js';
import type { LoadResult, SuiteResults } from './_report.js';
import { renderVsEtcdPlots, vsEtcdSection, vsPlotPoints } from './_vs-etcd-plot.js';

type Mode = 'quick' | 'default' | 'full';

/** One cluster and the (clients, value size) points measured on it. */
interface LoadPlan {
  readonly config: ClusterConfig;
  readonly points: readonly { readonly clients: number; readonly valueBytes: number }[];
}

interface Plan {
  /** The benchmark scripts, each with its own time limit when it needs more than microTimeoutMs. */
  readonly micro: readonly { readonly name: string; readonly args: readonly string[]; readonly timeoutMs?: number }[];
  readonly microTimeoutMs: number;
  readonly load: readonly LoadPlan[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly failoverTrials: number;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const CLIENTS = [1, 4, 16, 64, 256] as const;
const SIZES = [16, 256, 4096, 65_536] as const;

const grid = (clients: readonly number[], sizes: readonly number[]): LoadPlan['points'] =>
  sizes.flatMap((valueBytes) => clients.map((c) => ({ clients: c, valueBytes })));

/**
 * coraft beside etcd (bench/vs-etcd.ts): a few points in quick mode, 256 B and 4 KiB by default, the bench's whole
 * default grid in full.
 */
function vsEtcd(mode: Mode): Plan['micro'][number] {
  if (mode === 'quick')
    return {
      name: 'vs-etcd',
      args: ['--duration-ms=2000', '--warmup-ms=300', '--clients=1,16,64', '--values=256'],
      timeoutMs: 180_000,
    };
  if (mode === 'default')
    return {
      name: 'vs-etcd',
      args: ['--duration-ms=4000', '--warmup-ms=500', '--clients=1,16,64,256', '--values=256,4096'],
      timeoutMs: 600_000,
    };
  return { name: 'vs-etcd', args: [], timeoutMs: 1_800_000 };
}

function plan(mode: Mode): Plan {
  const quick = mode === 'quick';
  const micro = [
    { name: 'sim', args: quick ? ['--seeds', '1', '--duration-ms', '3000'] : ['--seeds', '3'] },
    { name: 'storage', args: ['--duration-ms', quick ? '200' : '1000'] },
    { name: 'codec', args: ['--duration-ms', quick ? '100' : '500'] },
    { name: 'transport', args: [`--duration-ms=${quick ? 300 : 2000}`] },
    { name: 'dtls', args: quick ? ['--quick'] : [] },
    { name: 'lincheck', args: ['--repeat', quick ? '1' : '2'] },
    { name: 'kv-apply', args: ['--count', quick ? '30000' : '200000'] },
    { name: 'cluster', args: quick ? ['--quick'] : [] },
    vsEtcd(mode),
  ];
  const base: ClusterConfig = { nodes: 3, transport: 'coaps', codec: 'cbor' };
  if (mode === 'full') {
    const load: LoadPlan[] = [];
    for (const nodes of [3, 5])
      for (const transport of ['coaps', 'coap'] as const)
        for (const codec of ['cbor', 'json'] as const)
          load.push({ config: { nodes, transport, codec }, points: grid(CLIENTS, SIZES) });
    return { micro, microTimeoutMs: 600_000, load, durationMs: 4_000, warmupMs: 1_000, failoverTrials: 5 };
  }
  if (quick) {
    return {
      micro,
      microTimeoutMs: 60_000,
      load: [
        { config: base, points: [...grid([1, 16, 64], [256]), { clients: 16, valueBytes: 4096 }] },
        { config: { nodes: 3, transport: 'coap', codec: 'json' }, points: grid([1, 16], [256]) },
      ],
      durationMs: 2_000,
      warmupMs: 500,
      failoverTrials: 1,
    };
  }
  return {
    micro,
    microTimeoutMs: 240_000,
    load: [
      { config: base, points: [...grid(CLIENTS, [256]), ...grid([1, 16, 64], [16, 4096, 65_536])] },
      { config: { nodes: 5, transport: 'coaps', codec: 'cbor' }, points: grid([1, 16, 64], [256]) },
      { config: { nodes: 3, transport: 'coap', codec: 'cbor' }, points: grid([1, 16, 64], [256]) },
      { config: { nodes: 3, transport: 'coaps', codec: 'json' }, points: grid([1, 16, 64], [256]) },
    ],
    durationMs: 4_000,
    warmupMs: 1_000,
    failoverTrials: 3,
  };
}

/** Writes the vs-etcd plots into `dir` when that bench ran; returns its report section (empty otherwise). */
function vsEtcdReport(dir: string, micro: readonly MicroResult[]): string[] {
  const result = micro.find((m) => m.name === 'vs-etcd');
  const points = result?.ok === true ? vsPlotPoints(result.figures) : [];
  if (points.length === 0) return [];
  const svg = renderVsEtcdPlots(points);
  const files = { throughput: 'vs-etcd-throughput.svg', p99: 'vs-etcd-p99.svg' };
  writeFileSync(join(dir, files.throughput), svg.throughput);
  writeFileSync(join(dir, files.p99), svg.p99);
  return vsEtcdSection(points, files);
}

function timestamp(): string {
  return new Date()
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z');
}

async function runLoad(
  p: Plan,
  log: (line: string) => void,
): Promise<{ load: LoadResult[]; failover: FailoverFigures | null }> {
  const load: LoadResult[] = [];
  let failover: FailoverFigures | null = null;
  for (const [i, item] of p.load.entries()) {
    const c = item.config;
    log(`load: ${c.nodes} nodes, ${c.transport}, ${c.codec}`);
    const points = await withCluster(c, async (cluster) => {
      if (i === 0 && p.failoverTrials > 0) {
        failover = await measureFailover(cluster, p.failoverTrials);
        log(
          `  failover (no load): writes again after ${failover.writeGapMs.join(', ')} ms; new leader ` +
            `after ${failover.newLeaderMs.join(', ')} ms`,
        );
      }
      const out = [];
      for (const point of item.points) {
        await settle(cluster, 30_000);
        const figures = await measureLoad(cluster, point.clients, point.valueBytes, p.durationMs, p.warmupMs);
        log(
          `  ${point.clients} clients, ${point.valueBytes} B: ${figures.opsPerSecond} writes/s, ` +
            `p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, errors ${figures.errors}; ` +
            `CPU% ${figures.agents.map((a) => a.cpuPercent).join('/')}, RSS ` +
            `MiB ${figures.agents.map((a) => a.rssMiB).join('/')}`,
        );
        out.push(figures);
      }
      return out;
    });
    load.push({ config: c, points });
  }
  return { load, failover };
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const mode: Mode = args.includes('--quick') ? 'quick' : args.includes('--full') ? 'full' : 'default';
  const at = args.indexOf('--out');
  const startedAt = new Date().toISOString();
  const dir = at >= 0 && args[at + 1] !== undefined ? (args[at + 1] ?? '') : join(HERE, 'results', timestamp());
  mkdirSync(dir, { recursive: true });
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const p = plan(mode);
  const notes: string[] = [];
  const micro: MicroResult[] = [];
  if (!args.includes('--no-micro')) {
    const only =
      args
        .find((a) => a.startsWith('--only='))
        ?.slice('--only='.length)
        .split(',') ?? null;
    for (const m of p.micro.filter((x) => only === null || only.includes(x.name))) {
      if (!existsSync(join(HERE, `${m.name}.ts`))) {
        notes.push(`bench/${m.name}.ts does not exist in this build: skipped`);
        log(`${m.name}: skipped (bench/${m.name}.ts does not exist)`);
        continue;
      }
      log(`${m.name} ${m.args.join(' ')}`);
      const result = await runMicro(m.name, m.args, m.timeoutMs ?? p.microTimeoutMs, log);
      if (!result.ok) log(`  ${m.name} FAILED: ${result.error}`);
      micro.push(result);
    }
  }
  const { load, failover } = args.includes('--no-load') ? { load: [], failover: null } : await runLoad(p, log);
  const settings = {
    mode,
    loadDurationMsPerPoint: p.durationMs,
    loadWarmupMsPerPoint: p.warmupMs,
    loadWorkload:
      'closed-loop PUT /kv/bench-<client>-<0..63>, one CoAP client per simulated client, clients spread ' +
      'round-robin over the nodes (followers forward to the leader)',
    storage: 'lmdb (agent defaults: one synced batch per Ready)',
    raft: 'agent defaults (election 150-300 ms, heartbeat 50 ms, tick 10 ms)',
    configurations: p.load.map((l) => ({
      ...l.config,
      points: l.points.map((x) => `${x.clients}c/${x.valueBytes}B`).join(' '),
    })),
    failoverTrials: p.failoverTrials,
    failoverMethod:
      'on the first configuration before its sweep, without load: SIGKILL the leader, then overlapping PUTs every ' +
      '20 ms to the others (2 s timeout each); write gap = kill to first acknowledged write; new leader = kill ' +
      'to a majority agreeing on another leader',
    betweenPoints: 'waits until every node applied the same index and it held still for 300 ms (at most 30 s)',
    benchmarkScripts: p.micro.map((m) => `${m.name} ${m.args.join(' ')}`.trim()),
    benchmarkScriptTimeoutMs: p.microTimeoutMs,
  };
  const results: SuiteResults = {
    startedAt,
    mode,
    machine: machineInfo(),
    versions: versions(),
    settings,
    micro,
    load,
    failover,
    notes,
  };
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const plots = writePlots(dir, load);
  writeFileSync(join(dir, 'report.md'), renderReport(results, plots, vsEtcdReport(dir, micro)));
  log(`\nresults: ${join(dir, 'results.json')}\nreport: ${join(dir, 'report.md')}`);
  for (const line of headlines(results)) log(`  ${line}`);
  return { dir, mode, headlines: headlines(results), microFailed: micro.filter((m) => !m.ok).map((m) => m.name) };
}
