/**
 * A simulated cluster: real RaftNodes with the KV state machine, each on its own simulated
 * disk, all on one simulated network and one virtual clock. Nodes crash (losing whatever was
 * not yet synced) and restart from their disks; every event is followed by the safety checks.
 * The trace marks each crash and each (re)start, so that an outside checker tells a restarted
 * node's replay from a double apply (the format: trace-check.ts).
 */
import { SeededPrng } from '../../contracts/prng.js';
import { simpleConfiguration } from '../core/configuration.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../contracts/raft-configuration.js';
import type { ClusterConfiguration, LogEntry, NodeId, SnapshotMeta } from '../../contracts/log.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import type { RequestMessage, ResponseMessage } from '../../contracts/messages.js';
import type { SnapshotEncoder, StateMachine } from '../../contracts/state-machine.js';
import { DefaultMembershipManager } from '../membership/default.js';
import { MemoryLogger, NoopMetrics } from '../observability/noop.js';
import { RaftNodeImpl } from '../runtime/node.js';
import type { NodeObserver } from '../runtime/node-deps.js';
import { MemoryDisk, MemoryPersistenceEngine } from '../../storage/memory.js';
import { KvStateMachine } from '../kv/index.js';
import { LeaseKeeper, leaseKeeperHostOf } from '../kv/lease-keeper.js';
import { SafetyChecker } from './safety.js';
import { DurabilityChecker } from './durability-check.js';
import { StateChecker } from './state-check.js';
import { TransitionLogChecker } from './transition-log-check.js';
import type { CheckedNode } from './safety.js';
import { SimNetwork } from './network.js';
import type { NetworkFaults } from './network.js';
import type { VirtualTimers } from './virtual-time.js';
import { describeError } from '../../contracts/errors.js';

/** One line of the simulator's JSON Lines trace. */
export type TraceEvent = Readonly<
  Record<
    string,
    | string
    | number
    | boolean
    | null
    | readonly string[]
    | Readonly<Record<string, string | null>>
    | Readonly<Record<string, Readonly<Record<string, string | null>>>>
  >
>;

/** Receives trace events; the simulator writes them to the --trace file. */
export type TraceSink = (event: TraceEvent) => void;

/** One simulated node: its disk outlives its runs. */
export interface SimNode {
  readonly id: NodeId;
  readonly disk: MemoryDisk;
  node: RaftNodeImpl | null;
  storage: MemoryPersistenceEngine | null;
  incarnation: number;
  readonly logger: MemoryLogger;
  /** Protocol violations this node rejected (forged messages, malformed input). */
  violationsRejected: number;
  /** The current run's lease countdown (lease-keeper.ts); null while the node is down. */
  keeper: LeaseKeeper | null;
  /** The current run's state machine; null while the node is down. */
  kv: KvStateMachine | null;
}

/** Options of a simulated cluster. */
export interface SimClusterOptions {
  readonly seed: number;
  readonly nodeIds: readonly NodeId[];
  readonly raft: RaftConfiguration;
  readonly faults: NetworkFaults;
  /** Simulated fsync latency, ms. */
  readonly syncDelayMs: number;
  /**
   * A deliberately broken build for proving the checks can fail: every third query answers
   * from an empty state machine (a stale read).
   */
  readonly corruptReads?: boolean;
  /**
   * A crash keeps a random prefix of the writes the node issued but had not synced (a disk that
   * loses only part of its unsynced tail); absent or false, it loses them all.
   */
  readonly crashKeepsUnsynced?: boolean;
  /** The nodes among `nodeIds` that are witnesses (DESIGN.md, "Witness members"). Default none. */
  readonly witnesses?: readonly NodeId[];
}

/**
 * The Raft timing used in simulation: the defaults, ticks of 10 ms. The log keeps little behind a
 * snapshot (10 entries, at most 100 or 8 KiB for a lagging follower), so that followers that were
 * down or cut off still need InstallSnapshot and the runs exercise it; and the core keeps only
 * 2 KiB of applied, durable entries in memory, so that a follower a few entries behind is served
 * entries read back from the simulated disk (durable ones only: a crash loses the rest).
 */
