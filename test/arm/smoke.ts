/**
 * The 3-agent smoke test of `npm run test:arm`, run by the ARM node under qemu-user (test/arm/run.ts):
 * `cluster init` of 3 loopback nodes (coaps peers, cbor, the default storage), the 3 agents
 * started at once, a leader that a majority agrees on, WRITES writes through the leader's
 * endpoint (from this process), then a `coraft kv put` and a linearizable `coraft kv get` (the
 * default: a ReadIndex round with the followers) through the leader, both real CLI processes.
 *
 * Figures, printed as a table on stderr and as one JSON line (SmokeFigures) on stdout: each
 * agent's start-up (spawn to its "agent ready" line, and the phases and CPU time that line
 * reports), first spawn to an agreed leader, and each agent's memory idle and after the writes.
 * The agents' processes are qemu emulating node, so their RSS includes qemu's own memory (its
 * translated-code cache above all); a bare node under the same qemu is measured as the floor.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { AgentProcesses, CORAFT_BIN } from '../../agent/cli/agent-processes.js';
import { EndpointClient, endpointTarget } from '../../agent/cli/endpoint-client.js';
import { StartupReports } from '../../bench/_startup-phases.js';
import { runProcess } from '../agent/integration/helpers.js';
import type { Run } from '../agent/integration/helpers.js';
import { scaledMs } from '../timing.js';
import { memoryOf, smokeTable } from './footprint.js';
import type { AgentFigures, Memory, SmokeFigures } from './footprint.js';

/**
 * Raft timers sized for emulation: qemu-user runs node 10 to 40 times slower than the hardware it
 * stands for, and the defaults (election 150-300 ms, heartbeat 50 ms, RPC timeout 100 ms) would
 * have the agents time out on one another. Real ARM gateways run the defaults.
 */
const EMULATION_RAFT = {
  electionTimeoutMinMs: 10_000,
  electionTimeoutMaxMs: 20_000,
  heartbeatIntervalMs: 1_000,
  rpcTimeoutMs: 5_000,
};
/** How long the agents get to elect a leader, ms (scaled by CORAFT_TEST_TIME_FACTOR). */
const LEADER_TIMEOUT_MS = scaledMs(30_000);
/** Most characters of the agents' output kept for a failure report. */
const OUTPUT_KEPT = 8_000;
/** Longest one `coraft` command may take, ms (scaled: node's start-up alone takes seconds under qemu). */
const COMMAND_TIMEOUT_MS = scaledMs(15_000);
/** How long one endpoint request may wait for its answer, ms (scaled). */
const REQUEST_TIMEOUT_MS = scaledMs(1_500);
/**
 * How long one status probe of the leader wait may wait for its answer, ms: not scaled, since a
 * probe sent before the agent binds its endpoint is lost and holds the next probe back by this
 * much, which would round the start-up figure up to it (an emulated agent answers in well under
 * a second).
 */
const PROBE_TIMEOUT_MS = 2_000;
/** How long the agents idle after the election, and after the writes, before their memory is read, ms. */
const SETTLE_MS = 3_000;
/** Writes made through the leader's endpoint, one at a time, and the size of each value. */
const WRITES = 200;
const VALUE_BYTES = 256;

/** Runs `coraft kv ARGS` with a request timeout sized for this run. */
function kv(...args: string[]): Promise<Run> {
  return runProcess(
    process.execPath,
    [CORAFT_BIN, 'kv', ...args, '--timeout-ms', String(REQUEST_TIMEOUT_MS)],
    COMMAND_TIMEOUT_MS,
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The memory of a bare node (an idle timer) under the same emulation, once it has run for SETTLE_MS. */
async function bareNodeMemory(): Promise<Memory | null> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); console.log("up")'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', () => reject(new Error('the bare node exited')));
    });
    await sleep(SETTLE_MS);
    return memoryOf(child.pid);
  } finally {
    child.kill('SIGKILL');
  }
}

