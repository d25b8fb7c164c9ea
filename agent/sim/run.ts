/**
 * One deterministic simulation run: a cluster of real RaftNodes with the KV state machine on
 * a simulated network, simulated clients, and a nemesis that injects the chosen faults on a
 * seeded schedule. After the faulty period the network heals, crashed nodes restart, and the
 * cluster must converge within a fixed budget. Safety is checked after every event, the
 * client history is checked for linearizability at the end, and everything — fault rates
 * included — follows from the seed: the same seed and options give the same trace.
 */
import { SeededPrng } from '../../contracts/prng.js';
import type { NodeId } from '../../contracts/log.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import { checkHistoryText } from './linearizability.js';
import { forgeRequest, forgeResponse } from './byzantine.js';
import { SimClients } from './clients.js';
import type { OperationCounts } from './clients.js';
import { SIM_RAFT_CONFIGURATION, SimCluster } from './cluster.js';
import type { TraceEvent, TraceSink } from './cluster.js';
import { RELIABLE_NETWORK, staleFaults } from './network.js';
import type { NetworkFaults } from './network.js';
import { VirtualTimers } from './virtual-time.js';
import { Nemesis } from './nemesis.js';
import { TraceApplyChecker } from './trace-check.js';
import type { FaultKind } from './fault-kinds.js';
import { SimWatchers, type SimWatcherOptions } from './watchers.js';
import { SimLeases, lateDelivery } from './lease-run.js';
import { checkWatchers, watchersCaughtUp } from './watch-check.js';

/** How often the expensive whole-cluster checks run, simulated ms. */
const FULL_CHECK_INTERVAL_MS = 250;

export { FAULT_KINDS } from './fault-kinds.js';
export type { FaultKind } from './fault-kinds.js';

/** Options of one run. */
export interface SimRunOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Simulated duration of the faulty period, ms. */
  readonly durationMs: number;
  readonly clients: number;
  readonly faults: readonly FaultKind[];
  /**
   * Receives every trace line (restart, crash, leader, apply, snapshot, config, invoke/ok/fail/info: trace-check.ts).
   */
  readonly trace?: TraceSink;
  /** Budget for convergence after healing, simulated ms. Default 20,000. */
  readonly convergeMs?: number;
  /** Overrides of the Raft configuration. */
  readonly raft?: Partial<RaftConfiguration>;
  /** Random membership changes during the run. */
  readonly membership?: boolean;
  /** Check the client history for linearizability at the end. Default true. */
  readonly checkLinearizability?: boolean;
  /** Told of every fault the nemesis injects, in words. */
  readonly onFault?: (atMs: number, description: string) => void;
  /** Watch clients (watchers.ts), checked at the end (watch-check.ts). Default 3. */
  readonly watchers?: number;
  /** Test-only: watch clients that take a document after a gap (SimWatcherOptions.unsafeAcceptGaps). */
  readonly corruptWatches?: boolean;
  /** Test-only: a broken state machine whose reads are sometimes stale (proves the check can fail). */
  readonly corruptReads?: boolean;
  /** Witnesses beyond the `nodes` full members (ids n(nodes+1) on). Default 0. */
  readonly witnesses?: number;
  /** Lease clients (lease-run.ts); their leases' properties are checked too. Default 0. */
  readonly leases?: number;
}

/** The figures of one run. */
export interface SimSummary {
  readonly type: 'summary';
  readonly seed: number;
  readonly ok: boolean;
  readonly elections: number;
  readonly commits: number;
  readonly ops: OperationCounts;
  readonly simulatedMs: number;
  readonly events: number;
  readonly forgedRejected: number;
  /** Messages the 'stale' fault held for long, and unsynced writes crashes kept ('unsynced'). */
  readonly staleMessages: number;
  readonly unsyncedKept: number;
  readonly linearizable: boolean | 'unknown';
  /** Changes the watch clients took, over all of them. */
  readonly watched: number;
  readonly violations: readonly string[];
}

/** Fault rates drawn from the seed, so that seeds explore different mixes. */
function networkFaults(prng: SeededPrng, faults: ReadonlySet<FaultKind>): NetworkFaults {
  return {
    lossRate: faults.has('loss') ? 0.01 + prng.nextFloat() * 0.09 : 0,
    duplicateRate: faults.has('duplicate') ? 0.01 + prng.nextFloat() * 0.05 : 0,
    latencyMinMs: 1,
    latencyMaxMs: faults.has('reorder') ? 5 + prng.intBetween(0, 20) : 3,
    reorderRate: faults.has('reorder') ? 0.02 + prng.nextFloat() * 0.08 : 0,
    reorderDelayMs: faults.has('reorder') ? 20 + prng.intBetween(0, 60) : 0,
    // Drawn last, and only when on, so that runs without it keep their rates.
    ...(faults.has('stale') ? staleFaults(prng) : {}),
  };
}

