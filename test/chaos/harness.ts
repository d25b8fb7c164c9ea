/**
 * One chaos round against real agents (coaps, lmdb): start N agents (each in its own network
 * namespace when the machine allows it), run concurrent recording clients while the seeded
 * nemesis kills, pauses and cuts off nodes, then heal everything and check (see verify.ts):
 * the cluster serves again within a bound, the history is linearizable, every acknowledged
 * write is present, every node holds the same values, and all nodes applied identical entries.
 *
 * Two workloads: `endpoint` (our own CoAP client, sessions, the random nemesis above) and
 * `libcoap` (issue 13: every request a separate libcoap coap-client process with its own token,
 * sent to any node's local endpoint, while the leader is killed and restarted and a follower
 * paused, `cycles` times; see libcoap-clients.ts and leader-kill-nemesis.ts). The libcoap
 * workload runs on loopback: its faults are process faults, and coap-client runs here.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcesses, endpointKeyOpener, findFreePorts } from '../../agent/cli/agent-processes.js';
import { SeededPrng } from '../../contracts/prng.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';
import { ChaosClients } from './clients.js';
import type { ClientCounts } from './clients.js';
import { ChaosNemesis } from './nemesis.js';
import type { FaultKind, FaultRecord, NemesisOptions, NemesisTarget } from './nemesis.js';
import { LeaderKillNemesis } from './leader-kill-nemesis.js';
import type { LeaderKillOptions } from './leader-kill-nemesis.js';
import { LibcoapClients } from './libcoap-clients.js';
import { NetnsLab, netnsAvailable } from './netns.js';
import { HistoryRecorder } from './recorder.js';
import { checkSingleApply } from './single-apply.js';
import { verifyAfter, verifyLive } from './verify.js';
import type { LiveFindings, Verdict } from './verify.js';

/** The workloads a round can run. */
export const CHAOS_WORKLOADS = ['endpoint', 'libcoap'] as const;
export type ChaosWorkload = (typeof CHAOS_WORKLOADS)[number];

/** Options of one round. */
export interface ChaosOptions {
  readonly seed: number;
  /** Which clients and nemesis (see the module comment). Default 'endpoint'. */
  readonly workload: ChaosWorkload;
  /** Nodes. Default 3. Limit: 1 to 9. */
  readonly nodes: number;
  /** How long faults are injected, ms. Default 60,000. */
  readonly durationMs: number;
  /** Concurrent clients. Default 4. */
  readonly clients: number;
  /** Keys the clients use. Default 5. */
  readonly keyCount: number;
  /** 'auto': network namespaces when root and `ip netns` work; 'off': loopback, process faults only. */
  readonly network: 'auto' | 'off';
  /** Longest time the cluster may take to serve again once healed, ms. Default 30,000. */
  readonly recoveryBoundMs: number;
  /** Runs the agents with CORAFT_UNSAFE_ACK_BEFORE_COMMIT=1 (the harness's self-test). Default false. */
  readonly unsafeAckBeforeCommit: boolean;
  /** Keeps the round's folder (history, traces, logs) even when the round passes. Default false. */
  readonly keep: boolean;
  readonly nemesis: Partial<NemesisOptions>;
  /** The libcoap workload's nemesis. */
  readonly leaderKill: Partial<LeaderKillOptions>;
  /** Progress lines. Default: none. */
  readonly log: (line: string) => void;
}

export const DEFAULT_CHAOS_OPTIONS: ChaosOptions = {
  seed: 1,
  workload: 'endpoint',
  nodes: 3,
  durationMs: 60_000,
  clients: 4,
  keyCount: 5,
  network: 'auto',
  recoveryBoundMs: 30_000,
  unsafeAckBeforeCommit: false,
  keep: false,
  nemesis: {},
  leaderKill: {},
  log: () => undefined,
};

/** What a round did and found. */
export interface ChaosSummary extends Verdict {
  readonly seed: number;
  readonly workload: ChaosWorkload;
  readonly nodes: number;
  readonly unsafeAckBeforeCommit: boolean;
  readonly network: string;
  readonly faultKinds: readonly string[];
  readonly faults: readonly FaultRecord[];
  readonly counts: ClientCounts;
  readonly dir: string;
  /** How long faults were injected, ms (the round's `durationMs` option). */
  readonly faultMs: number;
  readonly clients: number;
  readonly keyCount: number;
  readonly durationMs: number;
}

/** What a round needs of its nemesis. */
interface RoundNemesis {
  readonly faults: readonly FaultRecord[];
  start(): void;
  stop(): Promise<void>;
  healthy(): readonly string[];
  enabledKinds(): readonly FaultKind[];
}

