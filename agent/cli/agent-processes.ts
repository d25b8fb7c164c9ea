/**
 * A loopback cluster of real agent processes made by `cluster init`: start, stop, kill, pause
 * and resume each agent, and ask each one's local endpoint for its status. The demo, the
 * benchmarks, the integration tests and the chaos harness drive clusters through it.
 *
 * Agents are started with an IPC channel, so they stop on their own (leader hand-off included)
 * when the process that started them exits; nothing is left running.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initCluster } from './cluster-init.js';
import type { InitNode, InitOptions } from './cluster-init.js';
import { EndpointClient, EndpointError, JsonFields, endpointTarget } from './endpoint-client.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';
import { DtlsClientEndpoint } from '../../transport/dtls/index.js';
import { readKeyFile } from '../config/agent-config.js';
import { unitEnvironment } from '../fleet/memory-sizing.js';

/** The package's bin/coraft.js, found upward from this module (dist/agent/cli or agent/cli under tsx). */
function findCoraftBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth += 1) {
    const candidate = join(dir, 'bin', 'coraft.js');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return resolve(fileURLToPath(import.meta.url), '../../../../bin/coraft.js');
}

/** The CLI entry point the agents run (it runs the compiled dist/, so `npm run build` first). */
export const CORAFT_BIN = findCoraftBin();

/** What `GET /status` reports, as far as the cluster driver needs it. */
export interface StatusView {
  readonly nodeId: string;
  readonly state: string;
  readonly term: number;
  readonly leaderId: string | null;
  readonly commitIndex: number;
  readonly lastApplied: number;
}

/** Reads a status document; null when it is not one. */
export function parseStatus(value: unknown): StatusView | null {
  try {
    const s = JsonFields.of(value, 'the status');
    return {
      nodeId: s.string('nodeId'),
      state: s.string('state'),
      term: s.number('term'),
      leaderId: s.nullableString('leaderId'),
      commitIndex: s.number('commitIndex'),
      lastApplied: s.number('lastApplied'),
    };
  } catch (error) {
    if (error instanceof EndpointError) return null;
    throw error;
  }
}

/**
 * Opens a DTLS client with the node folder's key-value endpoint key (the `kv` identity) when
 * the node has endpoint keys (`cluster init` writes them for an endpoint beyond loopback);
 * null when it has none (plain CoAP on loopback).
 */
export function endpointKeyOpener(init: InitNode): (() => Promise<DatagramEndpoint>) | null {
  const file = join(init.dir, 'endpoint-kv.key');
  if (!existsSync(file)) return null;
  return () =>
    DtlsClientEndpoint.open({
      identity: 'kv',
      psk: readKeyFile(file, 'endpoint-kv.key'),
      bindAddress: init.endpoint.startsWith('[') ? '::' : '0.0.0.0',
    });
}

/** One agent of the cluster. */
export interface AgentProcess {
  readonly init: InitNode;
  /** The running process, or null while the agent is down. */
  readonly process: ChildProcess | null;
  readonly client: EndpointClient;
}