/** Runs one simulation; never throws for a failed check (it is in the summary). */
export async function runSimulation(options: SimRunOptions): Promise<SimSummary> {
  const prng = new SeededPrng(options.seed);
  const faults = new Set(options.faults);
  const timers = new VirtualTimers();
  const { history, traceChecker, sink } = recorder(options.trace);
  const ids = Array.from({ length: options.nodes + (options.witnesses ?? 0) }, (_, i) => `n${i + 1}`);
  const cluster = newCluster(options, ids, prng, faults, timers, sink);
  for (const id of ids) await cluster.start(id);
  const { clients, watchers } = startWorkload(cluster, timers, prng, options, sink);
  const nemesis = new Nemesis(cluster, timers, prng.fork(), faults, options.durationMs, {
    membership: options.membership ?? false,
  });
  if (options.onFault !== undefined) {
    const onFault = options.onFault;
    nemesis.onFault = (description) => onFault(timers.nowMs(), description);
  }
  const forged = faults.has('byzantine') ? forgeMessages(cluster, nemesis, prng) : { rejected: 0 };
  // Drawn last, and only with lease clients, so that runs without them keep their schedules.
  const leases = (options.leases ?? 0) > 0 ? new SimLeases(cluster, timers, prng.fork(), options.leases ?? 0) : null;
  leases?.start();
  nemesis.start();

  let lastFullCheck = 0;
  const afterEach = (): boolean => {
    cluster.checkEachEvent();
    leases?.observe();
    if (timers.nowMs() - lastFullCheck >= FULL_CHECK_INTERVAL_MS) {
      lastFullCheck = timers.nowMs();
      cluster.checkAll();
    }
    return cluster.checker.violations.length === 0;
  };
  const healthyUntilHeal = await timers.runUntil(options.durationMs, afterEach);
  const healthy = await healAndConverge(
    cluster,
    timers,
    nemesis,
    clients,
    healthyUntilHeal,
    options.convergeMs ?? 20_000,
    afterEach,
  );
  await stopClients(clients, timers, afterEach);
  await leases?.finish(healthy, afterEach, lateDelivery(faults, options.durationMs));
  cluster.checkAll();
  if (healthy) await checkWatchesAfter(cluster, timers, watchers);
  watchers.stop();

  const linearizable = finalChecks(cluster, traceChecker, history, healthy && options.checkLinearizability !== false);
  const summary: SimSummary = {
    type: 'summary',
    seed: options.seed,
    ok: cluster.checker.violations.length === 0,
    elections: cluster.checker.elections,
    commits: Math.max(0, ...cluster.running().map((n) => n.getStatus().commitIndex)),
    ops: { ...clients.counts },
    simulatedMs: timers.nowMs(),
    events: timers.firedCount,
    forgedRejected: forged.rejected,
    staleMessages: cluster.network.stats.stale,
    unsyncedKept: cluster.unsyncedKept,
    linearizable,
    watched: watchers.watchers.reduce((sum, w) => sum + w.events.length, 0),
    violations: cluster.checker.violations,
  };
  for (const node of cluster.running()) await node.stop();
  return summary;
}

/**
 * Where a run's trace goes: client events into the history, the rest into a trace checker (the
 * run's own trace must pass the outside checker's rules too: apply agreement, and no index
 * applied twice by a node except its replay after a restart), and every event to `trace`.
 */
function recorder(trace: TraceSink | undefined): {
  readonly history: TraceEvent[];
  readonly traceChecker: TraceApplyChecker;
  readonly sink: TraceSink;
} {
  const history: TraceEvent[] = [];
  const traceChecker = new TraceApplyChecker();
  const sink: TraceSink = (event) => {
    if (event.type === 'invoke' || event.type === 'ok' || event.type === 'fail' || event.type === 'info')
      history.push(event);
    else traceChecker.add(event);
    trace?.(event);
  };
  return { history, traceChecker, sink };
}