/** Makes WRITES writes of VALUE_BYTES through `endpoint`, one at a time; resolves with the time taken, ms. */
async function write(endpoint: string): Promise<number> {
  const client = new EndpointClient(endpointTarget(endpoint, REQUEST_TIMEOUT_MS));
  const started = performance.now();
  try {
    const payload = new Uint8Array(VALUE_BYTES).fill(0x61);
    for (let i = 0; i < WRITES; i += 1) {
      const response = await client.request({ method: 'PUT', path: ['kv', 'arm', 'smoke', String(i % 64)], payload });
      assert.ok(response.code >= 0x40 && response.code < 0x60, `write ${i}: answer code ${response.code}`);
    }
  } finally {
    await client.close();
  }
  return Math.round(performance.now() - started);
}

/** Starts the agents of `cluster` and waits for a leader; resolves with its id and the time taken. */
async function startAll(
  cluster: AgentProcesses,
  spawned: Map<string, number>,
): Promise<{ leader: string; leaderMs: number }> {
  const started = performance.now();
  for (const node of cluster.nodes) {
    spawned.set(node.id, performance.now());
    cluster.start(node.id);
  }
  const leader = await cluster.waitForLeader(LEADER_TIMEOUT_MS);
  return { leader, leaderMs: Math.round(performance.now() - started) };
}

async function main(): Promise<void> {
  let output = '';
  const reports = new StartupReports();
  const spawned = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const cluster = await AgentProcesses.create({
    nodes: 3,
    transport: 'coaps',
    codec: 'cbor',
    requestTimeoutMs: PROBE_TIMEOUT_MS,
    configOverrides: () => ({ raft: EMULATION_RAFT }),
    output: (id, chunk) => {
      output = `${output}[${id}] ${chunk}`.slice(-OUTPUT_KEPT);
      reports.add(id, chunk);
      if (!readyAt.has(id) && reports.all()[id] !== undefined) readyAt.set(id, performance.now());
    },
  });
  try {
    const bareNode = await bareNodeMemory();
    const { leader, leaderMs } = await startAll(cluster, spawned);
    process.stderr.write(`smoke: leader ${leader} known after ${leaderMs} ms\n`);
    await sleep(SETTLE_MS);
    const idle = new Map(cluster.agents().map((a) => [a.init.id, memoryOf(a.process?.pid)]));
    const at = cluster.nodes.find((n) => n.id === leader);
    assert.ok(at !== undefined);
    const writeMs = await write(at.endpoint);
    const put = await kv('put', 'arm/smoke', process.arch, '--endpoint', at.endpoint);
    assert.equal(put.code, 0, put.stderr);
    const get = await kv('get', 'arm/smoke', '--endpoint', at.endpoint);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, `${process.arch}\n`, 'the linearizable get reads what was put');
    await sleep(SETTLE_MS);
    const agents: Record<string, AgentFigures> = {};
    for (const a of cluster.agents()) {
      const id = a.init.id;
      const ready = readyAt.get(id);
      const spawnedAt = spawned.get(id);
      agents[id] = {
        spawnToReadyMs: ready === undefined || spawnedAt === undefined ? null : Math.round(ready - spawnedAt),
        startup: reports.all()[id] ?? null,
        idle: idle.get(id) ?? null,
        afterWrites: memoryOf(a.process?.pid),
      };
    }
    const figures: SmokeFigures = {
      arch: process.arch,
      node: process.version,
      leader,
      startupToLeaderMs: leaderMs,
      bareNode,
      writes: { count: WRITES, valueBytes: VALUE_BYTES, ms: writeMs },
      agents,
    };
    process.stderr.write(`${smokeTable(figures)}\n`);
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } catch (error) {
    process.stderr.write(`the agents' last output:\n${output}\n`);
    throw error;
  } finally {
    await cluster.close();
  }
}

main().then(
  () => (process.exitCode = 0),
  (error: unknown) => {
    process.stderr.write(
      `smoke test failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