/** What a round needs of its clients. */
interface RoundClients {
  readonly counts: ClientCounts;
  start(pickNode: (prng: SeededPrng) => string): void;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Where the network faults come from: a namespace lab, or none (and why). */
function networkLab(options: ChaosOptions, ids: readonly string[]): { lab: NetnsLab | null; note: string } {
  if (options.network === 'off')
    return { lab: null, note: 'loopback (network faults off by request): process faults only' };
  if (options.workload === 'libcoap')
    return { lab: null, note: 'loopback (the libcoap workload runs coap-client here): process faults only' };
  const available = netnsAvailable();
  if (!available.ok)
    return { lab: null, note: `loopback (${available.reason}): process faults only, no network faults` };
  const lab = new NetnsLab(ids, 100 + (process.pid % 150));
  lab.create();
  // Namespaces outlive the process: remove them however it ends (run.ts turns SIGINT into exit).
  process.once('exit', () => lab.destroy());
  return {
    lab,
    note:
      'network namespaces + veth/bridge: partitions and flaky links by blackhole routes (no netem/iptables ' +
      'here: no delay or loss)',
  };
}

/** Makes the cluster: coaps, lmdb, cbor, traces on, snapshots every 256 KiB applied (8 MiB for libcoap). */
async function createProcesses(
  options: ChaosOptions,
  dir: string,
  lab: NetnsLab | null,
  traces: ReadonlyMap<string, string>,
  logs: ReadonlyMap<string, WriteStream>,
): Promise<AgentProcesses> {
  return AgentProcesses.create({
    dir: join(dir, 'cluster'),
    nodes: options.nodes,
    transport: 'coaps',
    storage: 'wal',
    codec: 'cbor',
    // The endpoint workload snapshots often (snapshot transfer under faults); the libcoap workload
    // keeps its whole log in a 45 s round, so that the replay check sees every write. The trigger
    // stays fixed (snapshotThresholdBytesMax 0): it does not grow with the store.
    configOverrides: () => ({
      raft: {
        snapshotThresholdBytes: options.workload === 'libcoap' ? 8 * 1024 * 1024 : 256 * 1024,
        snapshotThresholdBytesMax: 0,
      },
    }),
    agentArgs: (id) => ['--trace', traces.get(id) ?? join(dir, `${id}.trace.jsonl`)],
    agentEnv: () => (options.unsafeAckBeforeCommit ? { CORAFT_UNSAFE_ACK_BEFORE_COMMIT: '1' } : {}),
    output: (id, chunk) => logs.get(id)?.write(chunk),
    requestTimeoutMs: 2_000,
    // Below the kernel's ephemeral range (32768 and up on Linux): a client process must never be
    // given a killed agent's port as its source port, which would keep the agent from restarting.
    basePort: await findFreePorts(2 * options.nodes, 10_000 + Math.floor(Math.random() * 20_000)),
    ...(lab === null
      ? {}
      : {
          hostOf: (id: string) => lab.address(id),
          wrapCommand: (id: string) => ['ip', 'netns', 'exec', lab.namespace(id)],
        }),
  });
}

/** What the nemesis acts on: the agent processes and, when there is one, the namespace lab. */
function nemesisTarget(processes: AgentProcesses, ids: readonly string[], lab: NetnsLab | null): NemesisTarget {
  return {
    ids,
    kill: async (id) => {
      await processes.signal(id, 'SIGKILL');
    },
    restart: (id) => processes.start(id),
    pause: (id) => void processes.signal(id, 'SIGSTOP'),
    resume: (id) => void processes.signal(id, 'SIGCONT'),
    leader: async (among) => {
      const statuses = await Promise.all(among.map((id) => processes.status(id)));
      return statuses.find((s) => s?.state === 'leader')?.nodeId ?? null;
    },
    net: lab,
  };
}

/** Injects faults for the round's duration, logging progress every 10 s. */
async function drive(
  options: ChaosOptions,
  nemesis: RoundNemesis,
  clients: RoundClients,
  started: number,
): Promise<void> {
  nemesis.start();
  const end = Date.now() + options.durationMs;
  while (Date.now() < end - 100) {
    await sleep(Math.min(10_000, end - Date.now()));
    options.log(
      `  ${Math.round((Date.now() - started) / 1000)} s: ops ok ${clients.counts.ok}, fail ${clients.counts.fail}, ` +
        `info ${clients.counts.info}; faults ${nemesis.faults.length}`,
    );
  }
}

/** The round's nemesis and clients, and how a client picks the node to talk to. */
function makeWorkload(
  options: ChaosOptions,
  target: NemesisTarget,
  reach: {
    readonly endpoints: ReadonlyMap<string, string>;
    readonly openers: ReadonlyMap<string, () => Promise<DatagramEndpoint>>;
  },
  prng: SeededPrng,
  history: HistoryRecorder,
): { nemesis: RoundNemesis; clients: RoundClients; pickNode: (p: SeededPrng) => string } {
  const ids = target.ids;
  const endpoints = reach.endpoints;
  if (options.workload === 'libcoap') {
    return {
      nemesis: new LeaderKillNemesis(
        target,
        prng.fork(),
        () => history.nowMs(),
        options.durationMs,
        options.leaderKill,
      ),
      clients: new LibcoapClients(endpoints, prng.fork(), history, {
        clients: options.clients,
        keyCount: options.keyCount,
      }),
      // Any node, dead or paused ones included: requests queued at a paused node are handled late.
      pickNode: (p) => ids[p.intBetween(0, ids.length)] ?? 'n1',
    };
  }
  const nemesis = new ChaosNemesis(target, prng.fork(), () => history.nowMs(), options.nemesis);
  return {
    nemesis,
    clients: new ChaosClients(
      endpoints,
      prng.fork(),
      history,
      { clients: options.clients, keyCount: options.keyCount },
      reach.openers,
    ),
    pickNode: (p) => {
      const healthy = nemesis.healthy();
      const pool = healthy.length > 0 && p.chance(0.9) ? healthy : ids;
      return pool[p.intBetween(0, pool.length)] ?? ids[0] ?? 'n1';
    },
  };
}

/** Runs one round and returns its summary (never throws for a violation; see `ok`). */
export async function runChaos(partial: Partial<ChaosOptions> = {}): Promise<ChaosSummary> {
  const options: ChaosOptions = { ...DEFAULT_CHAOS_OPTIONS, ...partial };
  const dir = mkdtempSync(join(tmpdir(), `coraft-chaos-${options.seed}-`));
  const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  const { lab, note } = networkLab(options, ids);
  options.log(
    `chaos: seed ${options.seed}, workload ${options.workload}, ${options.nodes} ` +
      `nodes, ${options.durationMs / 1000} s, ${note}; files in ${dir}`,
  );
  const logs = new Map<string, WriteStream>(
    ids.map((id) => [id, createWriteStream(join(dir, `${id}.log`), { flags: 'a' })]),
  );
  const traces = new Map(ids.map((id) => [id, join(dir, `${id}.trace.jsonl`)]));
  const processes = await createProcesses(options, dir, lab, traces, logs).catch((error: unknown) => {
    lab?.destroy();
    throw error;
  });
  const history = new HistoryRecorder(join(dir, 'history.jsonl'));
  const endpoints = new Map(processes.agents().map((a) => [a.init.id, a.init.endpoint]));
  // In namespaces the endpoints are beyond loopback, so they have keys: the clients use them.
  const openers = new Map(
    processes.agents().flatMap((a) => {
      const open = endpointKeyOpener(a.init);
      return open === null ? [] : [[a.init.id, open] as const];
    }),
  );
  const { nemesis, clients, pickNode } = makeWorkload(
    options,
    nemesisTarget(processes, ids, lab),
    { endpoints, openers },
    new SeededPrng(options.seed),
    history,
  );
  const started = Date.now();
  let live: LiveFindings;
  try {
    processes.startAll();
    await processes.waitForLeader(60_000);
    clients.start(pickNode);
    await drive(options, nemesis, clients, started);
    await nemesis.stop();
    for (const id of ids) {
      await processes.signal(id, 'SIGCONT');
      processes.start(id);
    }
    await clients.stop();
    if (clients instanceof LibcoapClients && clients.failure !== null) throw clients.failure;
    live = await verifyLive(processes, history, options.keyCount, options.recoveryBoundMs, options.log);
  } finally {
    history.flush();
    await nemesis.stop().catch(() => undefined);
    await processes.close();
    for (const stream of logs.values()) stream.end();
    lab?.destroy();
  }
  const replay = await checkSingleApply(new Map(processes.nodes.map((n) => [n.id, n.dir])), live.convergedIndex ?? 0);
  const after = verifyAfter(history, live, traces);
  const verdict: Verdict = {
    ...after,
    ok: after.ok && replay.violations.length === 0,
    violations: [...after.violations, ...replay.violations],
    entriesReplayed: replay.entriesReplayed,
    duplicatesAnswered: replay.duplicatesAnswered,
  };
  const summary: ChaosSummary = {
    ...verdict,
    seed: options.seed,
    workload: options.workload,
    nodes: options.nodes,
    unsafeAckBeforeCommit: options.unsafeAckBeforeCommit,
    network: note,
    faultKinds: nemesis.enabledKinds(),
    faults: nemesis.faults,
    counts: { ...clients.counts },
    dir,
    faultMs: options.durationMs,
    clients: options.clients,
    keyCount: options.keyCount,
    durationMs: Date.now() - started,
  };
  if (summary.ok && !options.keep) rmSync(dir, { recursive: true, force: true });
  return summary;
}
