/**
 * coraft beside etcd, in one run on one machine (issue 16):
 *
 *   npm run bench -- vs-etcd [--json] [--duration-ms=10000] [--clients=1,16,64,256]
 *                            [--values=256,4096,65536] [--slices=2] [--warmup-ms=1000] [--system-warmup-ms=30000]
 *                            [--cpu-prof-dir=DIR] [--coraft-raft=JSON] [--latency-probe-dir=DIR]
 *                            [--agent-log-dir=DIR]
 *
 * Starts a 3-agent coraft cluster with the agent's defaults (coaps, cbor, LMDB) and, when
 * /usr/bin/etcd is installed, a 3-member etcd 3.4 cluster with its defaults, both on loopback
 * in temporary folders (removed at the end, on an error and on Ctrl-C). For each load point
 * (clients x value size) both systems take turns: the point's time is cut into --slices slices
 * per system, run ABBA (coraft, etcd, etcd, coraft, ...), so that other load on the machine hits
 * both alike; each slice waits for its system to settle, finds the leader, warms up, then
 * measures closed-loop writes to the leader (coraft: CoAP PUT /kv/KEY through its local
 * endpoint; etcd: POST /v3/kv/put on its JSON gateway, HTTP/1.1 keep-alive, one connection
 * per client). Figures per system and point: writes/s, p50/p99/p99.9, CPU seconds per 1,000 writes
 * (all members and each one, /proc/PID/stat), peak RSS per member (VmRSS sampled every 250 ms;
 * VmHWM at the end) and its anonymous part (RssAnon: heap, buffers, malloc; not LMDB's or bbolt's
 * mapped file pages, which the kernel can drop), snapshot sends to followers, and the coraft/etcd ratios.
 *
 * Before the first point each system takes --system-warmup-ms of unmeasured load, spread over the
 * grid's shapes (bench/_closed-loop.ts, warmUp): the figures are of systems at their steady state, not
 * of a JIT runtime's first seconds (0 measures from start, as runs before this option did).
 *
 * The default grid leaves out 256 clients x 64 KiB (16 MiB in flight per system; on two
 * shared cores a slice of it mostly measures timeouts); name the clients or the values to run
 * every combination. --cpu-prof-dir writes a V8 CPU profile of each coraft agent when it stops
 * (the whole run: pass one --clients and --values to profile one load) and prints the top self
 * costs over them (bench/_cpu-profile.ts). --coraft-raft='{"snapshotThresholdBytes":2000000}'
 * writes RaftConfiguration fields into every coraft agent.json (the agent validates them), e.g.
 * to snapshot often enough within a short run to compare log-retention settings by their
 * snapshot sends, which the agents count in GET /status. --latency-probe-dir runs the agents with
 * CORAFT_LATENCY_PROBE=DIR (agent/observability/latency-probe.ts) and prints the breakdown of a
 * write's path over the run (bench/_latency-breakdown.ts; pass one --clients to read it).
 * --agent-log-dir appends each coraft agent's output (its JSON log lines) to DIR/ID.log, which the
 * run otherwise drops with the cluster's folder. ETCD_BIN=/nonexistent leaves etcd out (A/B runs of
 * coraft alone).
 */
import { execFileSync } from 'node:child_process';
import { describeError } from '../contracts/errors.js';
import { appendFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cleanup } from './_cleanup.js';
import { LoadAccumulator, loadFigures, runSlice, warmUp } from './_closed-loop.js';
import { CoraftSystem } from './_coraft.js';
import { costsTables, profileCosts } from './_cpu-profile.js';
import { ETCD_BIN, EtcdSystem, etcdInstalled } from './_etcd.js';
import { intOption, mib, option, parseIntList } from './_figures.js';
import { readProcess } from './_proc.js';
import type { BenchSystem, SnapshotTotals } from './_system.js';
import { latencyBreakdown } from './_latency-breakdown.js';
import { figuresTable, gridPoints, ratiosTable, sliceOrder, vsRatios } from './_vs-etcd-report.js';
import type { VsPoint } from './_vs-etcd-report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Functions and files named from the CPU profiles. */
const PROFILE_TOP = 25;
const DEFAULT_CLIENTS = '1,16,64,256';
const DEFAULT_VALUES = '256,4096,65536';
/** Timeout of one client write, ms, for both systems. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bound on waiting for a leader and for the members to agree before a slice, ms. */
const SETTLE_BOUND_MS = 30_000;