/** The simulated cluster of a run: its seed and its network's fault rates are drawn from `prng`, in that order. */
function newCluster(
  options: SimRunOptions,
  ids: readonly NodeId[],
  prng: SeededPrng,
  faults: ReadonlySet<FaultKind>,
  timers: VirtualTimers,
  sink: TraceSink,
): SimCluster {
  const raft: RaftConfiguration = { ...SIM_RAFT_CONFIGURATION, ...options.raft };
  return new SimCluster(
    timers,
    {
      seed: prng.nextUint32(),
      nodeIds: ids,
      raft,
      faults: networkFaults(prng, faults),
      // A slow disk (a gateway's flash), drawn only under 'unsynced': writes wait for their sync long
      // enough that crashes find some unsynced.
      syncDelayMs: faults.has('unsynced') ? 2 + prng.intBetween(0, 20) : 1,
      corruptReads: options.corruptReads === true,
      crashKeepsUnsynced: faults.has('unsynced'),
      witnesses: ids.slice(options.nodes),
    },
    sink,
  );
}

/**
 * The checks at the end of a run, each failure added to the cluster's violations: the trace's
 * apply rules, then (when `checkHistory`) the linearizability of the history. Returns the latter.
 */
function finalChecks(
  cluster: SimCluster,
  traceChecker: TraceApplyChecker,
  history: readonly TraceEvent[],
  checkHistory: boolean,
): boolean | 'unknown' {
  for (const violation of traceChecker.report().violations) cluster.checker.violations.push(`trace: ${violation}`);
  const lin = checkHistory
    ? checkHistoryText(history.map((event) => JSON.stringify(event)).join('\n'))
    : { ok: 'unknown' as const, explanation: 'not checked after a failed run' };
  if (lin.ok === false) cluster.checker.violations.push(`history is not linearizable: ${lin.explanation}`);
  return lin.ok;
}

/**
 * Lets forged messages loose (Byzantine faults): the network forges a response now and then,
 * and the nemesis injects forged requests. Each forged request must be rejected; one that is
 * accepted is a violation. The returned counter grows with every rejection.
 */
function forgeMessages(cluster: SimCluster, nemesis: Nemesis, prng: SeededPrng): { rejected: number } {
  const forged = { rejected: 0 };
  cluster.network.forger = (request) => (prng.chance(0.002) ? forgeResponse(request) : null);
  nemesis.onForge = (target, core, sender, others) => {
    const forgery = forgeRequest(prng, target, core, sender, others);
    if (forgery === null) return;
    void cluster.network.inject(forgery.from, target, forgery.request).then((outcome) => {
      if (outcome === 'accepted')
        cluster.checker.violations.push(
          `forged ${forgery.kind} request from ${forgery.from} was accepted by ${target}`,
        );
      if (outcome === 'rejected') forged.rejected += 1;
    });
  };
  return forged;
}

/**
 * Ends the faulty period: heals everything and, when the run is still `healthy`, restarts every
 * crashed node and requires the cluster to converge within `budgetMs` (a liveness violation
 * otherwise). Returns whether the run is still healthy.
 */
async function healAndConverge(
  cluster: SimCluster,
  timers: VirtualTimers,
  nemesis: Nemesis,
  clients: SimClients,
  healthy: boolean,
  budgetMs: number,
  afterEach: () => boolean,
): Promise<boolean> {
  nemesis.stop();
  cluster.network.heal();
  cluster.network.setFaults(RELIABLE_NETWORK);
  cluster.network.forger = null;
  if (!healthy) return false;
  for (const id of cluster.nodes.keys()) if (cluster.node(id) === null) await cluster.start(id);
  const opsBefore = clients.counts.ok;
  const converged = await converge(cluster, timers, budgetMs, afterEach, () => clients.counts.ok > opsBefore);
  if (!converged)
    cluster.checker.violations.push(`the cluster did not converge within ${budgetMs} ms after healing (liveness)`);
  return converged;
}

/**
 * Runs until exactly one leader leads every running node, all of them have applied its whole
 * log, and `progressed()` says clients completed work since healing.
 */
