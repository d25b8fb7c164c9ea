/**
 * The suite's end-to-end load test against a real loopback cluster (agent/cli/agent-processes):
 * closed-loop clients, each with its own CoAP client on the local endpoint of one node (spread
 * round-robin; followers forward to the leader), each putting values of a fixed size to its own
 * keys as fast as answers come. Measures throughput, latency percentiles and, from /proc, each
 * agent's CPU and resident memory over the measured window; and the failover time after a
 * SIGKILL of the leader.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { AgentProcesses } from '../agent/cli/agent-processes.js';
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';
import { endpointClosedLoop } from './_endpoint-loop.js';
import { percentile } from './_figures.js';

/** One cluster under test. */
export interface ClusterConfig {
  readonly nodes: number;
  readonly transport: 'coaps' | 'coap';
  readonly codec: 'cbor' | 'json';
}

/** One agent's use of the machine over a window. */
export interface AgentUsage {
  readonly id: string;
  /** CPU time over wall time, percent of one core. */
  readonly cpuPercent: number;
  readonly rssMiB: number;
}

/** One measured point. */
export interface LoadPoint {
  readonly clients: number;
  readonly valueBytes: number;
  readonly durationMs: number;
  readonly ops: number;
  readonly errors: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly agents: readonly AgentUsage[];
}

/** Failover after SIGKILL of the leader: until a write is acknowledged again, and until a new leader is agreed. */
export interface FailoverFigures {
  readonly trials: number;
  readonly writeGapMs: readonly number[];
  readonly newLeaderMs: readonly number[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let clockTicks = 0;
function ticksPerSecond(): number {
  if (clockTicks === 0) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU seconds used so far and resident MiB of process `pid`; null when /proc cannot tell. */
export function processUsage(pid: number): { cpuSeconds: number; rssMiB: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuSeconds, rssMiB: Number(rss?.[1] ?? 0) / 1024 };
  } catch {
    // The process is gone or /proc is not Linux's.
    return null;
  }
}

/** Starts a cluster, waits for a leader, runs `body`, and always stops the cluster. */
export async function withCluster<T>(config: ClusterConfig, body: (cluster: AgentProcesses) => Promise<T>): Promise<T> {
  const cluster = await AgentProcesses.create({
    nodes: config.nodes,
    transport: config.transport,
    codec: config.codec,
    storage: 'lmdb',
    requestTimeoutMs: 5_000,
  });
  try {
    cluster.startAll();
    await cluster.waitForLeader(60_000);
    return await body(cluster);
  } finally {
    await cluster.close();
  }
}

function usageOf(cluster: AgentProcesses): Map<string, { cpuSeconds: number; rssMiB: number }> {
  const out = new Map<string, { cpuSeconds: number; rssMiB: number }>();
  for (const agent of cluster.agents()) {
    const pid = agent.process?.pid;
    const usage = pid === undefined ? null : processUsage(pid);
    if (usage !== null) out.set(agent.init.id, usage);
  }
  return out;
}

/** Waits (at most `boundMs`) until every node has applied the same index and it holds still for 300 ms. */
export async function settle(cluster: AgentProcesses, boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  let last = -1;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(cluster.agents().map((a) => cluster.status(a.init.id)));
    const applied = statuses.map((s) => s?.lastApplied ?? -1);
    const first = applied[0] ?? -1;
    if (first >= 0 && applied.every((a) => a === first) && first === last) return;
    last = applied.every((a) => a === first) ? first : -1;
    await sleep(300);
  }
}

/** Runs `clients` closed-loop writers for `warmupMs` (not counted) then `durationMs`. */
export async function measureLoad(
  cluster: AgentProcesses,
  clients: number,
  valueBytes: number,
  durationMs: number,
  warmupMs: number,
): Promise<LoadPoint> {
  const agents = cluster.agents();
  const endpoints = Array.from(
    { length: clients },
    (_, i) => new EndpointClient(endpointTarget(agents[i % agents.length]?.init.endpoint, 10_000)),
  );
  let before = new Map<string, { cpuSeconds: number; rssMiB: number }>();
  let after = before;
  const shape = { keyPrefix: 'bench', payload: new Uint8Array(valueBytes).fill(0x61), warmupMs, durationMs };
  const { latencies, errors, elapsedMs } = await endpointClosedLoop(endpoints, shape, {
    start: () => (before = usageOf(cluster)),
    stop: () => (after = usageOf(cluster)),
  });
  for (const c of endpoints) await c.close();
  const sorted = latencies.sorted();
  const round = (v: number): number => Math.round(v * 100) / 100;
  const at = (p: number): number => round(sorted.length === 0 ? 0 : percentile(sorted, p));
  const usage: AgentUsage[] = [...after].map(([id, a]) => ({
    id,
    cpuPercent: round((100 * (a.cpuSeconds - (before.get(id)?.cpuSeconds ?? a.cpuSeconds))) / (elapsedMs / 1000)),
    rssMiB: round(a.rssMiB),
  }));
  return {
    clients,
    valueBytes,
    durationMs: Math.round(elapsedMs),
    ops: latencies.count,
    errors,
    opsPerSecond: round(latencies.count / (elapsedMs / 1000)),
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
    agents: usage,
  };
}

/**
 * Resolves with the time of the first write acknowledged by any of `agents`, probing every 20 ms with overlapping
 * writes.
 */
async function firstWrite(cluster: AgentProcesses, ids: readonly string[], boundMs: number): Promise<number | null> {
  const clients = ids.map((id) => new EndpointClient(endpointTarget(cluster.agent(id).init.endpoint, 2_000)));
  const started = performance.now();
  let first: number | null = null;
  const probes: Promise<void>[] = [];
  for (let i = 0; first === null && performance.now() - started < boundMs; i += 1) {
    const client = clients[i % clients.length];
    probes.push(
      (async () => {
        try {
          const response = await client?.request({
            method: 'PUT',
            path: ['kv', 'failover'],
            payload: new TextEncoder().encode(String(i)),
          });
          if (response !== undefined && response.code >= 0x40 && response.code < 0x60) first ??= performance.now();
        } catch {
          // Not yet.
        }
      })(),
    );
    await sleep(20);
  }
  await Promise.all(probes);
  for (const c of clients) await c.close();
  return first;
}

/** Kills the leader `trials` times and times the gap in service; restarts it after each trial. */
export async function measureFailover(cluster: AgentProcesses, trials: number): Promise<FailoverFigures> {
  const writeGapMs: number[] = [];
  const newLeaderMs: number[] = [];
  for (let t = 0; t < trials; t += 1) {
    const leader = await cluster.waitForLeader(30_000);
    const others = cluster
      .agents()
      .map((a) => a.init.id)
      .filter((id) => id !== leader);
    const killed = performance.now();
    await cluster.signal(leader, 'SIGKILL');
    const leaderWait = cluster.waitForLeader(30_000, leader).then(() => performance.now() - killed);
    const first = await firstWrite(cluster, others, 30_000);
    writeGapMs.push(first === null ? -1 : Math.round(first - killed));
    newLeaderMs.push(Math.round(await leaderWait));
    cluster.start(leader);
    await cluster.waitForLeader(30_000);
    await sleep(1_000);
  }
  return { trials, writeGapMs, newLeaderMs };
}