function etcdVersion(): string {
  try {
    return execFileSync(ETCD_BIN, ['--version'], { encoding: 'utf8' }).split('\n')[0]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** VmHWM of each member now: its peak resident set since it started. */
function peakRssMiB(system: BenchSystem): Record<string, number | null> {
  return Object.fromEntries(
    system.members().map((m) => [m.id, m.pid === null ? null : mib(readProcess(m.pid)?.rssPeakBytes ?? 0)]),
  );
}

interface Settings {
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Unmeasured load per system before the first point, ms. */
  readonly systemWarmupMs: number;
  readonly slices: number;
  readonly points: readonly { clients: number; valueBytes: number }[];
}

async function measurePoints(
  coraft: CoraftSystem,
  etcd: EtcdSystem | null,
  s: Settings,
  say: (line: string) => void,
): Promise<VsPoint[]> {
  const out: VsPoint[] = [];
  const sliceMs = Math.max(1, Math.round(s.durationMs / s.slices));
  for (const system of [coraft, etcd])
    if (system !== null) await warmUp(system, s.points, s.systemWarmupMs, SETTLE_BOUND_MS);
  for (const [i, point] of s.points.entries()) {
    const acc = {
      coraft: new LoadAccumulator(point.clients, point.valueBytes),
      etcd: new LoadAccumulator(point.clients, point.valueBytes),
    };
    for (let slice = 0; slice < s.slices; slice += 1) {
      for (const name of sliceOrder(i, slice)) {
        const system = name === 'coraft' ? coraft : etcd;
        if (system === null) continue;
        await runSlice(system, acc[name], {
          durationMs: sliceMs,
          warmupMs: s.warmupMs,
          settleBoundMs: SETTLE_BOUND_MS,
        });
      }
    }
    const c = loadFigures(acc.coraft);
    const e = etcd === null ? null : loadFigures(acc.etcd);
    const ratios = vsRatios(c, e);
    out.push({ clients: point.clients, valueBytes: point.valueBytes, coraft: c, etcd: e, ratios });
    const line = (name: string, f: typeof c): string =>
      `${name} ${f.writesPerSecond}/s p50 ${f.p50Ms} ms p99 ${f.p99Ms} ms p99.9 ${f.p999Ms} ms, ` +
      `CPU ${f.cpuSecondsPer1000Writes} s/1k, errors ${f.errors}`;
    say(
      `${point.clients} clients x ${point.valueBytes} ` +
        `B: ${line('coraft', c)}${e === null ? '' : `; ${line('etcd', e)}; ratio ${ratios.writesPerSecond}`}`,
    );
  }
  return out;
}

/** What a run does, in one line. */
function plan(s: Settings): string {
  return (
    `${s.points.length} load points, ${s.durationMs} ms per system each in ${s.slices} slice(s), ` +
    `${s.warmupMs} ms warm-up per slice, ${s.systemWarmupMs} ms of unmeasured load per system first`
  );
}

/** The settings of a run from its arguments, the grid points it leaves out, and the profile folder ('' for none). */
function parseSettings(args: readonly string[]): {
  readonly settings: Settings;
  readonly grid: ReturnType<typeof gridPoints>;
  readonly profDir: string;
  readonly coraftRaft: Readonly<Record<string, unknown>>;
} {
  const explicitGrid = option(args, 'clients', '') !== '' || option(args, 'values', '') !== '';
  const clients = parseIntList(option(args, 'clients', DEFAULT_CLIENTS), 'clients', 1, 1024);
  const values = parseIntList(option(args, 'values', DEFAULT_VALUES), 'values', 1, 1024 * 1024);
  const grid = gridPoints(clients, values, (c, v) => !explicitGrid && c >= 256 && v >= 65_536);
  const settings: Settings = {
    durationMs: intOption(args, 'duration-ms', 10_000, 100, 3_600_000),
    warmupMs: intOption(args, 'warmup-ms', 1_000, 0, 600_000),
    systemWarmupMs: intOption(args, 'system-warmup-ms', 30_000, 0, 3_600_000),
    slices: intOption(args, 'slices', 2, 1, 100),
    points: grid.run,
  };
  const profDir = option(args, 'cpu-prof-dir', '');
  if (profDir !== '' && existsSync(profDir) && readdirSync(profDir).some((f) => f.endsWith('.cpuprofile')))
    throw new Error(`--cpu-prof-dir: ${profDir} holds .cpuprofile files already; give an empty or new folder`);
  return { settings, grid, profDir, coraftRaft: raftOverrides(option(args, 'coraft-raft', '{}')) };
}

/** The --coraft-raft option: a JSON object of RaftConfiguration fields. */
function raftOverrides(text: string): Readonly<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`--coraft-raft: not JSON: ${describeError(error)}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('--coraft-raft: expected a JSON object of RaftConfiguration fields');
  return Object.fromEntries(Object.entries(value));
}

const SYSTEM_SETTINGS = {
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  coraft: 'agent defaults: coaps, cbor, lmdb',
  etcdFlags: 'defaults, --logger=zap, --quota-backend-bytes=8 GiB',
} as const;

function sayReport(
  say: (line: string) => void,
  points: Parameters<typeof figuresTable>[0],
  coraft: CoraftSystem,
  etcd: EtcdSystem | null,
  peakRss: Record<string, unknown>,
  coraftSnapshots: SnapshotTotals | null,
): void {
  say('');
  say(figuresTable(points));
  if (etcd !== null) {
    say('');
    say(ratiosTable(points));
  }
  say('');
  say(`peak RSS over the whole run (VmHWM, MiB): ${JSON.stringify(peakRss)}`);
  const etcdSource = etcd === null ? '' : `; etcd from ${etcd.snapshotSendsSource}`;
  say(`snapshot sends: coraft from ${coraft.snapshotSendsSource}${etcdSource}`);
  say(
    coraftSnapshots === null
      ? 'coraft snapshots over the run: unknown (an agent did not answer GET /status)'
      : `coraft snapshots over the run, all agents: ${coraftSnapshots.taken} taken, ` +
          `${coraftSnapshots.restored} restored from a leader; InstallSnapshot transfers ` +
          `${coraftSnapshots.sendsStarted} started, ${coraftSnapshots.sendsCompleted} completed, ` +
          `${coraftSnapshots.sendsFailed} failed`,
  );
  const clients = coraft.writerClientCounts();
  say(
    `coraft writers' CoAP clients over the run: ${clients.requests} requests, ${clients.retransmissions} ` +
      `messages sent again (a datagram lost, or an answer slower than the client's timeout), ` +
      `${clients.timeouts} timed out`,
  );
}