async function converge(
  cluster: SimCluster,
  timers: VirtualTimers,
  budgetMs: number,
  afterEach: () => boolean,
  progressed: () => boolean,
): Promise<boolean> {
  const deadline = timers.nowMs() + budgetMs;
  while (timers.nowMs() < deadline) {
    if (!(await timers.runUntil(timers.nowMs() + 50, afterEach))) return false;
    const leaders = cluster.leaders();
    const leader = leaders[0];
    if (leaders.length !== 1 || leader === undefined || !progressed()) continue;
    const status = leader.getStatus();
    const members = new Set(status.configuration.voters.concat(status.configuration.learners));
    const caughtUp = cluster
      .running()
      .filter((n) => members.has(n.getNodeId()))
      .every((n) => {
        const s = n.getStatus();
        return (
          s.lastApplied === status.commitIndex && s.lastLogIndex === status.lastLogIndex && s.leaderId === status.nodeId
        );
      });
    if (caughtUp && status.commitIndex === status.lastLogIndex) return true;
  }
  return false;
}

async function stopClients(clients: SimClients, timers: VirtualTimers, afterEach: () => boolean): Promise<void> {
  // While the clients stop, every event is still checked and the leases still observed (a lease that
  // ended meanwhile was otherwise never seen to end).
  await timers.runWhile(clients.stop(), afterEach);
}

/** Starts the clients and the watch clients (each on a fork of `prng`, in that order). */
function startWorkload(
  cluster: SimCluster,
  timers: VirtualTimers,
  prng: SeededPrng,
  options: SimRunOptions,
  sink: TraceSink,
): { readonly clients: SimClients; readonly watchers: SimWatchers } {
  const settings = { operationTimeoutMs: 2_000, thinkTimeMaxMs: 50, keyCount: 5 };
  const clients = new SimClients(cluster, timers, prng.fork(), settings, sink);
  clients.start(options.clients);
  const watchers = new SimWatchers(cluster, timers, prng.fork(), watcherOptions(new Set(options.faults), options));
  watchers.start(options.watchers ?? 3, settings.keyCount);
  return { clients, watchers };
}

/** The watch clients' channel: as lossy as the network's faults. */
function watcherOptions(faults: ReadonlySet<FaultKind>, options: SimRunOptions): SimWatcherOptions {
  return {
    notificationBytesMax: 256,
    silenceMs: 500,
    lossRate: faults.has('loss') ? 0.05 : 0,
    duplicateRate: faults.has('duplicate') ? 0.05 : 0,
    delayMaxMs: faults.has('reorder') ? 20 : 3,
    unsafeAcceptGaps: options.corruptWatches === true,
  };
}

/** Simulated ms the watch clients are given after healing before they are checked at all. */
const WATCH_CATCH_UP_MS = 3_000;
/** A watch client still behind after that must move within this many simulated ms (ten silences)... */
const WATCH_STALL_MS = 5_000;
/** ...and have caught up within this many (a bound on the wait, however busy the run was). */
const WATCH_CATCH_UP_MS_MAX = 120_000;
/** How often the wait looks at the watch clients, simulated ms. */
const WATCH_STEP_MS = 100;

/**
 * Gives the watch clients time to catch up with the healed cluster, then checks them against its
 * leader. A busy run (many clients) leaves a watch on every key far behind: the simulated channel
 * carries a few changes per 256-byte notification and drops the observer on a lost acknowledgement,
 * so a watch takes a few dozen revisions a second; a watch still behind after WATCH_CATCH_UP_MS is
 * waited for as long as some watch moves (WATCH_STALL_MS) up to WATCH_CATCH_UP_MS_MAX. A watch that
 * stops moving, or never catches up, is still reported by checkWatchers.
 */
async function checkWatchesAfter(cluster: SimCluster, timers: VirtualTimers, watchers: SimWatchers): Promise<void> {
  const start = timers.nowMs();
  await timers.runUntil(start + WATCH_CATCH_UP_MS);
  const position = (): number => watchers.watchers.reduce((sum, w) => sum + w.follower.last, 0);
  let moved = { at: timers.nowMs(), position: position() };
  while (timers.nowMs() - start < WATCH_CATCH_UP_MS_MAX && timers.nowMs() - moved.at < WATCH_STALL_MS) {
    const current = cluster.leaders()[0];
    if (current === undefined || watchersCaughtUp(current, watchers.watchers)) break;
    await timers.runUntil(timers.nowMs() + WATCH_STEP_MS);
    if (position() !== moved.position) moved = { at: timers.nowMs(), position: position() };
  }
  const leader = cluster.leaders()[0];
  if (leader === undefined) return;
  const revision = leader.getStatus().lastApplied;
  for (const violation of checkWatchers(leader, watchers.watchers, revision))
    cluster.checker.violations.push(violation);
}
