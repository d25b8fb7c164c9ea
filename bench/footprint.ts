/**
 * coraft's footprint on a gateway, beside etcd's in the same run when /usr/bin/etcd is
 * installed (issue 17):
 *
 *   npm run bench -- footprint [--json] [--settle-ms=10000] [--idle-ms=30000] [--load-ms=30000]
 *                              [--after-load-ms=10000] [--clients=64] [--value-bytes=256]
 *                              [--no-load] [--no-install] [--cpu-prof-dir=DIR] [--heartbeat-ms=N]
 *
 * 1. Start-up: a fresh 3-agent coraft cluster (defaults: coaps, cbor, LMDB), then a fresh
 *    3-member etcd, each timed from spawn to each member's endpoint answering (the agent's own
 *    start-up) and to the first answer naming a leader (bench/_startup.ts). Each coraft agent's
 *    own account of its start-up (the phases from process start to READY, and its CPU time) is
 *    printed beside it (bench/_startup-phases.ts).
 * 2. Rest: after --settle-ms, each member's RSS (VmRSS, and its anonymous and file-backed parts,
 *    RssAnon and RssFile, and of RssFile the executable's own pages), the bytes it has written to
 *    the block layer since spawn (/proc/PID/io) and its data folder's size; then over --idle-ms,
 *    its CPU (% of one core, /proc/PID/stat) and the bytes it wrote while idle. With
 *    --cpu-prof-dir, each coraft agent writes a V8 CPU profile
 *    there when it exits (`npm run bench -- profile DIR` sums them).
 *    A short --settle-ms measures coraft while it still settles after start, not at rest. About
 *    8 s after start V8's memory reducer runs two full collections (4-70 ms each, --trace-gc;
 *    they shrink the heap that idle RSS counts); then, for minutes, V8 optimizes the heartbeat
 *    path's functions one by one (an idle agent runs it a few times a second; a leader had more
 *    than 100 optimized after 3 min, its optimizing compiler 17-22 % of the leader's CPU in perf
 *    over the first 2 min), and the optimized path costs less. One idle 3-agent cluster per run,
 *    % of a core, leader / followers (10 ms ticks of /proc, so +-0.05): 0.85 / 0.55-0.6 at 3-23 s
 *    after start, 0.65 / 0.35-0.45 at 60-80 s, 0.45 / 0.35 at 180-200 s, 0.35 / 0.3 at 300-320 s;
 *    with --no-memory-reducer 0.65 / 0.35-0.4 at 3-23 s; with --no-opt 0.9 / 0.55-0.65 at 3-23 s,
 *    0.65 / 0.4 at 60-80 s and 0.6 / 0.35 at 180-200 s. etcd, compiled ahead of time, has no such
 *    phase. --settle-ms=180000 measures the agent at rest.
 * 3. Load, one system after the other: --clients closed-loop writers of --value-bytes values on
 *    the leader for --load-ms: peak RssAnon (judged: the agent's own memory) and VmRSS (reported:
 *    it also counts LMDB's mapped file pages, which the kernel can drop), sampled every 250 ms, RssAnon
 *    --after-load-ms after the load stopped, and write amplification over the bytes of committed
 *    values: the bytes the data folder's block device wrote during the load (what reached the disk;
 *    the whole device, so other processes' writes count too: run it on a quiet machine), the
 *    bytes all members dirtied in the page cache (write_bytes, which a kernel with large
 *    page-cache folios inflates, see bench/_proc.ts), and for coraft the bytes its agents handed
 *    to write calls.
 *    Then one coraft follower is restarted on its data and
 *    timed to its endpoint answering.
 * 4. Install: the size of a production install of this checkout (bench/_install-size.ts).
 *
 * --heartbeat-ms runs the coraft agents with that heartbeat interval and an election timeout of
 * three to six of them (the agent's default ratio, agent/config/agent-config.ts), to measure what
 * the interval costs at rest; the default is the agent's own timing.
 *
 * Every figure is printed beside its goal from issue 17; the unit's MemoryHigh is read from
 * systemd/coraft.service.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cleanup, removeWhenGone } from './_cleanup.js';
import { LoadAccumulator, loadFigures, runSlice } from './_closed-loop.js';
import { CoraftSystem } from './_coraft.js';
import { ETCD_BIN, EtcdSystem, etcdInstalled } from './_etcd.js';
import { costsTables, profileClockUs, profileCosts } from './_cpu-profile.js';
import type { ProfileWindow } from './_cpu-profile.js';
import { intOption, option, round } from './_figures.js';
import { goalRows, goalsTable, parseMemorySetting } from './_footprint-report.js';
import type { Footprint, LoadFootprint, SystemFootprint } from './_footprint-report.js';
import { measureInstall } from './_install-size.js';
import type { InstallSize } from './_install-size.js';
import { deviceWrittenBytes, executableBytes, folderBytes, readProcess } from './_proc.js';
import type { ProcessSample } from './_proc.js';
import { measureStartup, probeStartup } from './_startup.js';
import { phasesTable } from './_startup-phases.js';
import type { AgentStartup } from './_startup-phases.js';
import type { StartupFigures } from './_startup.js';
import { sleep } from './_system.js';
import { unitEnvironment } from '../agent/fleet/memory-sizing.js';
import type { BenchSystem } from './_system.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REQUEST_TIMEOUT_MS = 10_000;
const STARTUP_BOUND_MS = 30_000;
/** How long an idle agent takes to settle after start (V8's memory reducer, then its optimizer; see the header), ms. */
const WARM_UP_MS = 180_000;