function runNotes(withEtcd: boolean, skipped: readonly string[]): string[] {
  const notes: string[] = [];
  if (!withEtcd) notes.push(`${ETCD_BIN} is not installed: coraft measured alone, no ratios`);
  if (skipped.length > 0)
    notes.push(
      `left out of the default grid (too heavy for a shared machine; name --clients/--values to run ` +
        `them): ${skipped.join(', ')}`,
    );
  return notes;
}

/**
 * Makes the profile folder (when given) and returns the --latency-probe-dir option ('' for none),
 * made and handed to the agents through the environment.
 */
function outputDirs(args: readonly string[], profDir: string): string {
  if (profDir !== '') mkdirSync(resolve(profDir), { recursive: true });
  const dir = option(args, 'latency-probe-dir', '');
  if (dir === '') return '';
  mkdirSync(resolve(dir), { recursive: true });
  // The agents inherit this process's environment (agent/cli/agent-processes.ts).
  process.env.CORAFT_LATENCY_PROBE = resolve(dir);
  return dir;
}

/** The --agent-log-dir option: CoraftOptions.onOutput appending each agent's output to DIR/ID.log (nothing for ''). */
function agentLogOutput(dir: string): { readonly onOutput?: (id: string, chunk: string) => void } {
  if (dir === '') return {};
  mkdirSync(resolve(dir), { recursive: true });
  return { onOutput: (id, chunk) => appendFileSync(join(resolve(dir), `${id}.log`), chunk) };
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const { settings, grid, profDir, coraftRaft } = parseSettings(args);
  const withEtcd = etcdInstalled();
  const probeDir = outputDirs(args, profDir);
  const notes = runNotes(withEtcd, grid.skipped);
  for (const n of notes) say(`note: ${n}`);
  const cleanup = new Cleanup();
  const uninstall = cleanup.onSignals(say);
  try {
    const coraft = cleanup.addOwner(
      await CoraftSystem.create({
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        raft: coraftRaft,
        ...(profDir === '' ? {} : { cpuProfDir: resolve(profDir) }),
        ...agentLogOutput(option(args, 'agent-log-dir', '')),
      }),
    );
    const etcd = withEtcd ? cleanup.addOwner(await EtcdSystem.create(REQUEST_TIMEOUT_MS)) : null;
    await coraft.start();
    await etcd?.start();
    const raftNote = Object.keys(coraftRaft).length > 0 ? `, raft ${JSON.stringify(coraftRaft)}` : '';
    say(
      `vs-etcd: coraft 3 agents (coaps, cbor, lmdb${raftNote}) ` +
        `in ${coraft.dir}${etcd === null ? '' : `; ${etcdVersion()} 3 members in ${etcd.dir}`}`,
    );
    const etcdLeader = etcd === null ? '' : `, etcd ${await etcd.leader(60_000)}`;
    const leaders = `coraft ${await coraft.leader(60_000)}${etcdLeader}`;
    say(`leaders: ${leaders}; ${plan(settings)}`);
    const points = await measurePoints(coraft, etcd, settings, say);
    const peakRss = { coraft: peakRssMiB(coraft), ...(etcd === null ? {} : { etcd: peakRssMiB(etcd) }) };
    // Read before the agents stop: the counters live in them.
    const coraftSnapshots = await coraft.snapshotTotals();
    sayReport(say, points, coraft, etcd, peakRss, coraftSnapshots);
    // The agents write their profiles as they stop.
    await cleanup.run(say);
    if (probeDir !== '') for (const line of latencyBreakdown(resolve(probeDir))) say(line);
    const costs = profDir === '' ? null : profileCosts(resolve(profDir), ROOT, PROFILE_TOP);
    if (costs !== null)
      say(
        `\nCPU profiles of the coraft agents in ${resolve(profDir)} (${costs.profiles}, the whole ` +
          `run):\n${costsTables(costs)}`,
      );
    return {
      etcd: withEtcd ? etcdVersion() : null,
      settings: {
        durationMs: settings.durationMs,
        warmupMs: settings.warmupMs,
        systemWarmupMs: settings.systemWarmupMs,
        slices: settings.slices,
        ...SYSTEM_SETTINGS,
        coraftRaft,
      },
      points,
      peakRssMiB: peakRss,
      coraftSnapshots,
      coraftWriterClients: coraft.writerClientCounts(),
      snapshotSendsSource: {
        coraft: coraft.snapshotSendsSource,
        etcd: withEtcd ? 'etcd_network_snapshot_send_success' : null,
      },
      skipped: grid.skipped,
      ...(costs === null ? {} : { cpuProfile: costs }),
      notes,
    };
  } finally {
    await cleanup.run(say);
    uninstall();
  }
}