export const SIM_RAFT_CONFIGURATION: RaftConfiguration = {
  ...DEFAULT_RAFT_CONFIGURATION,
  snapshotThresholdBytes: 1_000_000,
  // A fixed trigger: the runs take snapshots as often as the tests set them to.
  snapshotThresholdBytesMax: 0,
  learnerCatchUpTimeoutMs: 5_000,
  logRetainEntries: 10,
  logRetainEntriesMax: 100,
  logRetainBytesMax: 8 * 1024,
  logResidentBytes: 2 * 1024,
};

/** The broken state machine of `corruptReads`: some reads see nothing. */
class StaleReadingStateMachine implements StateMachine {
  private readonly empty = new KvStateMachine({});
  private queries = 0;

  constructor(private readonly real: KvStateMachine) {}

  apply(entry: LogEntry, answered?: boolean): Uint8Array {
    return this.real.apply(entry, answered);
  }

  query(query: Uint8Array): Uint8Array {
    this.queries += 1;
    return (this.queries % 3 === 0 ? this.empty : this.real).query(query);
  }

  snapshot(): Uint8Array {
    return this.real.snapshot();
  }

  captureSnapshot(): SnapshotEncoder {
    return this.real.captureSnapshot();
  }

  restore(meta: SnapshotMeta, data: Uint8Array): void {
    this.real.restore(meta, data);
  }
}

export class SimCluster {
  readonly network: SimNetwork;
  readonly checker: SafetyChecker;
  readonly durability: DurabilityChecker;
  readonly states: StateChecker;
  readonly transitions: TransitionLogChecker;
  /** Unsynced writes that crashes kept (crashKeepsUnsynced). */
  unsyncedKept = 0;
  /** Told of every response a node's current run sends, after the checks (the nemesis's crashes after an answer). */
  onAnswer: ((id: NodeId, request: RequestMessage, response: ResponseMessage) => void) | null = null;
  /** Told of every entry a node's current run applied, once applied (the lease checks, lease-apply-check.ts). */
  onApplied: ((slot: SimNode, entry: LogEntry) => void) | null = null;
  /** Told of every write a node's current run issues (the nemesis's crashes in the middle of a write). */
  onWrite: ((id: NodeId) => void) | null = null;
  /** The witnesses: the initial ones and any added since (they start with the witness option). */
  private readonly witnesses: Set<NodeId>;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly prng: SeededPrng;
  private readonly nodePrng: SeededPrng;
  private bootstrap: ClusterConfiguration;

  constructor(
    readonly timers: VirtualTimers,
    private readonly options: SimClusterOptions,
    private readonly trace: TraceSink,
  ) {
    const root = new SeededPrng(options.seed);
    this.prng = root.fork();
    this.nodePrng = root.fork();
    this.network = new SimNetwork(timers, root.fork(), options.faults);
    this.witnesses = new Set(options.witnesses ?? []);
    this.checker = new SafetyChecker(this.witnesses);
    this.durability = new DurabilityChecker((message) => this.checker.violations.push(message));
    this.states = new StateChecker((message) => this.checker.violations.push(message));
    this.transitions = new TransitionLogChecker((message) => this.checker.violations.push(message));
    this.network.onResponse = (id, request, response) => {
      const disk = this.nodes.get(id)?.disk;
      if (disk !== undefined) this.durability.onResponse(id, disk, request, response);
      this.checker.onResponse(id, request, response);
      this.onAnswer?.(id, request, response);
    };
    this.bootstrap = simpleConfiguration(options.nodeIds, [], options.witnesses ?? []);
    for (const id of options.nodeIds) this.addNodeSlot(id);
  }

  private addNodeSlot(id: NodeId): SimNode {
    const slot: SimNode = {
      id,
      disk: new MemoryDisk(),
      node: null,
      storage: null,
      incarnation: 0,
      logger: new MemoryLogger(200),
      violationsRejected: 0,
      keeper: null,
      kv: null,
    };
    this.nodes.set(id, slot);
    return slot;
  }

