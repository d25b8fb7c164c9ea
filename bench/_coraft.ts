/**
 * coraft as a system under test for the comparison benches: a fresh 3-agent loopback cluster
 * with the agent's defaults (coaps peers, cbor, LMDB; agent/cli/agent-processes.ts) in a
 * temporary folder, written to through the leader's local CoAP endpoint with the project's
 * EndpointClient, one client (one UDP socket) per simulated client.
 *
 * The writers' CoAP clients count their retransmissions and timeouts (writerClientCounts): a
 * retransmission is a datagram lost, or an answer slower than the client's timeout.
 *
 * Snapshot sends come from the agents themselves: GET /status counts, on each agent since it
 * started, the InstallSnapshot transfers it started as leader (and how they ended) and the
 * snapshots it took (agent/runtime/snapshots.ts). The raft_snapshot_sends_total metric counts
 * the same, but metrics are off in the agent's defaults, which the bench runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcesses } from '../agent/cli/agent-processes.js';
import { EndpointClient, endpointTarget } from '../agent/cli/endpoint-client.js';
import { removeEach, snapshotTotalsOf, sleep, sumSnapshotTotals } from './_system.js';
import type { BenchSystem, BenchWriter, ProbeResult, SnapshotTotals, SystemMember } from './_system.js';
import { performance } from 'node:perf_hooks';
import { StartupReports } from './_startup-phases.js';
import { ClientProbe } from './_client-probe.js';
import { probeNow } from '../agent/observability/latency-probe.js';
import { openRawWriter } from './_raw-coap-writer.js';
import type { AgentStartup } from './_startup-phases.js';

/** How the coraft cluster is run. */
export interface CoraftOptions {
  /** Write a V8 CPU profile of each agent into this folder (node --cpu-prof). Default none. */
  readonly cpuProfDir?: string;
  /** Timeout of one client request, ms. */
  readonly requestTimeoutMs: number;
  /** RaftConfiguration fields written into every agent.json's `raft` (the agent validates them). Default none. */
  readonly raft?: Readonly<Record<string, unknown>>;
  /** Extra Node.js flags of every agent (after the unit's; bench/soak.ts bounds the heap). Default none. */
  readonly nodeArgs?: readonly string[];
  /** Environment variables of every agent, over the unit's malloc settings (UNIT_MALLOC_ENV). Default none. */
  readonly agentEnv?: Readonly<Record<string, string>>;
  /** The coraft.js that runs each agent (another build's, for A/B runs, bench/ab-coraft.ts). Default this one's. */
  readonly coraftBin?: string;
  /** Every chunk an agent writes to stdout or stderr, by node id. Default none (the output is ignored). */
  readonly onOutput?: (id: string, chunk: string) => void;
}

/** What the writers' CoAP clients counted together: messages sent again, and requests that timed out. */
export interface WriterClientCounts {
  readonly requests: number;
  readonly retransmissions: number;
  readonly timeouts: number;
}

/** Adds up the counters of the writers' clients. */
export class WriterClientTotals {
  private requests = 0;
  private retransmissions = 0;
  private timeouts = 0;

  add(stats: WriterClientCounts): void {
    this.requests += stats.requests;
    this.retransmissions += stats.retransmissions;
    this.timeouts += stats.timeouts;
  }

  counts(): WriterClientCounts {
    return { requests: this.requests, retransmissions: this.retransmissions, timeouts: this.timeouts };
  }
}

