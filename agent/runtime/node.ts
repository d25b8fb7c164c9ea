/**
 * The runtime RaftNode: drives the pure core with a clock, a transport, a persistence engine,
 * a state machine, a logger, metrics and a membership manager, all injected. It owns the tick
 * timer and the Ready loop: for each Ready it persists (one synced batch), then sends, then
 * applies, then advances the core — so no vote and no AppendEntries success ever leaves before
 * the state it rests on is durable (reference Property 9).
 *
 * Errors follow the reference's strategy: a failed RPC is reported to the core, which retries
 * at the protocol's pace (heartbeats, probes); a PersistenceError or a broken invariant is
 * fatal: it is logged and the node stops, so the process can restart from disk.
 */
import { RaftCore } from '../core/raft.js';
import type { CoreOptions, CoreStartState } from '../core/raft.js';
import type { CoreRequest, Outbound, Ready } from '../core/ready.js';
import { addressOf, allMembers, decodeConfiguration, isMember, quorumVoters } from '../core/membership.js';
import { entryBytes } from '../core/log.js';
import { NetworkError, NotLeaderError, ProposalError, RaftError, StoppedError, TimeoutError } from '../errors.js';
import type {
  AddServerOptions,
  ClientForwardRequest,
  ClientForwardResponse,
  ClusterConfiguration,
  DiagnosticLogger,
  InboundContext,
  LogEntry,
  LogIndex,
  MembershipManager,
  MemberStatus,
  Metrics,
  NetworkClient,
  NetworkServer,
  NodeId,
  NodeStatus,
  PersistenceEngine,
  Prng,
  RaftConfiguration,
  RaftNode,
  RequestMessage,
  ResponseMessage,
  ServerState,
  Snapshot,
  SnapshotMeta,
  StateMachine,
  Term,
  TimerHandle,
  Timers,
} from '../contracts.js';
import { claimedSender } from '../contracts.js';
import { PendingRequests } from './pending.js';
import { errorFromCode, ForwardingClient } from './forwarding.js';
import { MembershipDriver } from './membership-driver.js';
import { AdminRunner, decodeAdminResult } from './admin.js';
import type { AdminAuthority, AdminResult } from './admin.js';

/** Callbacks for the simulator's checks and the agent's trace file; all optional. */
export interface NodeObserver {
  /**
   * Called once per start, before anything else: the node (re)starts from its disk, where it
   * restored `snapshot` (null when there was none). It re-applies the entries after the
   * snapshot (or from index 1), which it may have applied before it stopped.
   */
  onRestart?(snapshot: SnapshotMeta | null): void;
  onLeader?(term: Term): void;
  onApply?(entry: LogEntry): void;
  onSnapshotRestore?(meta: SnapshotMeta): void;
  onConfiguration?(index: LogIndex, configuration: ClusterConfiguration): void;
  onProtocolViolation?(peer: NodeId, reason: string): void;
  onFatal?(error: unknown): void;
}

/** Dependencies of a RaftNode: every one an interface. */
export interface RaftNodeDeps {
  readonly timers: Timers;
  readonly prng: Prng;
  readonly client: NetworkClient;
  readonly server: NetworkServer;
  readonly storage: PersistenceEngine;
  readonly stateMachine: StateMachine;
  readonly logger: DiagnosticLogger;
  readonly metrics: Metrics;
  readonly membership: MembershipManager;
  readonly observer?: NodeObserver;
  /** Verifies signed admin commands (the replicated admin key and nonces); absent: every admin command is refused. */
  readonly admin?: AdminAuthority;
}

/** Plain-data options of a RaftNode. */
export interface RaftNodeOptions {
  readonly nodeId: NodeId;
  readonly raft: RaftConfiguration;
  /** The cluster to start with when storage holds no configuration. */
  readonly bootstrap: ClusterConfiguration;
  /** Entries kept behind a snapshot for followers that lag a little. Default 1,000. */
  readonly logRetainEntries?: number;
  /** Largest snapshot accepted from a leader, bytes. Default 1 GiB. */
  readonly snapshotBytesMax?: number;
}