  /** True when the cluster was set up with witnesses (the membership chaos then adds some too). */
  hasWitnesses = (): boolean => this.witnesses.size > 0;

  /**
   * Starts (or restarts) node `id` from its disk. `bootstrap` overrides the initial
   * configuration; `witness` makes a new node a witness (it stays one across restarts).
   */
  async start(id: NodeId, bootstrap: ClusterConfiguration = this.bootstrap, witness = false): Promise<void> {
    if (witness) this.witnesses.add(id);
    const slot = this.nodes.get(id) ?? this.addNodeSlot(id);
    if (slot.node !== null) return;
    slot.incarnation += 1;
    const storage = new MemoryPersistenceEngine(
      { disk: slot.disk, timers: this.timers, onWrite: () => this.onWrite?.(id) },
      { syncDelayMs: this.options.syncDelayMs },
    );
    const { client, server } = this.network.endpoint(id);
    const logger = slot.logger;
    const kv = new KvStateMachine({});
    // Only the current run of the node writes to the trace: nothing a crashed run still
    // finishes may appear after its `crash` line.
    const trace = (event: TraceEvent): void => {
      if (slot.node === node) this.trace(event);
    };
    const node: RaftNodeImpl = new RaftNodeImpl(
      {
        timers: this.timers,
        prng: this.nodePrng.fork(),
        client,
        server,
        storage,
        stateMachine: this.options.corruptReads === true ? new StaleReadingStateMachine(kv) : kv,
        logger,
        metrics: new NoopMetrics(),
        membership: new DefaultMembershipManager(),
        observer: this.observerFor(slot, trace, () => node),
      },
      { nodeId: id, raft: this.options.raft, bootstrap, witness: this.witnesses.has(id) },
    );
    slot.node = node;
    slot.storage = storage;
    slot.kv = kv;
    try {
      await node.start();
    } catch (error) {
      if (slot.node !== node) return; // Crashed while it started: its failure is the crash itself.
      throw error;
    }
    if (slot.node !== node) return;
    slot.keeper = new LeaseKeeper({
      timers: this.timers,
      source: kv,
      metrics: null,
      host: { ...leaseKeeperHostOf(node), isRunning: () => slot.node === node && node.isRunning() },
    });
    slot.keeper.start();
  }

  /** Restarts `id` in the background (the nemesis's): a failed start is a violation, never an unhandled rejection. */
  restart(id: NodeId): void {
    this.start(id).catch((error: unknown) => {
      this.checker.violations.push(`${id} failed to restart: ${describeError(error)}`);
    });
  }

