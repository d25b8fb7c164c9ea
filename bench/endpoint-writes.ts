/**
 * Endpoint write bench: closed-loop PUTs through one agent's local CoAP endpoint, comparing in
 * one run, back to back on the same cluster, the two ways the client can send a value: whole in
 * one datagram (the endpoint client's default on loopback) and in 1 KiB Block1 blocks (the way
 * every value over 1 KiB went before, and the way libcoap's coap-client sends one).
 *
 *   npm run bench -- endpoint-writes [--json] [--nodes=1] [--duration-ms=4000] [--clients=1,16]
 *                                    [--sizes=256,4096] [--modes=whole,block1] [--cpu-prof-dir=DIR]
 *
 * For each size, client count and mode: writes/s, p50/p99 latency, and the CPU the agents used
 * per write (all agents together, ms of CPU per write, from /proc). A one-node cluster (the
 * default) makes the endpoint's share of the work the largest; --nodes=3 adds replication.
 */
import { performance } from 'node:perf_hooks';
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';
import { AgentProcesses } from '../agent/cli/agent-processes.js';
import { processUsage } from './_load.js';

type Mode = 'whole' | 'block1';

interface Point {
  readonly mode: Mode;
  readonly valueBytes: number;
  readonly clients: number;
  readonly writes: number;
  readonly failures: number;
  readonly writesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU of all agents over the window, ms per committed write. */
  readonly agentCpuMsPerWrite: number;
}

function option(args: readonly string[], name: string, fallback: string): string {
  for (const arg of args) if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  return fallback;
}

function numbers(text: string, name: string): number[] {
  const values = text.split(',').map(Number);
  if (values.some((v) => !Number.isSafeInteger(v) || v < 1)) throw new Error(`--${name} expects positive integers`);
  return values;
}

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function cpuSeconds(cluster: AgentProcesses): number {
  let sum = 0;
  for (const agent of cluster.agents()) {
    const pid = agent.process?.pid;
    sum += pid === undefined ? 0 : (processUsage(pid)?.cpuSeconds ?? 0);
  }
  return sum;
}

async function leaderEndpoint(cluster: AgentProcesses): Promise<string | undefined> {
  const leader = await cluster.waitForLeader(30_000);
  return cluster.agent(leader).init.endpoint;
}

/** One closed-loop measurement: `clients` writers for warm-up then `durationMs`. */
async function measure(
  cluster: AgentProcesses,
  mode: Mode,
  valueBytes: number,
  clients: number,
  durationMs: number,
): Promise<Point> {
  const endpoint = await leaderEndpoint(cluster);
  const target = {
    ...endpointTarget(endpoint, 5_000),
    ...(mode === 'block1' ? { datagramBodyBytesMax: 1024 } : {}),
  };
  const writers = Array.from({ length: clients }, () => new EndpointClient(target));
  const value = new Uint8Array(valueBytes).fill(0x62);
  const latencies: number[] = [];
  let failures = 0;
  let measuring = false;
  let running = true;
  const loop = async (client: EndpointClient, i: number): Promise<void> => {
    for (let j = 0; running; j += 1) {
      const started = performance.now();
      const response = await client.request({ method: 'PUT', path: ['kv', `ew-${i}-${j % 64}`], payload: value });
      const ok = response.code >= 0x40 && response.code < 0x60;
      if (!measuring) continue;
      if (ok) latencies.push(performance.now() - started);
      else failures += 1;
    }
  };
  const loops = writers.map((w, i) => loop(w, i).catch(() => undefined));
  await sleep(Math.min(1_000, durationMs / 4));
  const cpuBefore = cpuSeconds(cluster);
  const started = performance.now();
  measuring = true;
  await sleep(durationMs);
  measuring = false;
  const elapsedMs = performance.now() - started;
  const cpu = cpuSeconds(cluster) - cpuBefore;
  running = false;
  await Promise.all(loops);
  for (const w of writers) await w.close();
  latencies.sort((a, b) => a - b);
  const at = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return {
    mode,
    valueBytes,
    clients,
    writes: latencies.length,
    failures,
    writesPerSecond: round(latencies.length / (elapsedMs / 1000), 1),
    p50Ms: round(at(0.5), 2),
    p99Ms: round(at(0.99), 2),
    agentCpuMsPerWrite: latencies.length === 0 ? 0 : round((1000 * cpu) / latencies.length),
  };
}

/** Runs the bench; see the module comment. */
export async function run(args: readonly string[]): Promise<unknown> {
  const nodes = numbers(option(args, 'nodes', '1'), 'nodes')[0] ?? 1;
  const durationMs = numbers(option(args, 'duration-ms', '4000'), 'duration-ms')[0] ?? 4000;
  const clientCounts = numbers(option(args, 'clients', '1,16'), 'clients');
  const sizes = numbers(option(args, 'sizes', '256,4096'), 'sizes');
  const modes = option(args, 'modes', 'whole,block1').split(',');
  if (modes.some((m) => m !== 'whole' && m !== 'block1')) throw new Error('--modes takes whole and block1');
  const profileDir = option(args, 'cpu-prof-dir', '');
  const cluster = await AgentProcesses.create({
    nodes,
    transport: 'coaps',
    codec: 'cbor',
    storage: 'lmdb',
    requestTimeoutMs: 5_000,
    ...(profileDir === '' ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
  });
  const points: Point[] = [];
  try {
    cluster.startAll();
    await cluster.waitForLeader(60_000);
    for (const size of sizes)
      for (const clients of clientCounts)
        for (const mode of modes) {
          // A 256-byte value fits one block: both modes send it the same way, so measure it once.
          if (mode === 'block1' && size <= 1024) continue;
          const point = await measure(cluster, mode === 'whole' ? 'whole' : 'block1', size, clients, durationMs);
          points.push(point);
          process.stderr.write(`${JSON.stringify(point)}\n`);
        }
  } finally {
    await cluster.close();
  }
  return { bench: 'endpoint-writes', nodes, durationMs, points };
}
