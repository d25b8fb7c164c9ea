/**
 * `coraft demo` (what `npm start` runs): a real three-node cluster on loopback — three agent
 * processes with DTLS-PSK peer links and LMDB storage, made by `cluster init` in a temporary
 * folder — and a live status table while a client writes and reads through the nodes' local
 * endpoints. After a while the leader is stopped and a new one takes over; the old one comes
 * back. Ctrl-C stops everything; the agents also exit on their own if this process dies (they
 * watch its IPC channel), so nothing is left running.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initCluster } from './cluster-init.js';
import type { InitNode } from './cluster-init.js';
import { EndpointClient, endpointTarget } from './endpoint-client.js';
import { intOption, parseOptions } from './args.js';
import { table } from './client-commands.js';

const BIN = resolve(fileURLToPath(import.meta.url), '../../../../bin/coraft.js');

interface DemoNode {
  readonly init: InitNode;
  process: ChildProcess | null;
  readonly client: EndpointClient;
}

interface StatusView {
  readonly nodeId: string;
  readonly state: string;
  readonly term: number;
  readonly leaderId: string | null;
  readonly commitIndex: number;
  readonly lastApplied: number;
}

function parseStatus(value: unknown): StatusView | null {
  if (typeof value !== 'object' || value === null) return null;
  const get = (name: string): unknown => Reflect.get(value, name);
  const nodeId = get('nodeId');
  const state = get('state');
  const term = get('term');
  const leaderId = get('leaderId');
  const commitIndex = get('commitIndex');
  const lastApplied = get('lastApplied');
  if (typeof nodeId !== 'string' || typeof state !== 'string' || typeof term !== 'number' || typeof commitIndex !== 'number' || typeof lastApplied !== 'number') return null;
  return { nodeId, state, term, leaderId: typeof leaderId === 'string' ? leaderId : null, commitIndex, lastApplied };
}

function startAgent(node: DemoNode): void {
  const child = spawn(process.execPath, [BIN, 'agent', '--config', node.init.config], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  child.stderr?.resume();
  node.process = child;
  child.on('exit', () => {
    if (node.process === child) node.process = null;
  });
}

async function statusOf(node: DemoNode): Promise<StatusView | null> {
  if (node.process === null) return null;
  try {
    return parseStatus(await node.client.json('GET', '/status'));
  } catch {
    // A node that does not answer is shown as down.
    return null;
  }
}

export async function runDemoClusterCommand(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, { 'base-port': { type: 'string' }, 'duration-s': { type: 'string' }, help: { type: 'boolean' } });
  if (values.help === true) {
    process.stdout.write('usage: coraft demo [--base-port P] [--duration-s S]\n\nRuns three real agents on loopback (DTLS, LMDB) and shows them at work until Ctrl-C.\n');
    return 0;
  }
  const basePort = intOption(values['base-port'], 'base-port', 5700, 1024, 65000);
  const durationS = intOption(values['duration-s'], 'duration-s', 0, 0, 86_400);
  const dir = mkdtempSync(join(tmpdir(), 'coraft-demo-'));
  const nodes: DemoNode[] = initCluster({ dir, nodes: 3, basePort, transport: 'coaps', storage: 'lmdb', force: true }).map((init) => ({
    init,
    process: null,
    client: new EndpointClient(endpointTarget(init.endpoint, 1500)),
  }));
  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  say(`coraft demo: 3 agents on 127.0.0.1 ports ${basePort}-${basePort + 5}, coaps + cbor + lmdb, in ${dir}. Ctrl-C to stop.\n`);
  for (const node of nodes) startAgent(node);
  const started = Date.now();
  let writes = 0;
  let reads = 0;
  let phase: 'warmup' | 'killed' | 'restarted' = 'warmup';
  let victim: DemoNode | null = null;
  try {
    while (!stopping && (durationS === 0 || Date.now() - started < durationS * 1000)) {
      const statuses = await Promise.all(nodes.map(statusOf));
      const leader = statuses.find((s) => s?.state === 'leader') ?? null;
      const target = nodes[(writes + reads) % nodes.length];
      if (leader !== null && target !== undefined && target.process !== null) {
        const key = `demo/${writes % 10}`;
        const value = `v${writes}`;
        const put = await target.client.request({ method: 'PUT', path: ['kv', ...key.split('/')], payload: new TextEncoder().encode(value) }).catch(() => null);
        if (put !== null && put.code < 0x80) writes += 1;
        const get = await target.client.request({ method: 'GET', path: ['kv', ...key.split('/')] }).catch(() => null);
        if (get !== null && get.code < 0x80 && new TextDecoder().decode(get.payload) === value) reads += 1;
      }
      const elapsed = Math.round((Date.now() - started) / 1000);
      if (phase === 'warmup' && elapsed >= 8 && leader !== null) {
        victim = nodes.find((n) => n.init.id === leader.nodeId) ?? null;
        victim?.process?.kill('SIGKILL');
        say(`\n*** t=${elapsed}s: killed the leader ${leader.nodeId} (SIGKILL); the others elect a new one ***\n`);
        phase = 'killed';
      } else if (phase === 'killed' && elapsed >= 16 && victim !== null) {
        startAgent(victim);
        say(`\n*** t=${elapsed}s: restarted ${victim.init.id}; it rejoins from its LMDB data ***\n`);
        phase = 'restarted';
      }
      const rows = nodes.map((node, i) => {
        const s = statuses[i] ?? null;
        return s === null ? [node.init.id, 'down', '-', '-', '-', '-'] : [s.nodeId, s.state, String(s.term), s.leaderId ?? '-', String(s.commitIndex), String(s.lastApplied)];
      });
      say(`t=${String(elapsed).padStart(3)}s  writes ok ${writes}, linearizable reads ok ${reads}`);
      say(table(['NODE', 'STATE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED'], rows));
      say('');
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    for (const node of nodes) node.process?.kill('SIGTERM');
    // A leader hands over before it exits; an agent that has not exited after 10 s is killed.
    const killer = setTimeout(() => {
      for (const node of nodes) node.process?.kill('SIGKILL');
    }, 10_000);
    await Promise.all(nodes.map((node) => new Promise<void>((r) => (node.process === null ? r() : node.process.once('exit', () => r())))));
    clearTimeout(killer);
    for (const node of nodes) await node.client.close();
    rmSync(dir, { recursive: true, force: true });
    say('demo stopped; every agent has exited and the temporary folder is removed.');
  }
  return 0;
}