/** Derives the core's tick-based options from a RaftConfiguration. */
export function coreOptionsFor(nodeId: NodeId, raft: RaftConfiguration, snapshotBytesMax: number): CoreOptions {
  const ticks = (ms: number): number => Math.max(1, Math.round(ms / raft.tickIntervalMs));
  return {
    id: nodeId,
    electionTimeoutMinTicks: ticks(raft.electionTimeoutMinMs),
    electionTimeoutMaxTicks: Math.max(ticks(raft.electionTimeoutMinMs) + 1, ticks(raft.electionTimeoutMaxMs)),
    heartbeatTicks: ticks(raft.heartbeatIntervalMs),
    preVote: raft.preVote,
    checkQuorum: raft.checkQuorum,
    maxEntriesPerAppend: raft.maxEntriesPerAppend,
    appendBytesMax: raft.appendBytesMax,
    inflightCountMax: raft.inflightCountMax,
    inflightBytesMax: raft.inflightBytesMax,
    uncommittedBytesMax: raft.uncommittedBytesMax,
    pendingReadsMax: raft.pendingRequestsMax,
    snapshotChunkBytes: raft.snapshotChunkBytes,
    snapshotBytesMax,
    applyBytesMax: Math.max(raft.appendBytesMax, 4 * 1024 * 1024),
  };
}

/** A reply the core owes to an inbound request. */
interface ReplyWaiter {
  readonly resolve: (response: ResponseMessage) => void;
}

/** Bytes per extra rpcTimeoutMs of deadline a large RPC gets. */
const RPC_DEADLINE_BYTES_PER_STEP = 64 * 1024;

export class RaftNodeImpl implements RaftNode {
  private readonly deps: RaftNodeDeps;
  private readonly options: RaftNodeOptions;
  private core: RaftCore | null = null;
  private running = false;
  private fatalError: unknown = null;
  private tickTimer: TimerHandle | null = null;
  private readyScheduled = false;
  private processing = false;
  private readonly replies = new Map<number, ReplyWaiter>();
  private nextReplyToken = 1;
  readonly pending: PendingRequests;
  private readonly forwarding: ForwardingClient;
  readonly membershipDriver: MembershipDriver;
  private readonly admin: AdminRunner;
  /** The configuration as of the last applied entry: what a local snapshot records. */
  private appliedConfig: ClusterConfiguration;
  private appliedBytesSinceSnapshot = 0;
  private leaderWaiters: (() => void)[] = [];
  private lastLeader: NodeId | null = null;

