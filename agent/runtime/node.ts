/**
 * The runtime RaftNode: drives the pure core with a clock, a transport, a persistence engine, a state machine, a
 * logger, metrics and a membership manager, all injected (node-deps.ts). This module owns the lifecycle (start from
 * disk, stop, even during a start, stop on a fatal error), the tick timer and the Ready loop. The node's other jobs
 * have modules of their own, each behind a host interface that lists what it needs of the node: peer-rpcs.ts (RPCs in
 * and out), snapshots.ts, client-ops.ts (writes, reads, forwarding), leadership.ts (transfer), membership-driver.ts
 * (adding and removing servers), admin.ts (signed commands) and status.ts.
 *
 * The Ready loop handles one Ready at a time, in this order:
 * 1. On a leader, when the Ready changes neither term nor vote and carries no snapshot and no truncation, its requests
 *    to peers (AppendEntries with the new entries) leave first: a leader replicates entries while it writes them (Raft
 *    thesis §10.2.1), and a follower's round trip, the longer path to a commit, starts at once. Then the write starts
 *    (everything to persist, one batch with one sync). On a leader, the committed entries (all synced by earlier
 *    Readies: it commits only synced entries, see 5) are applied while the disk works, so its answers to clients do not
 *    hold back its write. A follower applies them meanwhile only when they are a batch; fewer wait until its answer has
 *    left: its answer is on the path of every commit, its apply answers no client, and a write that overlaps no work
 *    may be synced inline (PersistOptions.overlap), without a hand-off to the thread pool and back (ready-write.ts).
 * 2. The write is awaited.
 * 3. The other messages leave: every answer to a peer and, in any other Ready, the requests
 *    too. So no vote, no AppendEntries answer and nothing sent under a new term leaves before
 *    the state it rests on is durable (reference Property 9).
 * 4. A snapshot from the leader is restored, the rest of the committed entries are applied, and
 *    confirmed reads learn their read index.
 * 5. The core is advanced: only now does it count the entries as stable, so a leader counts
 *    itself toward a commit only with entries that are on its own disk. Then the reads whose
 *    read index is applied are answered, and membership changes see the applied configuration.
 * Between two Readies a snapshot is captured when enough was applied since the last one, then encoded and
 * persisted in the background while the loop goes on (snapshots.ts); the log is compacted between two later
 * Readies, once the snapshot is durable.
 *
 * Errors follow the reference's strategy: a failed RPC is reported to the core, which retries at the protocol's pace
 * (heartbeats, probes); a PersistenceError or a broken invariant is fatal: it is logged and the node stops.
 */
import type { RaftCore } from '../core/raft.js';
import type { Ready } from '../core/ready.js';
import { NotLeaderError, StoppedError, describeError } from '../../contracts/errors.js';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, ServerState, Term } from '../../contracts/log.js';
import type { AddServerOptions, NodeStatus, RaftNode } from '../../contracts/raft-node.js';
import { assert } from '../../contracts/assert.js';
import { PendingRequests } from './pending.js';
import { MembershipDriver } from './membership-driver.js';
import { AdminRunner, adminRefusalLog, decodeAdminResult, type AdminResult } from './admin.js';
import { coreFromDisk, logRetentionOf, type RaftNodeDeps, type RaftNodeOptions } from './node-deps.js';
import type { NodeApi } from './node-api.js';
import { PeerRpcs, type PeerRpcHost } from './peer-rpcs.js';
import { Snapshots } from './snapshots.js';
import { ClientOperations } from './client-ops.js';
import { transferLeadership } from './leadership.js';
import { reportReadyEvents, type ReadyEventSink } from './ready-events.js';
import { appliedWhileWriting, entryAt, probeStage, startWrite, syncedCommitted } from './ready-write.js';
import { nodeStatusOf, serverStateOf } from './status.js';
import { TickDriver } from './tick-driver.js';
import { fatalReport } from './fatal-report.js';

/** What every module's host offers: the node's running flag, its core, and its Ready loop. */
interface NodeHost {
  isRunning(): boolean;
  requireCore(): RaftCore;
  scheduleReady(): void;
}