/** How the cluster is made and how its agents are run. */
export interface AgentProcessesOptions extends Partial<Omit<InitOptions, 'dir' | 'basePort' | 'force'>> {
  /** Folder for the cluster; default a fresh temporary one, removed by close(). */
  readonly dir?: string;
  /** First port; default a free range found by probing. */
  readonly basePort?: number;
  /** Extra arguments of every `coraft agent` (e.g. `--trace`), by node id. */
  readonly agentArgs?: (id: string) => readonly string[];
  /** Where an agent's stdout and stderr go: 'ignore' (default), 'inherit', or a callback per line chunk. */
  readonly output?: 'ignore' | 'inherit' | ((id: string, chunk: string) => void);
  /**
   * Extra Node.js flags of every agent process (e.g. `--cpu-prof`), on its command line: they
   * override the shipped unit's flags, which come in NODE_OPTIONS as under systemd (unitEnvironment). Default none.
   */
  readonly nodeArgs?: readonly string[];
  /** Timeout of one endpoint request, ms. Default 2000. */
  readonly requestTimeoutMs?: number;
  /** Extra environment variables of every agent, by node id (added to this process's). Default none. */
  readonly agentEnv?: (id: string) => Readonly<Record<string, string>>;
  /**
   * A command that runs the agent, by node id (e.g. `['ip', 'netns', 'exec', 'ns1']`); it must
   * exec the agent in place, so that signals reach it. Default none: node runs directly.
   */
  readonly wrapCommand?: (id: string) => readonly string[];
  /** The coraft.js that runs each agent (e.g. another build's, for A/B benches). Default {@link CORAFT_BIN}. */
  readonly coraftBin?: string;
  /** Opens the datagram endpoint of agent `id`'s endpoint client (e.g. DTLS with its endpoint key); default UDP. */
  readonly openEndpointClient?: (id: string) => Promise<DatagramEndpoint>;
}

interface Slot {
  readonly init: InitNode;
  process: ChildProcess | null;
  client: EndpointClient;
  exited: Promise<number | null>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const udp = createSocket('udp4');
    udp.once('error', () => done(false));
    udp.bind(port, '127.0.0.1', () => {
      const tcp = createServer();
      tcp.once('error', () => udp.close(() => done(false)));
      tcp.listen(port, '127.0.0.1', () => tcp.close(() => udp.close(() => done(true))));
    });
  });
}

/** The lowest port of any range probed for free ports. */
const PROBE_PORT_MIN = 10_000;
/** Above the highest port of any range probed for free ports. */
const PROBE_PORT_END = 65_000;

/**
 * The kernel's ephemeral port range (/proc/sys/net/ipv4/ip_local_port_range), where every
 * unbound socket (an agent's client sockets among them) gets its port; Linux's default when
 * it cannot be read.
 */
export function ephemeralPorts(
  read: () => string = () => readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'),
): readonly [number, number] {
  try {
    const [low, high] = read().trim().split(/\s+/u).map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high) && low <= high)
      return [low, high];
  } catch {
    // Not Linux, or no /proc: assume the default.
  }
  return [32_768, 60_999];
}

/**
 * A random first port for `count` ports outside the ephemeral range, in the larger of the gaps
 * below and above it: a port found free there cannot be taken meanwhile by some socket's
 * ephemeral bind (an agent's client sockets, say) before the agent that was given it binds it.
 */
export function portSearchStart(count: number, [low, high]: readonly [number, number], random = Math.random): number {
  const below = [PROBE_PORT_MIN, Math.min(low, PROBE_PORT_END)] as const;
  const above = [Math.max(high + 1, PROBE_PORT_MIN), PROBE_PORT_END] as const;
  const [start, end] = below[1] - below[0] >= above[1] - above[0] ? below : above;
  const span = Math.max(1, end - start - 4 * count);
  return start + Math.floor(random() * span);
}

/**
 * The ports `CORAFT_TEST_PORTS=LOW-HIGH` confines findFreePorts to (a machine where several
 * people run agents, each in a range of their own); null when unset or malformed.
 */
export function testPortRange(value = process.env['CORAFT_TEST_PORTS']): readonly [number, number] | null {
  const match = /^(\d+)-(\d+)$/u.exec(value ?? '');
  const [low, high] = [Number(match?.[1]), Number(match?.[2])];
  return match !== null && low >= 1024 && low < high && high < 65_536 ? [low, high] : null;
}

/** A random first port for `count` ports within `range` (testPortRange), else outside the ephemeral ports. */
function searchStart(count: number, range: readonly [number, number] | null): number {
  if (range === null) return portSearchStart(count, ephemeralPorts());
  return range[0] + Math.floor(Math.random() * Math.max(1, range[1] - range[0] - 4 * count));
}

