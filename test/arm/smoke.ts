/**
 * The 3-agent smoke test of `npm run test:arm`, run by the ARM node under qemu-user (test/arm/run.ts):
 * `coraft cluster init` of 3 loopback nodes (coaps peers, cbor, the default storage), the 3 agents
 * started at once, a leader that a majority agrees on, a `coraft kv put` and a linearizable
 * `coraft kv get` (the default: a ReadIndex round with the followers) through the leader. Prints
 * one JSON line of figures: start-up (spawn to an agreed leader) and each agent's VmRSS once the leader is known; the
 * agents' processes are qemu emulating node, so their RSS includes qemu's translated-code cache.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { AgentProcesses, CORAFT_BIN } from '../../agent/cli/agent-processes.js';
import { runProcess } from '../agent/integration/helpers.js';
import type { Run } from '../agent/integration/helpers.js';

/**
 * Raft timers sized for emulation: qemu-user runs node 10 to 30 times slower than the hardware it
 * stands for, and the defaults (election 150-300 ms, heartbeat 50 ms, RPC timeout 100 ms) would
 * have the agents time out on one another. Real ARM gateways run the defaults.
 */
const EMULATION_RAFT = {
  electionTimeoutMinMs: 10_000,
  electionTimeoutMaxMs: 20_000,
  heartbeatIntervalMs: 1_000,
  rpcTimeoutMs: 5_000,
};
/** How long the agents get to elect a leader under emulation, ms. */
const LEADER_TIMEOUT_MS = 600_000;
/** Most characters of the agents' output kept for a failure report. */
const OUTPUT_KEPT = 8_000;
/** Longest one `coraft` command may take under emulation (node's start-up alone takes seconds), ms. */
const COMMAND_TIMEOUT_MS = 300_000;
/** How long the agents idle after the election before their RSS is read, ms. */
const SETTLE_MS = 3_000;

/** Runs `coraft kv ARGS` with a request timeout sized for emulation. */
function kv(...args: string[]): Promise<Run> {
  return runProcess(process.execPath, [CORAFT_BIN, 'kv', ...args, '--timeout-ms', '30000'], COMMAND_TIMEOUT_MS);
}

function rssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  const match = /^VmRSS:\s+(\d+) kB$/mu.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match?.[1] === undefined ? null : Number(match[1]) * 1024;
}

async function main(): Promise<void> {
  let output = '';
  const cluster = await AgentProcesses.create({
    nodes: 3,
    transport: 'coaps',
    codec: 'cbor',
    requestTimeoutMs: 10_000,
    configOverrides: () => ({ raft: EMULATION_RAFT }),
    output: (id, chunk) => void (output = `${output}[${id}] ${chunk}`.slice(-OUTPUT_KEPT)),
  });
  try {
    const started = performance.now();
    for (const node of cluster.nodes) cluster.start(node.id);
    const leader = await cluster.waitForLeader(LEADER_TIMEOUT_MS);
    const leaderMs = Math.round(performance.now() - started);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    process.stderr.write(`smoke: leader ${leader} known after ${leaderMs} ms\n`);
    const rss = Object.fromEntries(cluster.agents().map((a) => [a.init.id, rssBytes(a.process?.pid)]));
    const at = cluster.nodes.find((n) => n.id === leader);
    assert.ok(at !== undefined);
    const put = await kv('put', 'arm/smoke', process.arch, '--endpoint', at.endpoint);
    assert.equal(put.code, 0, put.stderr);
    const get = await kv('get', 'arm/smoke', '--endpoint', at.endpoint);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, `${process.arch}\n`, 'the linearizable get reads what was put');
    const figures = { arch: process.arch, node: process.version, leader, startupToLeaderMs: leaderMs, rssBytes: rss };
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
