/**
 * `npm run bench -- witness [--json] [--writes=N] [--value-bytes=B] [--clients=C] [--no-witness]`: the
 * footprint of a witness beside a full member's, on one cluster of two full members and a
 * witness (`cluster init --nodes 2 --witnesses 1`: coaps, cbor, wal). It measures each agent
 * idle after start-up, then writes N values of B bytes through the leader with C concurrent
 * clients, waits until every agent (the witness too) has applied the last write and held still,
 * and measures again: resident memory (VmRSS, its peak VmHWM, and RssAnon: heap and buffers,
 * not LMDB's mapped pages) and the data folder (bytes allocated on disk, and apparent bytes).
 * The three agents run side by side, so the comparison is within one run; absolute figures
 * move with the machine's load. `--no-witness` runs three full members instead, for an A/B of
 * the write time (run both back to back).
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import type { AgentProcesses } from '../agent/cli/agent-processes.js';
import { AgentProcesses as Cluster } from '../agent/cli/agent-processes.js';
import { folderBytes, readProcess } from './_proc.js';

const MIB = 1024 * 1024;
const encoder = new TextEncoder();

interface AgentFigures {
  readonly role: 'leader' | 'member' | 'witness';
  readonly rssMiB: number;
  readonly rssPeakMiB: number;
  readonly rssAnonMiB: number;
  readonly diskAllocatedMiB: number;
  readonly diskApparentMiB: number;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function measure(cluster: AgentProcesses, leader: string): Record<string, AgentFigures> {
  const out: Record<string, AgentFigures> = {};
  for (const agent of cluster.agents()) {
    const pid = agent.process?.pid;
    const sample = pid === undefined ? null : readProcess(pid);
    const disk = folderBytes(join(agent.init.dir, 'data'));
    const role = agent.init.witness === true ? 'witness' : agent.init.id === leader ? 'leader' : 'member';
    out[agent.init.id] = {
      role,
      rssMiB: round((sample?.rssBytes ?? 0) / MIB),
      rssPeakMiB: round((sample?.rssPeakBytes ?? 0) / MIB),
      rssAnonMiB: round((sample?.rssAnonBytes ?? 0) / MIB),
      diskAllocatedMiB: round(disk.allocatedBytes / MIB),
      diskApparentMiB: round(disk.apparentBytes / MIB),
    };
  }
  return out;
}

/** Waits until every agent applied the same index and it held still for a second. */
async function settled(cluster: AgentProcesses): Promise<void> {
  let last = -1;
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    const applied = await Promise.all(
      cluster.agents().map(async (a) => (await cluster.status(a.init.id))?.lastApplied),
    );
    const first = applied[0] ?? -1;
    if (applied.every((a) => a === first) && first === last) return;
    last = applied.every((a) => a === first) ? (first ?? -1) : -1;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error('the agents did not settle within 120 s');
}

async function write(cluster: AgentProcesses, leader: string, writes: number, valueBytes: number, clients: number) {
  const value = encoder.encode('v'.repeat(valueBytes));
  let next = 0;
  const loop = async (): Promise<void> => {
    for (let i = next++; i < writes; i = next++) {
      const response = await cluster
        .agent(leader)
        .client.request({ method: 'PUT', path: ['kv', `key-${i % 1000}-${i}`], payload: value });
      if (response.code >= 0x80) throw new Error(`write ${i} refused: ${new TextDecoder().decode(response.payload)}`);
    }
  };
  await Promise.all(Array.from({ length: clients }, loop));
}

function print(title: string, figures: Record<string, AgentFigures>): void {
  process.stdout.write(`${title}\n  node  role     RSS MiB  peak MiB  RssAnon MiB  disk MiB (allocated / apparent)\n`);
  for (const [id, f] of Object.entries(figures)) {
    process.stdout.write(
      `  ${id.padEnd(5)} ${f.role.padEnd(8)} ${String(f.rssMiB).padStart(7)}  ${String(f.rssPeakMiB).padStart(8)}  ` +
        `${String(f.rssAnonMiB).padStart(11)}  ${f.diskAllocatedMiB} / ${f.diskApparentMiB}\n`,
    );
  }
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      writes: { type: 'string' },
      'value-bytes': { type: 'string' },
      clients: { type: 'string' },
      'no-witness': { type: 'boolean' },
    },
  });
  const writes = Number(values.writes ?? 5000);
  const valueBytes = Number(values['value-bytes'] ?? 1024);
  const clients = Number(values.clients ?? 16);
  const shape = values['no-witness'] === true ? { nodes: 3 } : { nodes: 2, witnesses: 1 };
  const cluster = await Cluster.create({ ...shape, storage: 'wal', requestTimeoutMs: 5000 });
  try {
    cluster.startAll();
    const leader = await cluster.waitForLeader(60_000);
    await settled(cluster);
    const idle = measure(cluster, leader);
    print('idle after start-up', idle);
    const started = Date.now();
    await write(cluster, leader, writes, valueBytes, clients);
    const seconds = (Date.now() - started) / 1000;
    await settled(cluster);
    const loaded = measure(cluster, leader);
    const rate = Math.round(writes / seconds);
    print(`after ${writes} writes of ${valueBytes} bytes (${clients} clients, ${round(seconds)} s, ${rate}/s)`, loaded);
    return { ...shape, writes, valueBytes, clients, writeSeconds: round(seconds), writesPerSecond: rate, idle, loaded };
  } finally {
    await cluster.close();
  }
}