/** Finds `count` consecutive ports free for both UDP and TCP on 127.0.0.1, starting near `from`. */
export async function findFreePorts(count: number, from?: number): Promise<number> {
  const range = testPortRange();
  const end = range === null ? PROBE_PORT_END : range[1] + 1;
  const start = from ?? searchStart(count, range);
  // Within a range, the search wraps around once to its low end.
  const bases = [start, ...(range === null || from !== undefined ? [] : [range[0]])];
  for (const first of bases) {
    const found = await firstFreeRun(count, first, end);
    if (found !== null) return found;
  }
  throw new Error(`no ${count} consecutive free ports from ${start}`);
}

async function firstFreeRun(count: number, from: number, end: number): Promise<number | null> {
  for (let base = from; base + count < end; base += count) {
    let free = true;
    for (let port = base; port < base + count && free; port += 1) free = await portFree(port);
    if (free) return base;
  }
  return null;
}

export class AgentProcesses {
  private readonly slots: Map<string, Slot>;

  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
    readonly nodes: readonly InitNode[],
    private readonly options: AgentProcessesOptions,
  ) {
    this.slots = new Map(nodes.map((init) => [init.id, this.newSlot(init)]));
  }

  private newSlot(init: InitNode): Slot {
    const target = endpointTarget(init.endpoint, this.options.requestTimeoutMs ?? 2000);
    const open = this.options.openEndpointClient;
    const keyed = endpointKeyOpener(init);
    const withOpen =
      open !== undefined
        ? { ...target, open: () => open(init.id) }
        : keyed !== null
          ? { ...target, open: keyed }
          : target;
    return { init, process: null, client: new EndpointClient(withOpen), exited: Promise.resolve(null) };
  }

  /** Drives agents from configuration files that already exist (e.g. provisioned bundles); writes nothing. */
  static fromConfigs(nodes: readonly InitNode[], options: AgentProcessesOptions = {}): AgentProcesses {
    return new AgentProcesses(options.dir ?? '', false, nodes, options);
  }

  /** Adds an agent to drive (a gateway provisioned later); it is not started. */
  addNode(init: InitNode): void {
    if (this.slots.has(init.id)) throw new Error(`agent ${init.id} exists already`);
    this.slots.set(init.id, this.newSlot(init));
  }

  /** Writes a fresh cluster with `cluster init`; no agent runs yet. */
  static async create(options: AgentProcessesOptions = {}): Promise<AgentProcesses> {
    const nodes = options.nodes ?? 3;
    const witnesses = options.witnesses ?? 0;
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'coraft-cluster-'));
    const basePort = options.basePort ?? (await findFreePorts(2 * (nodes + witnesses)));
    const init = initCluster({
      dir,
      nodes,
      basePort,
      transport: options.transport ?? 'coaps',
      storage: options.storage ?? 'wal',
      codec: options.codec ?? 'cbor',
      force: true,
      ...(witnesses === 0 ? {} : { witnesses }),
      ...(options.configOverrides === undefined ? {} : { configOverrides: options.configOverrides }),
      ...(options.hostOf === undefined ? {} : { hostOf: options.hostOf }),
      ...(options.initialMembers === undefined ? {} : { initialMembers: options.initialMembers }),
    });
    return new AgentProcesses(dir, ownsDir, init, options);
  }

  /** The agents, in id order. */
  agents(): readonly AgentProcess[] {
    return [...this.slots.values()];
  }

  agent(id: string): AgentProcess {
    return this.slot(id);
  }

  /** Starts the agent `id` (no-op while it runs). */
  start(id: string): void {
    const slot = this.slot(id);
    if (slot.process !== null) return;
    const output = this.options.output ?? 'ignore';
    const stdio = output === 'inherit' ? 'inherit' : output === 'ignore' ? 'ignore' : 'pipe';
    const extra = this.options.agentArgs?.(id) ?? [];
    const argv = [
      ...(this.options.wrapCommand?.(id) ?? []),
      process.execPath,
      ...(this.options.nodeArgs ?? []),
      this.options.coraftBin ?? CORAFT_BIN,
      'agent',
      '--config',
      slot.init.config,
      ...extra,
    ];
    const [command = process.execPath, ...rest] = argv;
    const env = { ...unitEnvironment(process.env), ...this.options.agentEnv?.(id) };
    const child = spawn(command, rest, { stdio: ['ignore', stdio, stdio, 'ipc'], env });
    if (typeof output === 'function') {
      child.stdout?.on('data', (chunk: Buffer) => output(id, chunk.toString('utf8')));
      child.stderr?.on('data', (chunk: Buffer) => output(id, chunk.toString('utf8')));
    }
    slot.process = child;
    slot.exited = new Promise((done) => {
      child.once('exit', (code) => {
        if (slot.process === child) slot.process = null;
        done(code);
      });
    });
  }

  /**
   * Replaces the endpoint client of agent `id` with a new one (a new DTLS session, the key read
   * again): for an agent whose endpoint keys changed (a rekeyed gateway restarted with its new bundle).
   */
  async renewClient(id: string): Promise<void> {
    const slot = this.slot(id);
    const old = slot.client;
    slot.client = this.newSlot(slot.init).client;
    await old.close();
  }

  startAll(): void {
    for (const id of this.slots.keys()) this.start(id);
  }

  /**
   * Sends `signal` to the agent `id` and, unless it is SIGSTOP/SIGCONT, waits for it to exit. Resolves with its exit
   * code.
   */
  async signal(id: string, signal: NodeJS.Signals): Promise<number | null> {
    const slot = this.slot(id);
    if (slot.process === null) return null;
    slot.process.kill(signal);
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return null;
    return slot.exited;
  }

  /** The agent's exit, for one already told to stop. */
  exited(id: string): Promise<number | null> {
    return this.slot(id).exited;
  }

  /** Asks `GET /status` of the agent `id`; null when it is down or does not answer. */
  async status(id: string): Promise<StatusView | null> {
    const slot = this.slot(id);
    if (slot.process === null) return null;
    try {
      return parseStatus(await slot.client.json('GET', '/status'));
    } catch {
      // Not answering is what "down" means to the caller.
      return null;
    }
  }

  /**
   * Waits until a running agent (not `not`) reports itself leader and a majority of the running agents agree on it;
   * resolves with its id.
   */
  async waitForLeader(timeoutMs: number, not: string | null = null): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const running = [...this.slots.values()].filter((s) => s.process !== null).map((s) => s.init.id);
      const statuses = await Promise.all(running.map((id) => this.status(id)));
      const leader = statuses.find((s) => s?.state === 'leader' && s.nodeId !== not) ?? null;
      if (leader !== null) {
        const agreeing = statuses.filter((s) => s?.leaderId === leader.nodeId && s.term === leader.term).length;
        if (2 * agreeing > running.length) return leader.nodeId;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  /** Stops every agent with SIGTERM (SIGKILL after `graceMs`), closes the clients and removes a temporary folder. */
  async close(graceMs = 10_000): Promise<void> {
    const running = [...this.slots.values()].filter((s) => s.process !== null);
    for (const slot of running) {
      slot.process?.kill('SIGCONT');
      slot.process?.kill('SIGTERM');
    }
    const killer = setTimeout(() => {
      for (const slot of running) slot.process?.kill('SIGKILL');
    }, graceMs);
    await Promise.all(running.map((s) => s.exited));
    clearTimeout(killer);
    for (const slot of this.slots.values()) await slot.client.close();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private slot(id: string): Slot {
    const slot = this.slots.get(id);
    if (slot === undefined) throw new Error(`no agent ${id} in this cluster`);
    return slot;
  }
}