/** One Raft node of the runtime; see the module comment. */
export class RaftNodeImpl implements RaftNode, NodeApi {
  private core: RaftCore | null = null;
  private running = false;
  private stopRequested = false;
  private fatalError: unknown = null;
  /** The core's clock (tick-driver.ts); null before the node started. */
  private ticks: TickDriver | null = null;
  private readyScheduled = false;
  /** True while the Ready loop (or a task between two Readies) runs; one at a time. */
  private processing = false;
  private readonly host: NodeHost;
  private readonly readyEventSink: ReadyEventSink;
  private readonly pending: PendingRequests;
  private readonly rpcs: PeerRpcs;
  private readonly snapshots: Snapshots;
  private readonly clientOps: ClientOperations;
  private readonly membershipDriver: MembershipDriver;
  private readonly admin: AdminRunner;

  constructor(
    private readonly deps: RaftNodeDeps,
    private readonly options: RaftNodeOptions,
  ) {
    const { nodeId, raft } = options;
    const host: NodeHost = {
      isRunning: () => this.running,
      requireCore: () => this.requireCore(),
      scheduleReady: () => this.scheduleReady(),
    };
    this.host = host;
    this.pending = new PendingRequests(deps.timers, raft.pendingRequestsMax);
    const rpcHost: PeerRpcHost = {
      ...host,
      fatal: (error: unknown) => this.fatal(error),
      answerForward: (request) => this.clientOps.answerForward(request),
      peerAddressSeen: (id, address) => this.membershipDriver.maybeRecordAddress(id, address),
    };
    this.rpcs = new PeerRpcs(rpcHost, deps, { nodeId, rpcTimeoutMs: raft.rpcTimeoutMs });
    this.snapshots = new Snapshots(
      { ...host, fatal: (error: unknown) => this.fatal(error) },
      deps,
      { nodeId, trigger: raft, retention: logRetentionOf(raft) },
      options.bootstrap,
    );
    this.readyEventSink = {
      ...deps,
      nodeId,
      snapshotCounters: this.snapshots.counters,
      leaderReported: (leaderId) => this.clientOps.leaderReported(leaderId),
    };
    const clientHost = {
      ...host,
      getNodeId: () => nodeId,
      isLeader: () => this.isLeader(),
      getLeaderId: () => this.getLeaderId(),
      runAdmin: (payload: Uint8Array, timeoutMs: number) => this.admin.runOnLeader(payload, timeoutMs),
    };
    this.clientOps = new ClientOperations(clientHost, deps, this.pending, raft);
    this.membershipDriver = new MembershipDriver(
      {
        ...host,
        getAppliedConfiguration: () => this.snapshots.appliedConfiguration(),
        addressRefusalOf: (id) => this.rpcs.addressRefusalOf(id),
      },
      deps,
      { raft, nodeId, advertisedAddress: options.advertisedAddress },
    );
    const adminHost = {
      getNodeId: () => nodeId,
      getLeaderId: () => this.getLeaderId(),
      getConfiguration: () => this.getConfiguration(),
      submitCommand: (command: Uint8Array, timeoutMs: number) => this.submitCommand(command, timeoutMs),
      addServer: (id: NodeId, address: string, addOptions: AddServerOptions) => this.addServer(id, address, addOptions),
      removeServer: (id: NodeId) => this.removeServer(id),
      transferLeadership: (to: NodeId | null, timeoutMs: number) => this.transferLeadership(to, timeoutMs),
      snapshotNow: () => this.snapshots.takeNow(),
      reachedAt: (address: string) => this.deps.client.reachedAt?.(address) ?? Promise.resolve(null),
    };
    this.admin = new AdminRunner(adminHost, deps.admin ?? null, adminRefusalLog(deps.logger, nodeId, deps.timers));
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.running) return;
    this.stopRequested = false;
    const { nodeId, raft } = this.options;
    const persisted = await this.deps.storage.loadShape();
    if (this.stopRequested) throw new StoppedError('node stopped while it was starting');
    const snapshot = persisted.snapshot;
    this.snapshots.restoreAtStart(snapshot);
    const core = coreFromDisk(this.deps, this.options, persisted);
    this.core = core;
    this.ticks = new TickDriver(this.deps.timers, raft.tickIntervalMs, core, () => this.scheduleReady());
    this.deps.observer?.onRestart?.(snapshot);
    this.deps.client.setPeers(core.getConfiguration().members.filter((m) => m.id !== nodeId));
    this.deps.server.setHandler((request, context) => this.rpcs.handle(request, context));
    this.running = true;
    this.fatalError = null;
    await this.deps.server.start();
    this.deps.logger.info('raft node started', {
      node: nodeId,
      term: core.getTerm(),
      lastIndex: core.getLastIndex(),
      snapshotIndex: core.getSnapshotIndex(),
    });
    this.ticks.start();
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    if (!this.running) return;
    this.halt(() => new StoppedError());
    await this.deps.server.stop();
    await this.deps.client.close();
    this.deps.logger.info('raft node stopped', { node: this.options.nodeId });
  }

  /** Stops everything at once: timers, pending requests, owed replies. */
  private halt(error: () => unknown): void {
    this.running = false;
    this.ticks?.stop();
    this.snapshots.halt();
    this.pending.rejectAll(error);
    this.membershipDriver.rejectAll();
    this.clientOps.endLeaderWaits();
    this.rpcs.clear();
  }

  /** A persistence error or a broken invariant: log it, stop, close the sockets (else they keep the process alive). */
  private fatal(error: unknown): void {
    if (!this.running) return;
    this.fatalError = error;
    const message = describeError(error);
    const report = fatalReport(this.options.nodeId, error);
    this.deps.logger.critical(report.message, report.fields);
    this.halt(() => new StoppedError(`node stopped after a fatal error: ${message}`));
    this.deps.observer?.onFatal?.(error);
    void Promise.all([this.deps.server.stop(), this.deps.client.close()]).catch(() => undefined);
  }

  getFatalError(): unknown {
    return this.fatalError;
  }

  isRunning(): boolean {
    return this.running;
  }

  /**
   * @internal The core, with the ticks that passed since it was last used applied (every input
   * and query goes through here, see tick-driver.ts); StoppedError before the node started.
   */
  requireCore(): RaftCore {
    if (this.core === null) throw new StoppedError('node not started');
    this.ticks?.catchUp();
    return this.core;
  }

  // -------------------------------------------------------------------------------------------
  // The Ready loop
  // -------------------------------------------------------------------------------------------

  /** Makes sure the Ready loop runs soon. */
  private scheduleReady(): void {
    // An input may have brought the next due tick closer; the timer follows (tick-driver.ts).
    this.ticks?.rearm();
    if (this.readyScheduled || this.processing || !this.running) return;
    this.readyScheduled = true;
    (this.deps.deferReady ?? queueMicrotask)(() => {
      this.readyScheduled = false;
      void this.processReadies();
    });
  }

  private async processReadies(): Promise<void> {
    if (this.processing || !this.running) return;
    this.processing = true;
    try {
      const core = this.requireCore();
      this.snapshots.betweenReadies(core);
      while (this.running && core.hasReady()) {
        await this.handleReady(core, core.takeReady());
        if (this.running) this.snapshots.betweenReadies(core);
      }
    } catch (error) {
      this.fatal(error);
    } finally {
      this.processing = false;
      // What the Ready loop handled may have brought the next due tick closer (tick-driver.ts).
      this.ticks?.rearm();
    }
  }

  /** Handles one Ready in the order the module comment gives. */
  private async handleReady(core: RaftCore, ready: Ready): Promise<void> {
    reportReadyEvents(this.readyEventSink, ready);
    const probe = this.deps.latencyProbe;
    if (probe !== undefined) probeStage(probe, 'ready', ready);
    const sendFirst =
      core.getRole() === 'leader' && ready.hardState === null && ready.snapshot === null && ready.truncateFrom === null;
    const synced = ready.snapshot === null ? syncedCommitted(ready) : 0;
    assert(!sendFirst || synced === ready.committed.length, 'a leader commits only synced entries');
    // Step 1: a leader's requests leave, the write starts, and a leader applies the entries synced earlier meanwhile.
    if (sendFirst) for (const message of ready.messages) if (message.kind === 'request') this.rpcs.dispatch(message);
    if (sendFirst && probe !== undefined) probeStage(probe, 'sent', ready);
    const started = this.deps.timers.nowMs();
    const early = appliedWhileWriting(core.getRole() === 'leader', synced);
    const written = this.snapshots.receive(ready) ?? startWrite(this.deps.storage, ready, early > 0);
    for (let i = 0; i < early; i += 1) this.applyEntry(entryAt(ready.committed, i));
    if (written !== null) {
      await written;
      this.deps.metrics.observeDurationMs('storage_sync_ms', this.deps.timers.nowMs() - started);
      if (!this.running) return;
    }
    if (probe !== undefined) probeStage(probe, 'synced', ready);
    // Step 3: answers, votes and anything under a new term leave only now that they are durable.
    for (const message of ready.messages) if (!sendFirst || message.kind === 'response') this.rpcs.dispatch(message);
    if (probe !== undefined && !sendFirst) probeStage(probe, 'answered', ready);
    if (ready.snapshot !== null) this.snapshots.restore(ready.snapshot);
    for (let i = early; i < ready.committed.length; i += 1) this.applyEntry(entryAt(ready.committed, i));
    const lost = (): unknown =>
      new NotLeaderError(core.getLeaderId(), 'leadership changed before the read was confirmed');
    for (const read of ready.readStates) this.pending.readConfirmed(read.token, read.index, lost);
    core.advance(ready);
    this.pending.readsApplied(core.getAppliedIndex());
    if (ready.committed.length > 0) this.membershipDriver.onApplied();
    this.deps.metrics.setGauge('raft_commit_index', core.getCommitIndex());
    this.deps.metrics.setGauge('raft_applied_index', core.getAppliedIndex());
  }

  private applyEntry(entry: LogEntry): void {
    // A witness holds key-value commands without their payload: it applies them as no-ops, so
    // its applied index follows the log while its state machine stays empty (core/witness.ts).
    const stripped = entry.type === 'command' && entry.command.byteLength === 0 && this.isWitness();
    // Only a local client's proposal waits for the result; a follower's is not encoded (StateMachine.apply).
    const result = this.deps.stateMachine.apply(
      stripped ? { ...entry, type: 'noop' } : entry,
      this.pending.waits(entry.index),
    );
    this.snapshots.applied(entry);
    const latencyMs = this.pending.applied(entry, result);
    if (latencyMs !== null) this.deps.metrics.observeDurationMs('raft_commit_latency_ms', latencyMs);
    this.deps.observer?.onApply?.(entry);
    this.deps.latencyProbe?.mark('applied', entry.index);
  }

  // Client operations (client-ops.ts), administration (admin.ts), membership and leadership

  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.clientOps.submitCommand(command, timeoutMs);
  }

  readState(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.clientOps.readState(query, timeoutMs);
  }

  /** See NodeApi.isWitness. */
  isWitness(): boolean {
    return this.core?.isWitness() ?? this.options.witness === true;
  }

  /** See NodeApi.submitAnywhere. */
  submitAnywhere(command: Uint8Array, timeoutMs: number, retryUnknown = false, what?: string): Promise<Uint8Array> {
    return this.clientOps.runAnywhere('write', command, timeoutMs, retryUnknown, what);
  }

  readAnywhere(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.clientOps.runAnywhere('read', query, timeoutMs);
  }

  readLocal(query: Uint8Array): Uint8Array {
    return this.clientOps.readLocal(query);
  }

  async adminAnywhere(envelope: Uint8Array, timeoutMs: number): Promise<AdminResult> {
    return decodeAdminResult(await this.clientOps.runAnywhere('admin', envelope, timeoutMs));
  }

  snapshotSigned(envelope: Uint8Array): Promise<LogIndex> {
    return this.admin.snapshotHere(envelope);
  }

  addServer(node: NodeId, address: string, options: AddServerOptions = {}): Promise<boolean> {
    return this.membershipDriver.addServer(node, address, options.learner ?? false, options.witness ?? false);
  }

  removeServer(node: NodeId): Promise<boolean> {
    return this.membershipDriver.removeServer(node);
  }

  /** Promotes learners and removes voters in one joint configuration (membership-driver.ts, changeVoters). */
  changeVoters(promote: readonly NodeId[], remove: readonly NodeId[]): Promise<boolean> {
    return this.membershipDriver.changeVoters(promote, remove);
  }

  transferLeadership(to: NodeId | null, timeoutMs: number): Promise<NodeId> {
    return transferLeadership(
      this.host,
      this.deps.timers,
      { nodeId: this.options.nodeId, pollIntervalMs: this.options.raft.tickIntervalMs },
      to,
      timeoutMs,
    );
  }

  // State queries (status.ts)

  getNodeId(): NodeId {
    return this.options.nodeId;
  }

  getCurrentTerm(): Term {
    return this.core?.getTerm() ?? 0;
  }

  getState(): ServerState {
    return serverStateOf(this.core, this.options.nodeId);
  }

  isLeader(): boolean {
    return this.core?.getRole() === 'leader';
  }

  getLeaderId(): NodeId | null {
    return this.core?.getLeaderId() ?? null;
  }

  getStatus(): NodeStatus {
    return nodeStatusOf(this.requireCore(), this.options.nodeId, this.snapshots.counters.counts(), this.rpcs.view());
  }

  getConfiguration(): ClusterConfiguration {
    return this.requireCore().getConfiguration();
  }
}