/** VmRSS of a bare node process after a second and a half of doing nothing. */
async function nodeBaselineRss(): Promise<number | null> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
    stdio: 'ignore',
    env: unitEnvironment(process.env),
  });
  await sleep(1_500);
  const rss = child.pid === undefined ? null : (readProcess(child.pid)?.rssBytes ?? null);
  child.kill('SIGKILL');
  return rss;
}

const byMember = <T>(
  system: BenchSystem,
  pick: (id: string, pid: number | null, dataDir: string) => T,
): Record<string, T> => Object.fromEntries(system.members().map((m) => [m.id, pick(m.id, m.pid, m.dataDir)]));

const readAll = (system: BenchSystem): Record<string, ProcessSample | null> =>
  byMember(system, (_id, pid) => (pid === null ? null : readProcess(pid)));

/** What rest looks like: RSS and writes at the end of start-up, then CPU and writes over the idle window. */
interface Rest {
  readonly idleRssBytes: Record<string, number | null>;
  readonly idleRssAnonBytes: Record<string, number | null>;
  readonly idleRssFileBytes: Record<string, number | null>;
  readonly idleRssExecutableBytes: Record<string, number | null>;
  readonly idleCpuPercent: Record<string, number | null>;
  readonly startupWriteBytes: Record<string, number | null>;
  readonly idleWriteBytes: Record<string, number | null>;
  readonly dataAfterStartupBytes: Record<string, number>;
}

/** Measures rest for every system at once (they idle side by side): start-up figures now, then over `idleMs`. */
async function measureRest(systems: readonly BenchSystem[], idleMs: number): Promise<Rest[]> {
  const before = systems.map(readAll);
  const executable = systems.map((s) => byMember(s, (_id, pid) => (pid === null ? null : executableBytes(pid))));
  const started = Date.now();
  const data = systems.map((s) => byMember(s, (_id, _pid, dir) => folderBytes(dir).allocatedBytes));
  await sleep(idleMs);
  const seconds = (Date.now() - started) / 1000;
  const after = systems.map(readAll);
  return systems.map((s, i) => {
    const b = before[i] ?? {};
    const a = after[i] ?? {};
    const delta = (id: string, pick: (p: ProcessSample) => number | null): number | null => {
      const x = b[id];
      const y = a[id];
      const vx = x === null || x === undefined ? null : pick(x);
      const vy = y === null || y === undefined ? null : pick(y);
      return vx === null || vy === null ? null : vy - vx;
    };
    return {
      idleRssBytes: byMember(s, (id) => b[id]?.rssBytes ?? null),
      idleRssAnonBytes: byMember(s, (id) => b[id]?.rssAnonBytes ?? null),
      idleRssFileBytes: byMember(s, (id) => b[id]?.rssFileBytes ?? null),
      idleRssExecutableBytes: executable[i] ?? {},
      startupWriteBytes: byMember(s, (id) => b[id]?.writeBytes ?? null),
      idleCpuPercent: byMember(s, (id) => {
        const cpu = delta(id, (p) => p.cpuSeconds);
        return cpu === null ? null : round((100 * cpu) / seconds, 2);
      }),
      idleWriteBytes: byMember(s, (id) => delta(id, (p) => p.writeBytes)),
      dataAfterStartupBytes: data[i] ?? {},
    };
  });
}

