/**
 * Cluster bench: a real 3-agent loopback cluster (coaps peers, cbor, LMDB durable) driven
 * through the agents' local CoAP endpoints, as an application on the gateway would.
 *
 *   npm run bench -- cluster [--json] [--duration-ms=5000] [--clients=1,16,64]
 *                            [--target=spread|leader] [--failovers=3] [--cpu-prof-dir=DIR]
 *                            [--storage=lmdb|memory] [--transport=coaps|coap]   (for comparison)
 *
 * For each client count: committed writes per second and latency p50/p99 of PUTs of a 256-byte
 * value to varied keys, each client an EndpointClient bound to one agent (spread: round-robin
 * over all agents, so two thirds of the writes are forwarded; leader: all on the leader).
 * Then failover: the time from SIGKILL of the leader until a write (sent after the kill, to a
 * surviving agent) succeeds again, a few times, default raft timeouts. RSS (VmRSS) of each
 * agent idle and the highest seen under the heaviest load.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { AgentProcesses } from '../agent/cli/agent-processes.js';
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';

const VALUE_BYTES = 256;
const KEYS_PER_CLIENT = 100;
/** Most latencies kept per level. */
const SAMPLES_MAX = 1_000_000;

function option(args: readonly string[], name: string, fallback: string): string {
  for (const arg of args) if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  return fallback;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

/** VmRSS of a process in MB, or null. */
function rssMb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? null : round(Number(match[1]) / 1024, 1);
  } catch {
    return null;
  }
}

function rssAll(cluster: AgentProcesses): Record<string, number | null> {
  return Object.fromEntries(cluster.agents().map((a) => [a.init.id, rssMb(a.process?.pid)]));
}

/** One load level's figures. */
interface Level {
  readonly clients: number;
  readonly target: string;
  readonly writes: number;
  readonly failures: number;
  readonly writesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function level(
  cluster: AgentProcesses,
  clients: number,
  target: 'spread' | 'leader',
  leader: string,
  durationMs: number,
  onTick: () => void,
): Promise<Level> {
  const agents = cluster.agents();
  const endpoints = Array.from({ length: clients }, (_, i) =>
    target === 'leader' ? cluster.agent(leader).init.endpoint : (agents[i % agents.length]?.init.endpoint ?? ''),
  );
  const pool = endpoints.map((endpoint) => new EndpointClient(endpointTarget(endpoint, 5000)));
  const value = new Uint8Array(VALUE_BYTES).fill(0x61);
  const latencies = new Float64Array(SAMPLES_MAX);
  let writes = 0;
  let failures = 0;
  const started = performance.now();
  const endAt = started + durationMs;
  const ticker = setInterval(onTick, 500);
  await Promise.all(
    pool.map(async (client, c) => {
      for (let i = 0; performance.now() < endAt; i += 1) {
        const t0 = performance.now();
        try {
          const response = await client.request({
            method: 'PUT',
            path: ['kv', `bench-${c}-${i % KEYS_PER_CLIENT}`],
            payload: value,
          });
          if (response.code >= 0x80) throw new Error(`code ${response.code}`);
          if (writes < SAMPLES_MAX) latencies[writes] = performance.now() - t0;
          writes += 1;
        } catch {
          // Counted; the bench measures what succeeds.
          failures += 1;
        }
      }
    }),
  );
  clearInterval(ticker);
  const elapsedS = (performance.now() - started) / 1000;
  await Promise.all(pool.map((client) => client.close()));
  const sorted = latencies.slice(0, Math.min(writes, SAMPLES_MAX)).sort();
  return {
    clients,
    target,
    writes,
    failures,
    writesPerSecond: Math.round(writes / elapsedS),
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
  };
}

/** Kills the leader and measures until a write sent after the kill succeeds; restarts it. */
async function failover(cluster: AgentProcesses, leader: string): Promise<number> {
  const survivors = cluster.agents().filter((a) => a.init.id !== leader);
  const clients = survivors.map((a) => new EndpointClient(endpointTarget(a.init.endpoint, 300)));
  const value = new Uint8Array(VALUE_BYTES).fill(0x62);
  const killedAt = performance.now();
  const killed = cluster.signal(leader, 'SIGKILL');
  let recoveredAt = Infinity;
  await Promise.all(
    clients.map(async (client, c) => {
      for (let i = 0; recoveredAt === Infinity && performance.now() - killedAt < 20_000; i += 1) {
        const response = await client
          .request({ method: 'PUT', path: ['kv', `failover-${c}`], payload: value })
          .catch(() => null);
        if (response !== null && response.code < 0x80) recoveredAt = Math.min(recoveredAt, performance.now());
        else await new Promise((r) => setTimeout(r, 5));
      }
    }),
  );
  await killed;
  await Promise.all(clients.map((client) => client.close()));
  cluster.start(leader);
  // Wait for the restarted agent to follow the new leader before the next round.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && ((await cluster.status(leader))?.leaderId ?? null) === null)
    await new Promise((r) => setTimeout(r, 100));
  return round(recoveredAt - killedAt, 0);
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const durationMs = Number(option(args, 'duration-ms', '5000'));
  const counts = option(args, 'clients', '1,16,64').split(',').map(Number);
  const target = option(args, 'target', 'spread') === 'leader' ? 'leader' : 'spread';
  const rounds = Number(option(args, 'failovers', '3'));
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const profileDir = option(args, 'cpu-prof-dir', '');
  const storage = option(args, 'storage', 'lmdb');
  const transport = option(args, 'transport', 'coaps');
  const cluster = await AgentProcesses.create({
    nodes: 3,
    transport,
    codec: 'cbor',
    storage,
    ...(profileDir === '' ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
  });
  try {
    cluster.startAll();
    let leader = await cluster.waitForLeader(30_000);
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdle = rssAll(cluster);
    say(
      `cluster bench: 3 agents (${transport}, cbor, ${storage === 'lmdb' ? 'lmdb durable' : storage}), ` +
        `leader ${leader}; PUT ${VALUE_BYTES} B values, ${durationMs} ms per level, ` +
        `clients ${target === 'spread' ? 'spread over all agents' : 'on the leader'}`,
    );
    say(`RSS idle (MB): ${JSON.stringify(rssIdle)}`);
    const levels: Level[] = [];
    const rssLoad: Record<string, number> = {};
    for (const clients of counts) {
      const figures = await level(cluster, clients, target, leader, durationMs, () => {
        for (const [id, mb] of Object.entries(rssAll(cluster)))
          if (mb !== null) rssLoad[id] = Math.max(rssLoad[id] ?? 0, mb);
      });
      levels.push(figures);
      say(
        `${String(clients).padStart(3)} clients: ${figures.writesPerSecond} writes/s, p50 ${figures.p50Ms} ms, ` +
          `p99 ${figures.p99Ms} ms (${figures.writes} ok, ${figures.failures} failed)`,
      );
    }
    say(`RSS under load, highest (MB): ${JSON.stringify(rssLoad)}`);
    const failoversMs: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      leader = await cluster.waitForLeader(30_000);
      const ms = await failover(cluster, leader);
      failoversMs.push(ms);
      say(`failover ${i + 1}: killed ${leader} (SIGKILL), a write succeeded again after ${ms} ms`);
    }
    return { transport, storage, target, durationMs, levels, failoversMs, rssIdleMb: rssIdle, rssLoadMaxMb: rssLoad };
  } finally {
    await cluster.close();
  }
}