  constructor(deps: RaftNodeDeps, options: RaftNodeOptions) {
    this.deps = deps;
    this.options = options;
    this.appliedConfig = options.bootstrap;
    this.pending = new PendingRequests(deps.timers, options.raft.pendingRequestsMax);
    this.forwarding = new ForwardingClient(this, deps.client, deps.timers);
    this.membershipDriver = new MembershipDriver(this, deps.membership, deps.timers, options.raft);
    this.admin = new AdminRunner(
      {
        getNodeId: () => this.getNodeId(),
        getLeaderId: () => this.getLeaderId(),
        getConfiguration: () => this.requireCore().getConfiguration(),
        submitCommand: (command, timeoutMs) => this.submitCommand(command, timeoutMs),
        addServer: (id, address, addOptions) => this.addServer(id, address, addOptions),
        removeServer: (id) => this.removeServer(id),
        transferLeadership: (to, timeoutMs) => this.transferLeadership(to, timeoutMs),
        snapshotNow: () => this.snapshotNow(),
      },
      deps.admin ?? null,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle
  // -------------------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.running) return;
    const persisted = await this.deps.storage.load();
    const snapshot = persisted.snapshot;
    if (snapshot !== null) {
      this.deps.stateMachine.restore(snapshot, snapshot.data);
      this.appliedConfig = snapshot.configuration;
    }
    const start: CoreStartState = { hardState: persisted.hardState, snapshot, entries: persisted.entries, bootstrap: this.options.bootstrap };
    const core = new RaftCore(
      { prng: this.deps.prng },
      coreOptionsFor(this.options.nodeId, this.options.raft, this.options.snapshotBytesMax ?? 1024 * 1024 * 1024),
      start,
    );
    this.core = core;
    this.appliedBytesSinceSnapshot = 0;
    this.deps.observer?.onRestart?.(snapshot);
    this.deps.client.setPeers(core.getConfiguration().members.filter((m) => m.id !== this.options.nodeId));
    this.deps.server.setHandler((request, context) => this.handleRpc(request, context));
    this.running = true;
    this.fatalError = null;
    await this.deps.server.start();
    this.deps.logger.info('raft node started', {
      node: this.options.nodeId,
      term: core.getTerm(),
      lastIndex: core.getLastIndex(),
      snapshotIndex: core.getSnapshotIndex(),
    });
    this.armTick();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.halt(() => new StoppedError());
    await this.deps.server.stop();
    await this.deps.client.close();
    this.deps.logger.info('raft node stopped', { node: this.options.nodeId });
  }

  /** Stops everything at once: timers, pending requests, owed replies. */
  private halt(error: () => unknown): void {
    this.running = false;
    this.tickTimer?.cancel();
    this.tickTimer = null;
    this.pending.rejectAll(error);
    this.membershipDriver.rejectAll();
    for (const waiter of this.leaderWaiters) waiter();
    this.leaderWaiters = [];
    this.replies.clear();
  }

  /** A persistence error or a broken invariant: log it, stop, and let the process restart. */
  private fatal(error: unknown): void {
    if (!this.running) return;
    this.fatalError = error;
    const message = error instanceof Error ? error.message : String(error);
    this.deps.logger.critical('fatal error; stopping the node', { node: this.options.nodeId, error: message, code: error instanceof RaftError ? error.code : 'UNKNOWN' });
    this.halt(() => new StoppedError(`node stopped after a fatal error: ${message}`));
    this.deps.observer?.onFatal?.(error);
    void this.deps.server.stop().catch(() => undefined);
  }

  /** The fatal error that stopped the node, if any. */
  getFatalError(): unknown {
    return this.fatalError;
  }

  isRunning(): boolean {
    return this.running;
  }

  private armTick(): void {
    this.tickTimer = this.deps.timers.setTimer(this.options.raft.tickIntervalMs, () => {
      if (!this.running) return;
      this.requireCore().tick();
      this.scheduleReady();
      this.armTick();
    });
  }

  /** @internal */
  requireCore(): RaftCore {
    if (this.core === null) throw new StoppedError('node not started');
    return this.core;
  }

  // -------------------------------------------------------------------------------------------
  // The Ready loop
  // -------------------------------------------------------------------------------------------

  /** @internal Makes sure the Ready loop runs soon. */
  scheduleReady(): void {
    if (this.readyScheduled || this.processing || !this.running) return;
    this.readyScheduled = true;
    queueMicrotask(() => {
      this.readyScheduled = false;
      void this.processReadies();
    });
  }

  private async processReadies(): Promise<void> {
    if (this.processing || !this.running) return;
    this.processing = true;
    try {
      const core = this.requireCore();
      while (this.running && core.hasReady()) {
        await this.handleReady(core, core.takeReady());
        if (this.running) await this.maybeSnapshot(core);
      }
    } catch (error) {
      this.fatal(error);
    } finally {
      this.processing = false;
    }
  }

  private async handleReady(core: RaftCore, ready: Ready): Promise<void> {
    this.reportEvents(ready);
    const needsPersist =
      ready.hardState !== null || ready.snapshot !== null || ready.truncateFrom !== null || ready.entries.length > 0 || ready.compactBefore !== null;
    // Raft thesis §10.2.1: a leader replicates its new entries while it writes them, since it
    // counts itself toward commitment only once they are stable. Anything carrying a new term,
    // a vote or an answer waits for the disk.
    const sendFirst = core.getRole() === 'leader' && ready.hardState === null && ready.snapshot === null && ready.truncateFrom === null;
    if (sendFirst) {
      for (const message of ready.messages) if (message.kind === 'request') this.dispatch(message);
    }
    if (needsPersist) {
      const started = this.deps.timers.nowMs();
      await this.deps.storage.persist({
        snapshot: ready.snapshot,
        truncateFrom: ready.truncateFrom,
        entries: ready.entries,
        compactBefore: ready.compactBefore,
        hardState: ready.hardState,
      });
      this.deps.metrics.observeDurationMs('storage_sync_ms', this.deps.timers.nowMs() - started);
      if (!this.running) return;
    }
    for (const message of ready.messages) if (!sendFirst || message.kind === 'response') this.dispatch(message);
    if (ready.snapshot !== null) this.restoreSnapshot(ready.snapshot);
    for (const entry of ready.committed) this.applyEntry(entry);
    for (const read of ready.readStates) {
      this.pending.readConfirmed(read.token, read.index, () => new NotLeaderError(core.getLeaderId(), 'leadership changed before the read was confirmed'));
    }
    core.advance(ready);
    this.pending.readsApplied(core.getAppliedIndex());
    if (ready.committed.length > 0) this.membershipDriver.onApplied();
    this.deps.metrics.setGauge('raft_commit_index', core.getCommitIndex());
    this.deps.metrics.setGauge('raft_applied_index', core.getAppliedIndex());
  }

  private reportEvents(ready: Ready): void {
    const node = this.options.nodeId;
    for (const event of ready.events) {
      switch (event.kind) {
        case 'role':
          this.deps.logger.info(`became ${event.to}`, { node, term: event.term, from: event.from, to: event.to, reason: event.reason });
          this.deps.metrics.increment('raft_role_changes_total', 1, { to: event.to });
          if (event.to === 'leader') this.deps.observer?.onLeader?.(event.term);
          break;
        case 'leader':
          this.deps.logger.info('following a new leader', { node, term: event.term, leader: event.leaderId });
          break;
        case 'config':
          this.deps.logger.info('configuration in force', { node, index: event.index, voters: event.configuration.voters.join(','), learners: event.configuration.learners.join(','), joint: event.configuration.oldVoters !== null });
          this.deps.client.setPeers(event.configuration.members.filter((m) => m.id !== node));
          this.deps.observer?.onConfiguration?.(event.index, event.configuration);
          break;
        case 'transfer':
          this.deps.logger.info(`leadership transfer ${event.outcome}`, { node, to: event.to });
          break;
        case 'snapshot-sent':
          this.deps.logger.info('sending snapshot', { node, to: event.to, index: event.index, bytes: event.bytes });
          this.deps.metrics.increment('raft_snapshot_sends_total', 1, { peer: event.to });
          break;
        case 'warning':
          this.deps.logger.warning(event.message, { node });
          break;
      }
    }
    if (ready.softState !== null) {
      const soft = ready.softState;
      this.deps.metrics.setGauge('raft_term', soft.term);
      this.deps.metrics.setGauge('raft_is_leader', soft.role === 'leader' ? 1 : 0);
      if (soft.leaderId !== this.lastLeader) {
        this.lastLeader = soft.leaderId;
        if (soft.leaderId !== null) {
          for (const waiter of this.leaderWaiters) waiter();
          this.leaderWaiters = [];
        }
      }
    }
  }

  private dispatch(message: Outbound): void {
    if (message.kind === 'response') {
      const waiter = this.replies.get(message.replyTo);
      if (waiter === undefined) return;
      this.replies.delete(message.replyTo);
      waiter.resolve(message.response);
      return;
    }
    this.sendRequest(message.to, message.seq, message.request);
  }

  private sendRequest(to: NodeId, seq: number, request: CoreRequest): void {
    const bytes = request.type === 'AppendEntriesRequest' ? request.entries.reduce((sum, e) => sum + entryBytes(e), 0) : request.type === 'InstallSnapshotRequest' ? request.data.byteLength : 0;
    const timeoutMs = this.options.raft.rpcTimeoutMs * (1 + Math.floor(bytes / RPC_DEADLINE_BYTES_PER_STEP));
    const dimensions = { peer: to, type: request.type };
    this.deps.metrics.increment('raft_rpc_sent_total', 1, dimensions);
    this.deps.client.send(to, request, timeoutMs).then(
      (response) => {
        if (!this.running || this.core === null) return;
        const result = this.core.step({ kind: 'response', from: to, seq, request, response });
        if (!result.ok) this.protocolViolation(to, result.reason);
        this.scheduleReady();
      },
      (error: unknown) => {
        this.deps.metrics.increment('raft_rpc_failed_total', 1, dimensions);
        if (!this.running || this.core === null) return;
        this.deps.logger.debug('rpc failed', { node: this.options.nodeId, peer: to, type: request.type, error: error instanceof Error ? error.message : String(error) });
        this.core.step({ kind: 'unreachable', to, seq, request });
        this.scheduleReady();
      },
    );
  }

  private protocolViolation(peer: NodeId, reason: string): void {
    this.deps.logger.warning('rejected a message that breaks the protocol', { node: this.options.nodeId, peer, reason });
    this.deps.metrics.increment('raft_protocol_violations_total', 1, { peer });
    this.deps.observer?.onProtocolViolation?.(peer, reason);
  }

  private applyEntry(entry: LogEntry): void {
    const result = this.deps.stateMachine.apply(entry);
    this.appliedBytesSinceSnapshot += entryBytes(entry);
    if (entry.type === 'config') this.applyConfiguration(entry);
    const latencyMs = this.pending.applied(entry, result);
    if (latencyMs !== null) this.deps.metrics.observeDurationMs('raft_commit_latency_ms', latencyMs);
    this.deps.observer?.onApply?.(entry);
  }

  private applyConfiguration(entry: LogEntry): void {
    const next = decodeConfiguration(entry.command);
    if (next === null) return;
    for (const id of allMembers(this.appliedConfig)) {
      if (!isMember(next, id)) {
        this.deps.membership.handleNodeRemoval(id);
        this.deps.logger.info('member removed', { node: this.options.nodeId, removed: id, index: entry.index });
      }
    }
    this.appliedConfig = next;
  }

  private restoreSnapshot(snapshot: Snapshot): void {
    this.deps.stateMachine.restore(snapshot, snapshot.data);
    this.appliedConfig = snapshot.configuration;
    this.appliedBytesSinceSnapshot = 0;
    this.deps.logger.info('restored a snapshot from the leader', { node: this.options.nodeId, index: snapshot.lastIncludedIndex, bytes: snapshot.data.byteLength });
    this.deps.observer?.onSnapshotRestore?.(snapshot);
  }

  /** Takes a snapshot and compacts the log once enough has been applied since the last one. */
  private async maybeSnapshot(core: RaftCore): Promise<void> {
    if (this.appliedBytesSinceSnapshot < this.options.raft.snapshotThresholdBytes) return;
    await this.takeSnapshot(core);
  }

  /** Snapshots the state machine at the applied index, persists it, then compacts. */
  private async takeSnapshot(core: RaftCore): Promise<LogIndex> {
    const index = core.getAppliedIndex();
    const term = core.termAt(index);
    if (term === null || index <= core.getSnapshotIndex()) return core.getSnapshotIndex();
    const snapshot: Snapshot = { lastIncludedIndex: index, lastIncludedTerm: term, configuration: this.appliedConfig, data: this.deps.stateMachine.snapshot() };
    await this.deps.storage.persist({ snapshot, truncateFrom: null, entries: [], compactBefore: null, hardState: null });
    if (!this.running) return index;
    core.compact(snapshot, index + 1 - (this.options.logRetainEntries ?? 1000));
    this.appliedBytesSinceSnapshot = 0;
    this.deps.logger.info('took a snapshot', { node: this.options.nodeId, index, term, bytes: snapshot.data.byteLength });
    this.deps.metrics.increment('raft_snapshots_taken_total');
    this.scheduleReady();
    return index;
  }

  /** Takes a snapshot now (the endpoint's POST /snapshot); resolves with its index. */
  async snapshotNow(): Promise<LogIndex> {
    const core = this.requireCore();
    if (!this.running) throw new StoppedError();
    // Wait for the Ready loop to be idle so the snapshot is taken between two Readies.
    while (this.processing) await new Promise<void>((resolve) => this.deps.timers.setTimer(1, resolve));
    this.processing = true;
    try {
      return await this.takeSnapshot(core);
    } finally {
      this.processing = false;
      this.scheduleReady();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Inbound RPCs
  // -------------------------------------------------------------------------------------------

  private handleRpc(request: RequestMessage, context: InboundContext): Promise<ResponseMessage> {
    if (!this.running || this.core === null) return Promise.reject(new NetworkError('NET_UNREACHABLE', 'node is not running'));
    const claimed = claimedSender(request);
    if (!this.deps.membership.authenticateNode(claimed, context)) {
      this.deps.logger.warning('refused an RPC whose sender is not authenticated as the node it claims', {
        node: this.options.nodeId,
        claimed,
        identity: context.peerIdentity,
        remote: context.remoteAddress,
        type: request.type,
      });
      this.deps.metrics.increment('raft_rpc_refused_total', 1, { reason: 'auth' });
      return Promise.reject(new NetworkError('NET_AUTH', `peer authenticated as ${String(context.peerIdentity)} may not speak for ${claimed}`));
    }
    if (request.type === 'ClientForwardRequest') return this.handleForward(request);
    const core = this.core;
    return new Promise<ResponseMessage>((resolve, reject) => {
      const token = this.nextReplyToken;
      this.nextReplyToken += 1;
      this.replies.set(token, { resolve });
      const result = core.step({ kind: 'request', from: claimed, replyTo: token, request });
      if (!result.ok) {
        this.replies.delete(token);
        this.protocolViolation(claimed, result.reason);
        reject(new NetworkError('NET_REJECTED', result.reason));
        return;
      }
      this.scheduleReady();
    });
  }

  private async handleForward(request: ClientForwardRequest): Promise<ClientForwardResponse> {
    const timeoutMs = Math.min(request.timeoutMs, 60_000);
    try {
      // Forwarded requests run here or fail: they are never forwarded a second time.
      const result = await this.forwarding.runLocally(request.kind, request.payload, timeoutMs);
      return { type: 'ClientForwardResponse', code: '', message: '', leaderHint: this.getLeaderId(), result };
    } catch (error) {
      const code = error instanceof RaftError ? error.code : 'RAFT_INVARIANT';
      const hint = error instanceof NotLeaderError ? error.leaderHint : this.getLeaderId();
      return { type: 'ClientForwardResponse', code, message: error instanceof Error ? error.message : String(error), leaderHint: hint, result: new Uint8Array(0) };
    }
  }

  // -------------------------------------------------------------------------------------------
  // Client operations
  // -------------------------------------------------------------------------------------------

  async submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const core = this.requireRunningCore();
    if (command.byteLength > this.options.raft.commandBytesMax) {
      throw new ProposalError('RAFT_PROPOSAL_DROPPED', `command of ${command.byteLength} bytes exceeds commandBytesMax ${this.options.raft.commandBytesMax}`);
    }
    this.pending.checkRoom();
    const result = core.propose(command);
    if (!result.ok) throw proposeError(result);
    this.deps.metrics.increment('raft_proposals_total');
    const applied = this.pending.waitForApply(result.index, result.term, timeoutMs);
    this.scheduleReady();
    return applied;
  }

  async readState(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const core = this.requireRunningCore();
    if (core.getRole() !== 'leader') throw new NotLeaderError(core.getLeaderId());
    this.pending.checkRoom();
    const { token, index } = this.pending.addRead(timeoutMs);
    const registered = core.readIndex(token);
    if (!registered.ok) {
      const error = registered.reason === 'not-leader' ? new NotLeaderError(core.getLeaderId()) : new ProposalError('RAFT_BUSY', registered.message);
      this.pending.dropRead(token, error);
    }
    this.scheduleReady();
    await index;
    return this.deps.stateMachine.query(query);
  }

  /** Runs a write on the leader, forwarding it there from a follower. */
  submitAnywhere(command: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.forwarding.run('write', command, timeoutMs);
  }

  /** Runs a linearizable read on the leader, forwarding it there from a follower. */
  readAnywhere(query: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.forwarding.run('read', query, timeoutMs);
  }

  /** Runs a signed administration command (an envelope) on the leader, forwarding it there from a follower. */
  async adminAnywhere(envelope: Uint8Array, timeoutMs: number): Promise<AdminResult> {
    return decodeAdminResult(await this.forwarding.run('admin', envelope, timeoutMs));
  }

  /** Runs a signed administration command on this node, which must lead; ForbiddenError when it is not authorized. */
  runAdmin(payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.admin.runOnLeader(payload, timeoutMs);
  }

  /** Takes a snapshot now on the authority of a signed snapshot command naming this node. */
  snapshotSigned(envelope: Uint8Array): Promise<LogIndex> {
    return this.admin.snapshotHere(envelope);
  }

  /** Answers a query from this node's state machine without any check (a stale read). */
  readLocal(query: Uint8Array): Uint8Array {
    this.requireRunningCore();
    return this.deps.stateMachine.query(query);
  }

  /** @internal Resolves once a leader is known (or after `timeoutMs`). */
  waitForLeader(timeoutMs: number): Promise<void> {
    if (this.getLeaderId() !== null || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.deps.timers.setTimer(timeoutMs, () => {
        this.leaderWaiters = this.leaderWaiters.filter((w) => w !== done);
        resolve();
      });
      const done = (): void => {
        timer.cancel();
        resolve();
      };
      if (this.leaderWaiters.length >= this.options.raft.pendingRequestsMax) {
        done();
        return;
      }
      this.leaderWaiters.push(done);
    });
  }

  private requireRunningCore(): RaftCore {
    if (!this.running) throw new StoppedError();
    return this.requireCore();
  }

  // -------------------------------------------------------------------------------------------
  // Membership and leadership
  // -------------------------------------------------------------------------------------------

  addServer(node: NodeId, address: string, options: AddServerOptions = {}): Promise<boolean> {
    return this.membershipDriver.addServer(node, address, options.learner ?? false);
  }

  removeServer(node: NodeId): Promise<boolean> {
    return this.membershipDriver.removeServer(node);
  }

  async transferLeadership(to: NodeId | null, timeoutMs: number): Promise<NodeId> {
    const core = this.requireRunningCore();
    if (core.getRole() !== 'leader') throw new NotLeaderError(core.getLeaderId());
    const target = to ?? this.mostUpToDateFollower(core);
    if (target === null) throw new ProposalError('RAFT_TRANSFER', 'no other voter to transfer leadership to');
    const result = core.transferLeadership(target);
    if (!result.ok) throw result.reason === 'not-leader' ? new NotLeaderError(core.getLeaderId()) : new ProposalError('RAFT_TRANSFER', result.message);
    this.scheduleReady();
    const deadline = this.deps.timers.nowMs() + timeoutMs;
    while (this.running) {
      const leader = core.getLeaderId();
      if (leader !== null && leader !== this.options.nodeId) return leader;
      const left = deadline - this.deps.timers.nowMs();
      if (left <= 0) break;
      await new Promise<void>((resolve) => this.deps.timers.setTimer(Math.min(left, this.options.raft.tickIntervalMs), resolve));
    }
    throw new TimeoutError(`leadership did not move to ${target} within ${timeoutMs} ms`);
  }

  /** The voter (other than this node) with the highest match index. */
  mostUpToDateFollower(core: RaftCore): NodeId | null {
    const voters = new Set(quorumVoters(core.getConfiguration()).incoming);
    let best: { id: NodeId; match: number } | null = null;
    for (const progress of core.getProgress()) {
      if (!voters.has(progress.id)) continue;
      if (best === null || progress.match > best.match) best = { id: progress.id, match: progress.match };
    }
    return best?.id ?? null;
  }

  // -------------------------------------------------------------------------------------------
  // State queries
  // -------------------------------------------------------------------------------------------

  getNodeId(): NodeId {
    return this.options.nodeId;
  }

  getCurrentTerm(): Term {
    return this.core?.getTerm() ?? 0;
  }

  getState(): ServerState {
    const core = this.core;
    if (core === null) return 'follower';
    const role = core.getRole();
    if (role === 'leader') return 'leader';
    if (role === 'candidate' || role === 'precandidate') return 'candidate';
    return core.getConfiguration().learners.includes(this.options.nodeId) ? 'learner' : 'follower';
  }

  isLeader(): boolean {
    return this.core?.getRole() === 'leader';
  }

  getLeaderId(): NodeId | null {
    return this.core?.getLeaderId() ?? null;
  }

  getStatus(): NodeStatus {
    const core = this.requireCore();
    const config = core.getConfiguration();
    const progress = new Map(core.getProgress().map((p) => [p.id, p.match]));
    const members: MemberStatus[] = allMembers(config).map((id) => ({
      id,
      address: addressOf(config, id),
      role: config.learners.includes(id) ? 'learner' : 'voter',
      matchIndex: core.getRole() !== 'leader' ? null : id === this.options.nodeId ? core.getLastIndex() : (progress.get(id) ?? 0),
    }));
    return {
      nodeId: this.options.nodeId,
      state: this.getState(),
      term: core.getTerm(),
      leaderId: core.getLeaderId(),
      commitIndex: core.getCommitIndex(),
      lastApplied: core.getAppliedIndex(),
      lastLogIndex: core.getLastIndex(),
      snapshotIndex: core.getSnapshotIndex(),
      configuration: config,
      members,
    };
  }

  /** The configuration as of the last applied entry. */
  getAppliedConfiguration(): ClusterConfiguration {
    return this.appliedConfig;
  }
}

function proposeError(result: Exclude<ReturnType<RaftCore['propose']>, { ok: true }>): RaftError {
  switch (result.reason) {
    case 'not-leader':
      return new NotLeaderError(result.leaderHint);
    case 'transferring':
      return new ProposalError('RAFT_TRANSFER', result.message);
    case 'uncommitted-limit':
      return new ProposalError('RAFT_BUSY', result.message);
    case 'change-in-progress':
    case 'invalid-change':
      return errorFromCode('RAFT_MEMBERSHIP', result.message, null);
  }
}