/** Loads `system` and measures its memory and write amplification, then its memory after `afterMs`. */
async function measureLoadFootprint(
  system: BenchSystem,
  clients: number,
  valueBytes: number,
  loadMs: number,
  afterMs: number,
): Promise<LoadFootprint> {
  const acc = new LoadAccumulator(clients, valueBytes);
  const dataDir = system.members()[0]?.dataDir ?? tmpdir();
  let deviceBefore: number | null = null;
  let deviceAfter: number | null = null;
  const window = {
    opened: (): void => {
      deviceBefore = deviceWrittenBytes(dataDir);
    },
    closed: (): void => {
      deviceAfter = deviceWrittenBytes(dataDir);
    },
  };
  await runSlice(system, acc, { durationMs: loadMs, warmupMs: 1_000, settleBoundMs: 30_000, window });
  const f = loadFigures(acc);
  await sleep(afterMs);
  const after = readAll(system);
  const sum = (pick: (m: (typeof f.members)[number]) => number | null): number | null =>
    f.members.some((m) => pick(m) === null) ? null : f.members.reduce((total, m) => total + (pick(m) ?? 0), 0);
  const written = sum((m) => m.writeBytes);
  const writeCalls = sum((m) => m.writeCallBytes);
  const committed = f.writes * valueBytes;
  const device = deviceBefore === null || deviceAfter === null ? null : Math.max(0, deviceAfter - deviceBefore);
  return {
    clients,
    valueBytes,
    durationMs: f.durationMs,
    writes: f.writes,
    writesPerSecond: f.writesPerSecond,
    rssPeakBytes: Object.fromEntries(f.members.map((m) => [m.id, m.rssPeakBytes])),
    rssAnonPeakBytes: Object.fromEntries(f.members.map((m) => [m.id, m.rssAnonPeakBytes])),
    rssAnonAfterBytes: byMember(system, (id) => after[id]?.rssAnonBytes ?? null),
    deviceWriteBytes: device,
    deviceWriteAmplification: device === null || committed === 0 ? null : round(device / committed, 2),
    writeBytes: written,
    writeAmplification: written === null || committed === 0 ? null : round(written / committed, 2),
    writeCallBytes: writeCalls,
    writeCallAmplification: writeCalls === null || committed === 0 ? null : round(writeCalls / committed, 2),
  };
}

/**
 * Restarts one coraft follower on its data and times it to its endpoint answering; with the
 * phases it reported. Null when there was no follower to restart.
 */
async function restartFollower(
  coraft: CoraftSystem,
): Promise<{ answeredMs: number | null; phases: Record<string, AgentStartup> } | null> {
  const leader = await coraft.leader(STARTUP_BOUND_MS);
  const follower = coraft.members().find((m) => m.id !== leader)?.id;
  if (follower === undefined) return null;
  const at = await coraft.restart(follower);
  const seen = await probeStartup(coraft, new Map([[follower, at]]), false, STARTUP_BOUND_MS);
  // The agent logs its report just after its endpoint opens: give the line a moment to arrive.
  for (let waited = 0; coraft.startupReports()[follower] === undefined && waited < 2_000; waited += 50) await sleep(50);
  const report = coraft.startupReports()[follower];
  return { answeredMs: seen.answeredMs[follower] ?? null, phases: report === undefined ? {} : { [follower]: report } };
}

