/**
 * Shared helpers of the agent integration tests: run the real `coraft` CLI and libcoap's
 * `coap-client-notls` as child processes and collect their exit code and output, poll for a
 * condition instead of sleeping, and start a loopback cluster of real agents.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { AgentProcesses, CORAFT_BIN } from '../../../agent/cli/agent-processes.js';
import type { AgentProcessesOptions } from '../../../agent/cli/agent-processes.js';

/** What a finished child process left behind. */
export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command args` to completion (killed after `timeoutMs`) and collects its output. */
export function runProcess(command: string, args: readonly string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `coraft ARGS` (the built CLI in dist/). */
export function coraft(...args: string[]): Promise<Run> {
  return runProcess(process.execPath, [CORAFT_BIN, ...args]);
}

/**
 * Runs libcoap's `coap-client-notls ARGS` and returns stdout and stderr together: it exits 0
 * even on a 4.xx/5.xx answer and prints the code with the diagnostic, so tests assert on text.
 */
export async function coapClient(...args: string[]): Promise<string> {
  const run = await runProcess('coap-client-notls', ['-B', '20', ...args]);
  return `${run.stdout}${run.stderr}`.trim();
}

/** A long-running child (coap-client observing) whose output grows while the test runs. */
export interface Watcher {
  readonly child: ChildProcess;
  output(): string;
  stop(): void;
}

/** Starts `coap-client-notls ARGS` in the background and keeps what it prints. */
export function watchCoapClient(...args: string[]): Watcher {
  const child = spawn('coap-client-notls', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return {
    child,
    output: () => text,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}

/** Polls `probe` every `everyMs` until it returns a value other than null/false; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | false> | T | null | false,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}` +
          (last === null ? '' : ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})`),
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Makes a cluster with `cluster init`, starts the first `startCount` agents and waits for a leader. */
export async function startCluster(
  options: AgentProcessesOptions & { readonly startCount?: number },
): Promise<{ cluster: AgentProcesses; leader: string }> {
  // CORAFT_TEST_LOG=1 shows what the agents print (for debugging a failing case).
  const output =
    process.env.CORAFT_TEST_LOG === '1'
      ? (id: string, chunk: string): void => void process.stderr.write(`[${id}] ${chunk}`)
      : 'ignore';
  const cluster = await AgentProcesses.create({
    transport: 'coaps',
    storage: 'lmdb',
    codec: 'cbor',
    output,
    ...options,
  });
  try {
    const count = options.startCount ?? cluster.nodes.length;
    for (const node of cluster.nodes.slice(0, count)) cluster.start(node.id);
    const leader = await cluster.waitForLeader(30_000);
    return { cluster, leader };
  } catch (error) {
    await cluster.close();
    throw error;
  }
}

/** The endpoint (host:port) of agent `id`. */
export function endpointOf(cluster: AgentProcesses, id: string): string {
  return cluster.agent(id).init.endpoint;
}