/** Merges `raft` into the `raft` object of the agent.json at `file`. */
function overrideRaft(file: string, raft: Readonly<Record<string, unknown>>): void {
  const config: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (typeof config !== 'object' || config === null) throw new Error(`${file}: not a JSON object`);
  const current: unknown = Reflect.get(config, 'raft');
  Reflect.set(config, 'raft', { ...(typeof current === 'object' && current !== null ? current : {}), ...raft });
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * Node flags for every agent of every bench, from CORAFT_BENCH_NODE_ARGS (space-separated): for
 * diagnostics such as `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR` (bench/heap-buffers.ts).
 */
function benchNodeArgs(): string[] {
  return (process.env['CORAFT_BENCH_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== '');
}

/** A running (or ready to run) coraft cluster. */
export class CoraftSystem implements BenchSystem {
  readonly name = 'coraft';
  readonly snapshotSendsSource =
    'GET /status of every agent (snapshots.sendsStarted: InstallSnapshot transfers started)';
  private readonly probes = new Map<string, EndpointClient>();
  private closed = false;
  /** The counters of the writers' clients, added up as each closes. */
  private readonly writerCounts = new WriterClientTotals();
  /** The writers' side of the latency probe when the agents run with one (CORAFT_LATENCY_PROBE), else null. */
  private readonly clientProbe: ClientProbe | null;

  private constructor(
    private readonly cluster: AgentProcesses,
    private readonly options: CoraftOptions,
    private readonly reports: StartupReports,
  ) {
    // The agents take the probe folder from this process's environment when they start; so does the client probe.
    const dir = process.env.CORAFT_LATENCY_PROBE;
    this.clientProbe = dir === undefined || dir === '' ? null : new ClientProbe(dir);
  }

  /** Writes a fresh cluster's configuration into a temporary folder; no agent runs yet. */
  static async create(options: CoraftOptions): Promise<CoraftSystem> {
    // Every agent's output is read for its start-up report ("agent ready"), then handed on.
    const reports = new StartupReports();
    const onOutput = options.onOutput;
    const cluster = await AgentProcesses.create({
      nodes: 3,
      transport: 'coaps',
      codec: 'cbor',
      storage: 'lmdb',
      requestTimeoutMs: 2_000,
      output: (id, chunk) => {
        reports.add(id, chunk);
        onOutput?.(id, chunk);
      },
      ...(options.coraftBin === undefined ? {} : { coraftBin: options.coraftBin }),
      ...(options.agentEnv === undefined ? {} : { agentEnv: () => options.agentEnv ?? {} }),
      nodeArgs: [
        ...(options.nodeArgs ?? []),
        ...benchNodeArgs(),
        ...(options.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`]),
      ],
    });
    const raft = options.raft ?? {};
    if (Object.keys(raft).length > 0) for (const agent of cluster.agents()) overrideRaft(agent.init.config, raft);
    return new CoraftSystem(cluster, options, reports);
  }

  /** Each agent's latest start-up report (the phases of its last start, from its "agent ready" log line). */
  startupReports(): Readonly<Record<string, AgentStartup>> {
    return this.reports.all();
  }

  /** The cluster's folder (removed by close). */
  get dir(): string {
    return this.cluster.dir;
  }

  start(): Promise<ReadonlyMap<string, number>> {
    return this.startSome(this.cluster.agents().length);
  }

  /** Starts the first `count` agents at once; resolves with each one's spawn time. */
  startSome(count: number): Promise<ReadonlyMap<string, number>> {
    const spawned = new Map<string, number>();
    for (const agent of this.cluster.agents().slice(0, count)) {
      spawned.set(agent.init.id, performance.now());
      this.cluster.start(agent.init.id);
    }
    return Promise.resolve(spawned);
  }

  members(): readonly SystemMember[] {
    return this.cluster
      .agents()
      .map((a) => ({ id: a.init.id, pid: a.process?.pid ?? null, dataDir: join(a.init.dir, 'data') }));
  }

  leader(boundMs: number): Promise<string> {
    return this.cluster.waitForLeader(boundMs);
  }

  openWriter(id: string, value: Uint8Array): Promise<BenchWriter> {
    if (this.options.agentEnv?.CORAFT_BENCH_RAW_CLIENT === '1') return Promise.resolve(this.openRaw(id, value));
    const client = new EndpointClient(
      endpointTarget(this.cluster.agent(id).init.endpoint, this.options.requestTimeoutMs),
    );
    return Promise.resolve({
      put: this.timedPut(async (key) => {
        const response = await client.request({ method: 'PUT', path: ['kv', key], payload: value });
        // 2.xx; anything else (4.xx, 5.03 without a leader) is a refused write.
        return response.code >= 0x40 && response.code < 0x60;
      }),
      close: () => {
        this.writerCounts.add(client.stats);
        return client.close();
      },
    });
  }

  /** What the writers' CoAP clients counted, those closed so far together. */
  writerClientCounts(): WriterClientCounts {
    return this.writerCounts.counts();
  }

  removeKeys(id: string, keys: readonly string[]): Promise<void> {
    const target = endpointTarget(this.cluster.agent(id).init.endpoint, this.options.requestTimeoutMs);
    return removeEach(
      keys,
      () => new EndpointClient(target),
      (client, key) => client.request({ method: 'DELETE', path: ['kv', key] }),
      (client) => client.close(),
    );
  }

  /** A writer over the raw CoAP client (bench/_raw-coap-writer.ts), timed by the client probe as openWriter's. */
  private openRaw(id: string, value: Uint8Array): BenchWriter {
    const { host, port } = endpointTarget(this.cluster.agent(id).init.endpoint, 1).endpoint;
    const writer = openRawWriter(host, port, value, this.options.requestTimeoutMs);
    return { put: this.timedPut((key) => writer.put(key)), close: () => writer.close() };
  }

  /** `put`, each call's send and answer recorded by the client probe when there is one. */
  private timedPut(put: (key: string) => Promise<boolean>): (key: string) => Promise<boolean> {
    const probe = this.clientProbe;
    if (probe === null) return put;
    return async (key) => {
      const sent = probeNow();
      const ok = await put(key);
      probe.answered(sent);
      return ok;
    };
  }

  async probe(id: string, timeoutMs: number): Promise<ProbeResult> {
    let client = this.probes.get(id);
    if (client === undefined) {
      client = new EndpointClient(endpointTarget(this.cluster.agent(id).init.endpoint, timeoutMs));
      this.probes.set(id, client);
    }
    try {
      const status = await client.json('GET', '/status');
      const leader: unknown = typeof status === 'object' && status !== null ? Reflect.get(status, 'leaderId') : null;
      return { answered: true, leaderKnown: typeof leader === 'string' && leader !== '' };
    } catch {
      // No answer yet (the agent is still starting) or an error answer: not serving.
      return { answered: false, leaderKnown: false };
    }
  }

  async settle(boundMs: number): Promise<void> {
    const deadline = Date.now() + boundMs;
    let last = -1;
    while (Date.now() < deadline) {
      const ids = this.cluster.agents().map((a) => a.init.id);
      const applied = (await Promise.all(ids.map((id) => this.cluster.status(id)))).map((s) => s?.lastApplied ?? -1);
      const first = applied[0] ?? -1;
      const same = first >= 0 && applied.every((a) => a === first);
      if (same && first === last) return;
      last = same ? first : -1;
      await sleep(300);
    }
  }

  async snapshotSends(): Promise<number | null> {
    return (await this.snapshotTotals())?.sendsStarted ?? null;
  }

  /**
   * The snapshot counters of every agent's GET /status added up (each since the agent started):
   * snapshots taken and restored, transfers started, completed and failed. Null when an agent
   * does not answer.
   */
  async snapshotTotals(): Promise<SnapshotTotals | null> {
    const ids = this.cluster.agents().map((a) => a.init.id);
    const totals = await Promise.all(
      ids.map(async (id) => {
        try {
          return snapshotTotalsOf(await this.cluster.agent(id).client.json('GET', '/status'));
        } catch {
          // No answer (the agent is down or busy past the timeout): its counters are unknown.
          return null;
        }
      }),
    );
    return sumSnapshotTotals(totals);
  }

  /** Stops agent `id` gracefully (SIGTERM) and starts it again; resolves with the new spawn time. */
  async restart(id: string): Promise<number> {
    await this.cluster.signal(id, 'SIGTERM');
    this.reports.forget(id);
    const at = performance.now();
    this.cluster.start(id);
    return at;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.probes.values()) await client.close();
    this.clientProbe?.write();
    await this.cluster.close();
  }
}