/** measureInstall in a temporary folder that is removed even if this process is killed. */
async function installSize(): Promise<InstallSize> {
  const work = mkdtempSync(join(tmpdir(), 'coraft-bench-install-'));
  const watchdog = removeWhenGone(work);
  try {
    return await measureInstall(ROOT, work);
  } finally {
    await watchdog.close();
  }
}

function memoryHigh(): number | null {
  const unit = join(ROOT, 'systemd', 'coraft.service');
  return existsSync(unit) ? parseMemorySetting(readFileSync(unit, 'utf8'), 'MemoryHigh') : null;
}

function installLine(install: NonNullable<Footprint['install']>): string {
  const largest = install.largest.map((p) => `${p.name} ${round(p.bytes / 2 ** 20, 1)}`).join(', ');
  return (
    `\nlargest installed packages (MiB): ${largest}; tarball ${round(install.tarballBytes / 2 ** 20, 2)} MiB; ` +
    `prebuilds pruned ${round(install.prunedBytes / 2 ** 20, 1)} MiB`
  );
}

/** The --cpu-prof-dir option, resolved; undefined when not given. Refuses a folder that holds profiles already. */
function profileDirOption(args: readonly string[]): string | undefined {
  const given = option(args, 'cpu-prof-dir', '');
  if (given === '') return undefined;
  const dir = resolve(given);
  if (existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.cpuprofile')))
    throw new Error(`--cpu-prof-dir: ${dir} holds .cpuprofile files already; give an empty or new folder`);
  return dir;
}

/** What the coraft agents ran while idle, from their CPU profiles, per second of the idle window. */
function idleProfileText(dir: string, window: ProfileWindow, idleMs: number): string {
  const costs = profileCosts(dir, ROOT, 30, window);
  const perSecond = round(costs.busyMs / (idleMs / 1000), 2);
  return (
    `coraft's CPU profiles over the idle window (${costs.profiles} profiles, all agents together, ` +
    `${perSecond} ms busy per second):\n${costsTables(costs)}`
  );
}

/** The agents' Raft timing for --heartbeat-ms (0: the agent's defaults): election timeout 3 to 6 heartbeats. */
function heartbeatTiming(heartbeatMs: number): Readonly<Record<string, number>> {
  if (heartbeatMs === 0) return {};
  return {
    heartbeatIntervalMs: heartbeatMs,
    electionTimeoutMinMs: 3 * heartbeatMs,
    electionTimeoutMaxMs: 6 * heartbeatMs,
  };
}

/** What the run says before it settles; a note when the idle window starts before the agents settled. */
function settlingText(settleMs: number, idleMs: number): string {
  const text = `settling ${settleMs} ms, then ${idleMs} ms idle, side by side`;
  if (settleMs >= WARM_UP_MS) return text;
  const within = `${WARM_UP_MS / 1000} s`;
  return `${text}\nnote: coraft's idle CPU within ${within} of start is not yet the agent at rest (see the header)`;
}

/** Starts a fresh coraft cluster, then a fresh etcd one when installed, and times each start-up. */
async function startSystems(
  cleanup: Cleanup,
  withEtcd: boolean,
  cpuProfDir: string | undefined,
  raft: Readonly<Record<string, number>>,
  say: (line: string) => void,
): Promise<{
  coraft: CoraftSystem;
  etcd: EtcdSystem | null;
  startups: StartupFigures[];
  startupPhases: Readonly<Record<string, AgentStartup>>;
}> {
  const coraft = cleanup.addOwner(
    await CoraftSystem.create({
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      ...(cpuProfDir === undefined ? {} : { cpuProfDir }),
      raft,
    }),
  );
  const startups: StartupFigures[] = [await measureStartup(coraft, STARTUP_BOUND_MS)];
  say(`coraft start-up: ${JSON.stringify(startups[0])}`);
  const startupPhases = coraft.startupReports();
  say(`coraft start-up phases, as each agent reports them (3 agents started at once):\n${phasesTable(startupPhases)}`);
  const etcd = withEtcd ? cleanup.addOwner(await EtcdSystem.create(REQUEST_TIMEOUT_MS)) : null;
  if (etcd !== null) {
    startups.push(await measureStartup(etcd, STARTUP_BOUND_MS));
    say(`etcd start-up: ${JSON.stringify(startups[1])}`);
  }
  return { coraft, etcd, startups, startupPhases };
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const settleMs = intOption(args, 'settle-ms', 10_000, 0, 600_000);
  const idleMs = intOption(args, 'idle-ms', 30_000, 1_000, 3_600_000);
  const loadMs = intOption(args, 'load-ms', 30_000, 100, 3_600_000);
  const afterLoadMs = intOption(args, 'after-load-ms', 10_000, 0, 600_000);
  const clients = intOption(args, 'clients', 64, 1, 1024);
  const valueBytes = intOption(args, 'value-bytes', 256, 1, 1024 * 1024);
  const withLoad = !args.includes('--no-load');
  const cpuProfDir = profileDirOption(args);
  const raft = heartbeatTiming(intOption(args, 'heartbeat-ms', 0, 0, 10_000));
  const withEtcd = etcdInstalled();
  if (!withEtcd) say(`note: ${ETCD_BIN} is not installed: coraft measured alone`);
  const cleanup = new Cleanup();
  const uninstall = cleanup.onSignals(say);
  try {
    const nodeBaselineRssBytes = await nodeBaselineRss();
    const { coraft, etcd, startups, startupPhases } = await startSystems(cleanup, withEtcd, cpuProfDir, raft, say);
    const systems: BenchSystem[] = etcd === null ? [coraft] : [coraft, etcd];
    say(settlingText(settleMs, idleMs));
    await sleep(settleMs);
    const idleWindow = { fromUs: profileClockUs(), toUs: 0 };
    const rest = await measureRest(systems, idleMs);
    idleWindow.toUs = profileClockUs();
    const loads: (LoadFootprint | null)[] = [];
    for (const system of systems) {
      if (!withLoad) break;
      say(`${system.name}: ${clients} clients x ${valueBytes} B for ${loadMs} ms, then ${afterLoadMs} ms at rest`);
      loads.push(await measureLoadFootprint(system, clients, valueBytes, loadMs, afterLoadMs));
    }
    const restart = await restartFollower(coraft);
    const restartAnsweredMs = restart?.answeredMs ?? null;
    if (restart !== null) say(`restarted follower's start-up phases (on its data):\n${phasesTable(restart.phases)}`);
    await cleanup.run(say);
    if (cpuProfDir !== undefined) say(idleProfileText(cpuProfDir, idleWindow, idleMs));
    say('production install: npm pack, npm install --omit=dev --prefer-offline, prune-prebuilds (deploy/install.sh)');
    const install = args.includes('--no-install') ? null : await installSize();
    const footprint = (i: number, restart: number | null): SystemFootprint | null => {
      const r = rest[i];
      const s = startups[i];
      return r === undefined || s === undefined
        ? null
        : { startup: s, restartAnsweredMs: restart, ...r, load: loads[i] ?? null };
    };
    const coraftFootprint = footprint(0, restartAnsweredMs);
    if (coraftFootprint === null) throw new Error('coraft was not measured');
    const figures: Footprint = {
      coraft: coraftFootprint,
      etcd: footprint(1, null),
      install,
      nodeBaselineRssBytes,
      memoryHighBytes: memoryHigh(),
    };
    say('');
    say(goalsTable(goalRows(figures)));
    if (install !== null) say(installLine(install));
    return {
      etcdInstalled: withEtcd,
      settings: { settleMs, idleMs, loadMs, afterLoadMs, clients, valueBytes },
      ...figures,
      coraftStartupPhases: startupPhases,
      goals: goalRows(figures),
    };
  } finally {
    await cleanup.run(say);
    uninstall();
  }
}
