/**
 * Datagram sends per committed write: a real 3-agent loopback cluster (coaps, cbor, LMDB) under
 * closed-loop PUTs to the leader, with `strace -c` attached to every agent for a window; each
 * agent's sendto/sendmsg/sendmmsg calls are divided by the writes the leader applied meanwhile.
 * The leader's figure includes its answers to the clients (one each); a follower's are its
 * answers to the leader's appends and heartbeats. strace slows the agents, so the write rate
 * printed is not a throughput figure; the sends per write are what this measures.
 *
 *   npm run bench -- peer-sends [--json] [--clients=1,16,64] [--value-bytes=256] [--window-ms=3000]
 *
 * Needs strace (Debian's strace package) and ptrace rights over the agents (root, or
 * kernel.yama.ptrace_scope=0).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcesses } from '../agent/cli/agent-processes.js';
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';
import { intOption, option, parseIntList, round } from './_figures.js';
import { sendCalls, syscallCounts } from './_strace-count.js';

/** Keys each client cycles through. */
const KEYS_PER_CLIENT = 100;
/** Load before the window opens, ms. */
const WARM_UP_MS = 1500;

/** One load level's figures. */
interface Level {
  readonly clients: number;
  readonly committed: number;
  readonly windowMs: number;
  /** Sends per committed write, by agent ("n1 (leader)", ...), and all agents together. */
  readonly sendsPerWrite: Record<string, number>;
}

/** Closed-loop writers until `stop` is set; resolves when they have all stopped. */
function startLoad(endpoint: string, clients: number, valueBytes: number): { stop(): Promise<void> } {
  let stopping = false;
  const pool = Array.from({ length: clients }, () => new EndpointClient(endpointTarget(endpoint, 5000)));
  const value = new Uint8Array(valueBytes).fill(0x61);
  const running = Promise.all(
    pool.map(async (client, c) => {
      for (let i = 0; !stopping; i += 1) {
        const path = ['kv', `sends-${c}-${i % KEYS_PER_CLIENT}`];
        // A failed write only ends this round; the figures count applied entries.
        await client.request({ method: 'PUT', path, payload: value }).catch(() => null);
      }
    }),
  );
  return {
    stop: async () => {
      stopping = true;
      await running;
      await Promise.all(pool.map((client) => client.close()));
    },
  };
}

/** Traces every agent's send and receive calls for `windowMs`; returns each agent's summary text. */
async function traceAgents(cluster: AgentProcesses, dir: string, windowMs: number): Promise<Map<string, string>> {
  const traces = cluster.agents().map((agent) => {
    const file = join(dir, `${agent.init.id}.txt`);
    const args = ['-c', '-e', 'trace=sendto,sendmsg,sendmmsg,recvfrom,recvmsg', '-o', file];
    const child = spawn('strace', [...args, '-p', String(agent.process?.pid ?? 0)], { stdio: 'ignore' });
    return { id: agent.init.id, file, exited: new Promise((resolve) => child.on('exit', resolve)), child };
  });
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  for (const trace of traces) trace.child.kill('SIGINT');
  await Promise.all(traces.map((trace) => trace.exited));
  return new Map(traces.map((trace) => [trace.id, readFileSync(trace.file, 'utf8')]));
}

async function level(cluster: AgentProcesses, leader: string, clients: number, args: readonly string[]) {
  const valueBytes = intOption(args, 'value-bytes', 256, 1, 1024 * 1024);
  const windowMs = intOption(args, 'window-ms', 3000, 500, 600_000);
  const dir = mkdtempSync(join(tmpdir(), 'coraft-peer-sends-'));
  const load = startLoad(cluster.agent(leader).init.endpoint, clients, valueBytes);
  try {
    await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
    const applied0 = (await cluster.status(leader))?.lastApplied ?? 0;
    const summaries = await traceAgents(cluster, dir, windowMs);
    const committed = ((await cluster.status(leader))?.lastApplied ?? 0) - applied0;
    const sendsPerWrite: Record<string, number> = {};
    let total = 0;
    for (const [id, summary] of summaries) {
      const sends = sendCalls(syscallCounts(summary));
      total += sends;
      sendsPerWrite[id === leader ? `${id} (leader)` : id] = round(sends / Math.max(1, committed), 3);
    }
    sendsPerWrite['all'] = round(total / Math.max(1, committed), 3);
    return { clients, committed, windowMs, sendsPerWrite };
  } finally {
    await load.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  if (spawnSync('strace', ['-V']).error !== undefined)
    throw new Error('peer-sends needs strace (apt-get install strace)');
  const counts = parseIntList(option(args, 'clients', '1,16,64'), 'clients', 1, 1024);
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const cluster = await AgentProcesses.create({ nodes: 3, transport: 'coaps', codec: 'cbor', storage: 'lmdb' });
  try {
    cluster.startAll();
    const leader = await cluster.waitForLeader(30_000);
    say(`peer-sends: 3 agents (coaps, cbor, lmdb), leader ${leader}; sends per committed write, under strace`);
    const levels: Level[] = [];
    for (const clients of counts) {
      const figures = await level(cluster, leader, clients, args);
      levels.push(figures);
      say(
        `${String(clients).padStart(3)} clients: ${figures.committed} writes, ${JSON.stringify(figures.sendsPerWrite)}`,
      );
    }
    return { leader, valueBytes: intOption(args, 'value-bytes', 256, 1, 1024 * 1024), levels };
  } finally {
    await cluster.close();
  }
}
