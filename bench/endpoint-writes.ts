/**
 * Endpoint write bench: closed-loop PUTs through one agent's local CoAP endpoint, comparing in
 * one run, back to back on the same cluster, the ways the client can send a value: whole in
 * one datagram (the endpoint client's default on loopback, Q-Block1 above 60,000 bytes), in
 * 1 KiB Block1 blocks with a round trip each (the way libcoap's coap-client sends one), and in
 * 1 KiB Q-Block1 blocks, a round trip per set of 10 (RFC 9177; the default beyond one datagram).
 *
 *   npm run bench -- endpoint-writes [--json] [--nodes=1] [--duration-ms=4000] [--clients=1,16]
 *                                    [--sizes=256,4096] [--modes=whole,block1,qblock1] [--cpu-prof-dir=DIR]
 *                                    [--server=agent|bare]
 *
 * For each size, client count and mode: writes/s, p50/p99 latency, and the CPU the agents used
 * per write (all agents together, ms of CPU per write, from /proc). A one-node cluster (the
 * default) makes the endpoint's share of the work the largest; --nodes=3 adds replication.
 * --server=bare measures the CoAP exchange alone: an in-process CoapServer on loopback UDP that
 * answers every PUT at once, the CPU being this process's (client and server together).
 */
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';
import { AgentProcesses } from '../agent/cli/agent-processes.js';
import { processUsage } from './_load.js';
import { endpointClosedLoop } from './_endpoint-loop.js';
import { intOption, option, parseIntList, percentile } from './_figures.js';
import { CoapResponseCode, CoapServer } from '../transport/coap/index.js';
import { createRealTimers } from '../transport/timers.js';
import { openUdpEndpoint } from '../transport/udp.js';

type Mode = 'whole' | 'block1' | 'qblock1';

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

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

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

/** Closed-loop writers against `target` for `durationMs` after a warm-up; CPU from `cpuSeconds`. */
async function closedLoop(
  target: ReturnType<typeof endpointTarget>,
  shape: { readonly mode: Mode; readonly valueBytes: number; readonly clients: number; readonly durationMs: number },
  cpuSeconds: () => number,
): Promise<Point> {
  const writers = Array.from({ length: shape.clients }, () => new EndpointClient(target));
  let cpuBefore = 0;
  let cpu = 0;
  const loopShape = {
    keyPrefix: 'ew',
    payload: new Uint8Array(shape.valueBytes).fill(0x62),
    warmupMs: Math.min(1_000, shape.durationMs / 4),
    durationMs: shape.durationMs,
  };
  const { latencies, errors, elapsedMs } = await endpointClosedLoop(writers, loopShape, {
    start: () => (cpuBefore = cpuSeconds()),
    stop: () => (cpu = cpuSeconds() - cpuBefore),
  });
  for (const w of writers) await w.close();
  const sorted = latencies.sorted();
  const at = (p: number): number => (sorted.length === 0 ? 0 : percentile(sorted, p));
  return {
    mode: shape.mode,
    valueBytes: shape.valueBytes,
    clients: shape.clients,
    writes: latencies.count,
    failures: errors,
    writesPerSecond: round(latencies.count / (elapsedMs / 1000), 1),
    p50Ms: round(at(0.5), 2),
    p99Ms: round(at(0.99), 2),
    agentCpuMsPerWrite: latencies.count === 0 ? 0 : round((1000 * cpu) / latencies.count),
  };
}

/** Every point of the bench against `endpoint`, in the order of `plan`. */
async function runPlan(
  plan: ReturnType<typeof planOf>,
  endpoint: () => Promise<string | undefined>,
  cpuSeconds: () => number,
): Promise<Point[]> {
  const points: Point[] = [];
  for (const valueBytes of plan.sizes)
    for (const clients of plan.clientCounts)
      for (const mode of plan.modes) {
        // A value that fits one block goes the same way in every mode: measure it once.
        if (mode !== 'whole' && valueBytes <= 1024) continue;
        const base = endpointTarget(await endpoint(), 5_000);
        const target = mode === 'whole' ? base : { ...base, wholeBodyBytesMax: 1024, qblock1: mode === 'qblock1' };
        const point = await closedLoop(target, { mode, valueBytes, clients, durationMs: plan.durationMs }, cpuSeconds);
        points.push(point);
        process.stderr.write(`${JSON.stringify(point)}\n`);
      }
  return points;
}

function planOf(args: readonly string[]) {
  const modes = option(args, 'modes', 'whole,block1,qblock1').split(',');
  const checked = modes.map((m): Mode => {
    if (m === 'whole' || m === 'block1' || m === 'qblock1') return m;
    throw new Error('--modes takes whole, block1 and qblock1');
  });
  return {
    durationMs: intOption(args, 'duration-ms', 4000, 1, 3_600_000),
    clientCounts: parseIntList(option(args, 'clients', '1,16'), 'clients', 1, 4096),
    sizes: parseIntList(option(args, 'sizes', '256,4096'), 'sizes', 1, 1 << 20),
    modes: checked,
  };
}

/** The CoAP exchange alone: an in-process server that answers every PUT at once. */
async function runBare(plan: ReturnType<typeof planOf>): Promise<Point[]> {
  const server = new CoapServer(
    { openEndpoint: () => openUdpEndpoint({ address: '127.0.0.1', port: 0 }), timers: createRealTimers() },
    { bodyBytesMax: 1024 * 1024 },
  );
  server.addResource('/kv/*', { PUT: () => Promise.resolve({ code: CoapResponseCode.Changed }) });
  await server.start();
  try {
    const cpu = (): number => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    };
    return await runPlan(plan, () => Promise.resolve(`127.0.0.1:${server.localAddress().port}`), cpu);
  } finally {
    await server.stop();
  }
}

/** Runs the bench; see the module comment. */
export async function run(args: readonly string[]): Promise<unknown> {
  const plan = planOf(args);
  if (option(args, 'server', 'agent') === 'bare')
    return { bench: 'endpoint-writes', server: 'bare', points: await runBare(plan) };
  const nodes = intOption(args, 'nodes', 1, 1, 7);
  const profileDir = option(args, 'cpu-prof-dir', '');
  const cluster = await AgentProcesses.create({
    nodes,
    transport: 'coaps',
    codec: 'cbor',
    storage: 'lmdb',
    requestTimeoutMs: 5_000,
    ...(profileDir === '' ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
  });
  try {
    cluster.startAll();
    await cluster.waitForLeader(60_000);
    const points = await runPlan(
      plan,
      () => leaderEndpoint(cluster),
      () => cpuSeconds(cluster),
    );
    return { bench: 'endpoint-writes', server: 'agent', nodes, durationMs: plan.durationMs, points };
  } finally {
    await cluster.close();
  }
}
