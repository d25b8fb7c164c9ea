/**
 * Backup bench: what `coraft backup` costs the node it asks, beside what a snapshot of the same
 * state costs it, back to back on one 3-agent cluster (coaps, WAL).
 *
 *   npm run bench -- backup [--json] [--keys=10000] [--value-bytes=2048]
 *
 * Loads the keys, then on one follower: a backup into a temporary file (the time, MiB/s, the
 * file size, and the peak of the follower's RssAnon above its level just before, sampled every
 * 20 ms, and the CLI process's peak RSS), then a signed snapshot (which encodes the whole image
 * in memory at once) with the same RssAnon measure. A backup streams a chunk at a time, so its
 * figure should stay well below the image size, and below the snapshot's. Needs `npm run build`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AgentProcesses, CORAFT_BIN } from '../agent/cli/agent-processes.js';
import { adminKeyFile } from '../agent/cli/cluster-init.js';
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';
import { readProcess } from './_proc.js';

const MIB = 1024 * 1024;

function option(args: readonly string[], name: string, fallback: number): number {
  const arg = args.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : Number(arg.slice(name.length + 3));
}

async function load(endpoint: string, keys: number, valueBytes: number): Promise<void> {
  const value = Buffer.alloc(valueBytes, 0x61);
  let next = 0;
  const worker = async (): Promise<void> => {
    const client = new EndpointClient(endpointTarget(endpoint, 10_000));
    try {
      for (let i = next++; i < keys; i = next++) {
        const request = { method: 'PUT', path: ['kv', `key-${String(i).padStart(8, '0')}`], payload: value } as const;
        // A leader change under load leaves a write's outcome unknown: the same put again is harmless.
        for (let attempt = 1; ; attempt += 1) {
          try {
            await client.call(request);
            break;
          } catch (error) {
            if (attempt >= 50) throw error;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      }
    } finally {
      await client.close();
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

/** Runs `coraft ARGS` while sampling `pid`'s RssAnon and the child's RSS; returns the peaks and the time. */
async function measured(pid: number, args: readonly string[]) {
  const base = readProcess(pid)?.rssAnonBytes ?? 0;
  let agentPeak = base;
  let cliPeak = 0;
  const started = performance.now();
  const child = spawn(process.execPath, [CORAFT_BIN, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const timer = setInterval(() => {
    agentPeak = Math.max(agentPeak, readProcess(pid)?.rssAnonBytes ?? 0);
    if (child.pid !== undefined) cliPeak = Math.max(cliPeak, readProcess(child.pid)?.rssBytes ?? 0);
  }, 20);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`coraft ${args[0] ?? ''} exited ${String(code)}`);
  return {
    ms: performance.now() - started,
    agentRssAnonAboveMiB: (agentPeak - base) / MIB,
    cliRssPeakMiB: cliPeak / MIB,
  };
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const keys = option(args, 'keys', 10_000);
  const valueBytes = option(args, 'value-bytes', 2048);
  const work = mkdtempSync(join(tmpdir(), 'coraft-bench-backup-'));
  const cluster = await AgentProcesses.create({ nodes: 3, storage: 'wal', transport: 'coaps' });
  try {
    for (const node of cluster.nodes) cluster.start(node.id);
    const leader = await cluster.waitForLeader(30_000);
    await load(cluster.agent(leader).init.endpoint, keys, valueBytes);
    const follower = cluster.nodes.find((n) => n.id !== leader) ?? cluster.nodes[0];
    const pid = follower === undefined ? undefined : cluster.agent(follower.id).process?.pid;
    if (follower === undefined || pid === undefined) throw new Error('no follower process');
    await new Promise((r) => setTimeout(r, 2000));
    const file = join(work, 'bench.backup');
    const common = ['--endpoint', follower.endpoint, '--admin-key', adminKeyFile(cluster.dir)];
    const backup = await measured(pid, ['backup', '--out', file, ...common, '--json']);
    const fileMiB = statSync(file).size / MIB;
    await new Promise((r) => setTimeout(r, 2000));
    const snapshot = await measured(pid, ['snapshot', ...common]);
    const figures = {
      keys,
      valueBytes,
      fileMiB: Number(fileMiB.toFixed(1)),
      backupSeconds: Number((backup.ms / 1000).toFixed(2)),
      backupMiBPerSecond: Number((fileMiB / (backup.ms / 1000)).toFixed(1)),
      backupAgentRssAnonAboveMiB: Number(backup.agentRssAnonAboveMiB.toFixed(1)),
      backupCliRssPeakMiB: Number(backup.cliRssPeakMiB.toFixed(1)),
      snapshotAgentRssAnonAboveMiB: Number(snapshot.agentRssAnonAboveMiB.toFixed(1)),
    };
    if (!args.includes('--json'))
      for (const [name, value] of Object.entries(figures)) process.stdout.write(`${name.padEnd(30)} ${value}\n`);
    return figures;
  } finally {
    await cluster.close();
    rmSync(work, { recursive: true, force: true });
  }
}