  /**
   * The observer of a run of the node of `slot`: it feeds the safety checker and writes the trace
   * (through `trace`, which only the current run reaches).
   */
  private observerFor(slot: SimNode, trace: (event: TraceEvent) => void, node: () => RaftNodeImpl): NodeObserver {
    const id = slot.id;
    return {
      onRestart: (snapshot) => {
        // Every start is a restart from the disk: the trace says so before anything the
        // node re-applies, with the snapshot it restored (trace-check.ts).
        trace({ t: this.timers.nowMs(), type: 'restart', node: id });
        if (snapshot !== null) {
          this.checker.onSnapshotRestore(id, snapshot.lastIncludedIndex, snapshot.lastIncludedTerm);
          trace({
            t: this.timers.nowMs(),
            type: 'snapshot',
            node: id,
            index: snapshot.lastIncludedIndex,
            term: snapshot.lastIncludedTerm,
          });
        }
      },
      onLeader: (term) => {
        trace({ t: this.timers.nowMs(), type: 'leader', node: id, term });
        this.checker.onLeader(id, term, node().requireCore());
      },
      onApply: (entry: LogEntry) => {
        const digest = this.checker.onApply(id, entry);
        const { index, term } = entry;
        // A witness's entries have no payload: the trace says so, and its checker compares terms only.
        const witness = this.witnesses.has(id) ? { witness: true } : {};
        trace({ t: this.timers.nowMs(), type: 'apply', node: id, index, term, digest, ...witness });
        if (slot.node === node()) this.onApplied?.(slot, entry);
      },
      onSnapshotRestore: (meta) => {
        this.checker.onSnapshotRestore(id, meta.lastIncludedIndex, meta.lastIncludedTerm);
        trace({
          t: this.timers.nowMs(),
          type: 'snapshot',
          node: id,
          index: meta.lastIncludedIndex,
          term: meta.lastIncludedTerm,
        });
      },
      onConfiguration: (index, config) => {
        trace({
          t: this.timers.nowMs(),
          type: 'config',
          node: id,
          index,
          voters: config.voters,
          learners: config.learners,
          joint: config.oldVoters !== null,
        });
      },
      onProtocolViolation: () => {
        slot.violationsRejected += 1;
      },
      onFatal: (error) => {
        // A crashed run's storage is closed under it (crash()): what it still finishes may fail on
        // that, which is the crash itself, as in a process that died; only the current run counts.
        if (slot.node !== node()) return;
        this.checker.violations.push(`${id} stopped on a fatal error: ${describeError(error)}`);
      },
    };
  }

  /** Crashes node `id`: it stops at once and loses every write not yet synced. */
  async crash(id: NodeId): Promise<void> {
    const slot = this.nodes.get(id);
    if (slot === undefined || slot.node === null) return;
    const node = slot.node;
    slot.node = null;
    slot.keeper?.stop();
    slot.keeper = null;
    slot.kv = null;
    this.trace({ t: this.timers.nowMs(), type: 'crash', node: id });
    const storage = slot.storage;
    const pending = storage?.unsyncedCount() ?? 0;
    // Drawn only when the fault is on, so that runs without it keep their schedules.
    if (this.options.crashKeepsUnsynced === true && pending > 0)
      this.unsyncedKept += (await storage?.closeKeeping(this.prng.intBetween(0, pending + 1))) ?? 0;
    else await storage?.close();
    slot.storage = null;
    await node.stop();
  }

  /** Removes a node's disk too (a replaced gateway). */
  wipe(id: NodeId): void {
    this.nodes.delete(id);
    this.durability.forget(id);
  }

  running(): RaftNodeImpl[] {
    const result: RaftNodeImpl[] = [];
    for (const slot of this.nodes.values()) if (slot.node !== null) result.push(slot.node);
    return result;
  }

  node(id: NodeId): RaftNodeImpl | null {
    return this.nodes.get(id)?.node ?? null;
  }

  leaders(): RaftNodeImpl[] {
    return this.running().filter((node) => node.isLeader());
  }

  /** The checker's view of every node. */
  checked(): CheckedNode[] {
    return [...this.nodes.values()].map((slot) => ({
      id: slot.id,
      core: slot.node?.isRunning() === true ? slot.node.requireCore() : null,
      disk: slot.disk,
      incarnation: slot.incarnation,
    }));
  }

  /** The per-event checks; cheap enough to run after every timer. */
  checkEachEvent(): void {
    const nodes = this.checked();
    for (const node of nodes) {
      this.checker.checkNode(node);
      this.durability.checkHardState(node.id, node.disk);
      const core = node.core;
      const records = this.nodes.get(node.id)?.logger.records ?? [];
      if (core !== null)
        this.transitions.check(node.id, node.incarnation, core.getRole(), core.getTerm(), records, this.timers.nowMs());
    }
    this.checker.checkCommitted(nodes);
  }

  checkAll(): void {
    this.checker.checkCluster(this.checked());
    for (const slot of this.nodes.values())
      if (slot.kv !== null && slot.node?.isRunning() === true && !this.witnesses.has(slot.id))
        this.states.check(slot.id, slot.kv.lastApplied, () => slot.kv?.snapshot() ?? new Uint8Array(0));
  }
}
