/**
 * The state of one Raft node and the operations every handler shares (after etcd-io/raft's
 * `raft` struct): the persistent fields (term, vote, log) and the volatile ones, the role
 * transitions (`become*`), the output queues (`send`, `reply`, `emit`) that the facade hands out
 * as a Ready, and the appending of the leader's own entries.
 *
 * This module sits under the handlers: election.ts, replication.ts, follower.ts, commit.ts,
 * read-index.ts and step.ts import it, raft.ts (the facade) imports them, and nothing here
 * imports a handler, so the core has no import circle.
 */
import { assert } from '../../contracts/assert.js';
import { ConfigTracker } from './config-tracker.js';
import { RaftLog } from './log.js';
import { allMembers, isMember, isVoter, isWitness, quorumVoters, sameConfiguration } from './configuration.js';
import type { CoreDeps, CoreOptions, CoreStartState } from './options.js';
import { Progress } from './progress.js';
import type { Prng } from '../../contracts/prng.js';
import { hasQuorum } from './quorum.js';
import { ReadIndexQueue } from './read-queue.js';
import { snapshotRef } from './ready.js';
import type {
  CoreEvent,
  CoreOutboundRequest,
  Outbound,
  ProposeResult,
  ReadState,
  ReceivedChunk,
  Role,
  SnapshotRef,
  SoftState,
} from './ready.js';
import { STRIPPED_WITNESS_VIEW, type WitnessView } from './witness.js';
import type { ClusterConfiguration, EntryType, LogEntry, LogIndex, NodeId, Term } from '../../contracts/log.js';

/** A snapshot being received from the leader, chunk by chunk; dropped when the role or term changes. */
export interface IncomingSnapshot {
  readonly index: LogIndex;
  readonly term: Term;
  readonly totalBytes: number;
  readonly configuration: ClusterConfiguration;
  /**
   * Bytes received: [0, bytesStored) of the image went out in Readies, as {@link ReceivedChunk}s,
   * for the runtime to stream to storage. The core never holds the image (issue 17).
   */
  bytesStored: number;
}

/** What the Ready handed out and not yet advanced covers: its last unstable entry and its last committed one. */
export interface InFlightReady {
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  readonly appliedTo: LogIndex;
}

/** The node's fields and shared operations; every field is internal to agent/core. */
export class CoreState {
  readonly id: NodeId;
  readonly options: CoreOptions;
  readonly prng: Prng;
  /** What witnesses are sent and store. */
  readonly witnessView: WitnessView;
  readonly log: RaftLog;
  readonly configs: ConfigTracker;
  role: Role = 'follower';
  /** Invariant: never decreases. */
  currentTerm: Term;
  votedFor: NodeId | null;
  leaderId: NodeId | null = null;
  /** Per-peer replication state; only on a leader. */
  readonly progress = new Map<NodeId, Progress>();
  /** A voter's match index as the leader counts it (its own: the stable log); one closure, so no allocation. */
  readonly matchIndexOf = (id: NodeId): LogIndex =>
    id === this.id ? this.log.stableIndex : (this.progress.get(id)?.match ?? 0);
  /** Votes received in the current (pre-)campaign. */
  readonly votes = new Map<NodeId, boolean>();
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** The follower leadership is being handed to. */
  transferee: NodeId | null = null;
  readonly reads: ReadIndexQueue;
  /** Per peer, the highest seq of a request it answered in this term as our follower. */
  readonly ackedSeq = new Map<NodeId, number>();
  /** The latest snapshot (its image is on disk only), sent to followers that need it. */
  latestSnapshot: SnapshotRef | null;
  /** A snapshot being received from the leader. */
  incoming: IncomingSnapshot | null = null;
  /** Ask flushReplication to send heartbeats now (for reads). */
  heartbeatNeeded = false;
  /** The sequence number of the next request. Invariant: increases with every request sent. */
  nextSeq = 1;

  // What the next Ready hands out (see raft.ts, takeReady).
  outbox: Outbound[] = [];
  readStates: ReadState[] = [];
  events: CoreEvent[] = [];
  hardStateDirty = false;
  /** Chunks of a snapshot being received, in order, for the runtime to write. */
  receivedChunks: ReceivedChunk[] = [];
  /** A snapshot received whole from the leader, whose image the runtime stores and restores. */
  pendingRestore: SnapshotRef | null = null;
  pendingCompactBefore: LogIndex | null = null;
  lastSoftState: SoftState;
  /** The Ready handed out and not yet advanced; at most one. */
  inFlight: InFlightReady | null = null;

  constructor(deps: CoreDeps, options: CoreOptions, start: CoreStartState) {
    this.id = options.id;
    this.options = options;
    this.prng = deps.prng;
    this.witnessView = deps.witnessView ?? STRIPPED_WITNESS_VIEW;
    assert(options.electionTimeoutMaxTicks > options.electionTimeoutMinTicks, 'election timeout range is not empty');
    assert(
      options.heartbeatTicks > 0 && options.heartbeatTicks < options.electionTimeoutMinTicks,
      'heartbeats are more frequent than elections',
    );
    const snapshot = start.snapshot;
    const reader = deps.logReader;
    const window =
      reader === undefined
        ? null
        : { reader, residentBytesMax: options.residentLogBytesMax ?? Number.POSITIVE_INFINITY };
    const storedLog = start.storedLog ?? null;
    assert(storedLog === null || window !== null, 'a core restored from a stored log has a log reader');
    this.log = new RaftLog(
      snapshot?.lastIncludedIndex ?? 0,
      snapshot?.lastIncludedTerm ?? 0,
      start.entries,
      window,
      storedLog,
    );
    this.latestSnapshot = snapshot === null ? null : snapshotRef(snapshot, snapshot.dataBytes);
    const base =
      snapshot === null
        ? { index: 0, config: start.bootstrap }
        : { index: snapshot.lastIncludedIndex, config: snapshot.configuration };
    // Raft §6: the latest configuration in the log is in force, so configuration entries come whole.
    this.configs = new ConfigTracker(base, storedLog?.configurations ?? start.entries);
    this.currentTerm = start.hardState.currentTerm;
    this.votedFor = start.hardState.votedFor;
    assert(this.log.lastTerm() <= this.currentTerm, 'the log holds no term above the current term');
    this.reads = new ReadIndexQueue(options.pendingReadsMax);
    this.resetRandomizedElectionTimeout();
    assert(this.randomizedElectionTimeout > 0, 'the first election timeout is at least one tick');
    this.lastSoftState = this.softState();
  }

  /**
   * Whether this node is in a brand-new cluster (no term, no vote, no log, no snapshot) as the
   * full voter (not a witness) with the lowest id of its configuration (CoreOptions.earlyFirstCampaign).
   */
  private isFirstOfFreshCluster(): boolean {
    const fresh =
      this.currentTerm === 0 && this.votedFor === null && this.log.lastIndex() === 0 && this.latestSnapshot === null;
    if (!fresh) return false;
    // A witness never campaigns: the lowest-id full voter is the one that goes first.
    const config = this.configs.current();
    const voters = config.voters.filter((id) => !isWitness(config, id)).sort();
    return voters[0] === this.id;
  }

  // -------------------------------------------------------------------------------------------
  // Output
  // -------------------------------------------------------------------------------------------

  /** Queues a request to a peer and returns its sequence number. */
  send(to: NodeId, request: CoreOutboundRequest): number {
    assert(to !== this.id, 'a node sends no request to itself');
    const seq = this.nextSeq;
    this.nextSeq += 1;
    this.outbox.push({ kind: 'request', to, seq, request });
    return seq;
  }

  /** Queues the answer to an inbound request. */
  reply(replyTo: number, response: Extract<Outbound, { kind: 'response' }>['response']): void {
    this.outbox.push({ kind: 'response', replyTo, response });
  }

  /** Queues an event (a role change, a configuration, a warning) for the next Ready. */
  emit(event: CoreEvent): void {
    this.events.push(event);
  }

  /** Marks term and vote as changed, to be persisted before any message is sent. */
  markHardStateDirty(): void {
    this.hardStateDirty = true;
  }

  /** The volatile state the Ready reports when it changes. */
  softState(): SoftState {
    return { role: this.role, term: this.currentTerm, leaderId: this.leaderId };
  }

  // -------------------------------------------------------------------------------------------
  // Questions every handler asks
  // -------------------------------------------------------------------------------------------

  /**
   * True when this node may campaign: it is no witness (which holds no values, so never leads) and
   * votes in the configuration in force; or that configuration leaves it out, is not committed, and
   * it votes in the committed one. That is Raft §6's removed leader: it may step down (check-quorum)
   * before C_new commits, holding with a witness an entry that C_new's full voters lack, and then
   * only it can win the witness's vote and bring them up to date. Votes count in the configuration
   * in force, which leaves its own out: as safe as any election. It steps down once C_new commits.
   */
  isPromotable(): boolean {
    if (this.isSelfWitness()) return false;
    if (isVoter(this.configs.current(), this.id)) return true;
    if (!this.configs.hasUncommitted(this.log.commitIndex)) return false;
    const committed = this.configs.committed().config;
    return isVoter(committed, this.id) && !isWitness(committed, this.id);
  }

  /** True when this node is a witness: set up as one, or named one by the configuration in force. */
  isSelfWitness(): boolean {
    return this.options.witness === true || isWitness(this.configs.current(), this.id);
  }

  /** True while a follower hears from a leader within an election timeout (thesis §4.2.3). */
  inLease(): boolean {
    return (
      this.options.checkQuorum && this.leaderId !== null && this.electionElapsed < this.options.electionTimeoutMinTicks
    );
  }

  /** True when a quorum of voters was heard from since the last check (check-quorum). */
  quorumActive(): boolean {
    return hasQuorum(
      quorumVoters(this.configs.current()),
      (id) => id === this.id || this.progress.get(id)?.recentActive === true,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Role transitions
  // -------------------------------------------------------------------------------------------

  /** Raft §5.1: any higher term turns a node into a follower of that term. */
  becomeFollower(term: Term, leaderId: NodeId | null, reason: string): void {
    assert(term >= this.currentTerm, 'terms never decrease');
    const from = this.role;
    if (term > this.currentTerm) {
      this.currentTerm = term;
      this.votedFor = null;
      this.hardStateDirty = true;
    }
    this.role = 'follower';
    this.leaderId = leaderId;
    this.resetRoleState();
    if (from !== 'follower') this.events.push({ kind: 'role', from, to: 'follower', term, reason });
  }

  /** Thesis §9.6: asks for pre-votes for term + 1 without changing term or vote. */
  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not pre-campaign');
    const from = this.role;
    this.role = 'precandidate';
    this.leaderId = null;
    this.resetRoleState();
    this.events.push({ kind: 'role', from, to: 'precandidate', term: this.currentTerm, reason: 'election timeout' });
  }

  /** Raft §5.2: term + 1 and a vote for itself, persisted before the vote requests leave. */
  becomeCandidate(reason: string): void {
    assert(this.role !== 'leader', 'a leader does not campaign');
    const from = this.role;
    this.currentTerm += 1;
    this.votedFor = this.id;
    this.hardStateDirty = true;
    this.role = 'candidate';
    this.leaderId = null;
    this.resetRoleState();
    this.events.push({ kind: 'role', from, to: 'candidate', term: this.currentTerm, reason });
  }

  /** Raft §5.2 and §8: a new leader appends a no-op to commit entries of past terms. */
  becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    assert(this.votedFor === this.id, 'a leader voted for itself');
    const from = this.role;
    this.role = 'leader';
    this.leaderId = this.id;
    this.resetRoleState();
    for (const id of allMembers(this.configs.current())) {
      if (id !== this.id) this.progress.set(id, this.newProgress());
    }
    this.events.push({ kind: 'role', from, to: 'leader', term: this.currentTerm, reason: 'won the election' });
    this.appendEntry('noop', new Uint8Array(0));
  }

  private resetRoleState(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    for (const id of this.progress.keys()) this.abandonSnapshotSend(id);
    this.progress.clear();
    this.votes.clear();
    this.ackedSeq.clear();
    if (this.transferee !== null) this.events.push({ kind: 'transfer', to: this.transferee, outcome: 'aborted' });
    this.transferee = null;
    this.heartbeatNeeded = false;
    // A transfer belongs to the leader of the term: the next one starts again at offset 0.
    this.incoming = null;
    for (const token of this.reads.abortAll()) this.readStates.push({ token, index: null });
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.prng.intBetween(
      this.options.electionTimeoutMinTicks,
      this.options.electionTimeoutMaxTicks,
    );
    // See CoreOptions.earlyFirstCampaign: while the cluster is brand-new, its lowest-id voter
    // (pre-)campaigns every heartbeat interval, so a first pre-vote that reached no one (its
    // peers were still starting) is retried soon. The draw above is made all the same, so the
    // Prng's sequence does not depend on the option.
    if (this.options.earlyFirstCampaign === true && this.isFirstOfFreshCluster())
      this.randomizedElectionTimeout = this.options.heartbeatTicks;
  }

  // -------------------------------------------------------------------------------------------
  // The leader's log and its followers
  // -------------------------------------------------------------------------------------------

  /** The leader's tracking of a follower it knows nothing about yet: probe from its own last index + 1. */
  newProgress(): Progress {
    return new Progress(this.log.lastIndex() + 1, this.options.inflightCountMax, this.options.inflightBytesMax);
  }

  /** Reports a snapshot transfer to `id` that ends unfinished because the leader stops tracking `id`. */
  private abandonSnapshotSend(id: NodeId): void {
    const progress = this.progress.get(id);
    if (progress === undefined || progress.state !== 'snapshot') return;
    this.events.push({ kind: 'snapshot-done', to: id, index: progress.pendingSnapshot, outcome: 'abandoned' });
  }

  /** Keeps the leader's progress map in step with the configuration in force. */
  onConfigurationChanged(): void {
    const config = this.configs.current();
    this.events.push({ kind: 'config', index: this.configs.currentIndex(), configuration: config });
    if (this.role !== 'leader') return;
    const members = new Set(allMembers(config));
    for (const id of [...this.progress.keys()]) {
      if (members.has(id)) continue;
      this.abandonSnapshotSend(id);
      this.progress.delete(id);
    }
    for (const id of members) if (id !== this.id && !this.progress.has(id)) this.progress.set(id, this.newProgress());
    if (this.transferee !== null && !isMember(config, this.transferee)) this.transferee = null;
  }

  /**
   * Appends an entry of the leader's own to its log; replication.ts sends it on the next flush.
   * During a leadership transfer proposals are refused, but not the protocol's own steps (`own`:
   * C_new leaving a committed joint configuration, Raft §6), which no later event would redo.
   */
  appendEntry(type: EntryType, command: Uint8Array, own = false): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leaderHint: this.leaderId };
    if (this.transferee !== null && type !== 'noop' && !own) {
      return { ok: false, reason: 'transferring', message: `leadership is being transferred to ${this.transferee}` };
    }
    if (type === 'command' && this.log.uncommittedBytes() + command.byteLength > this.options.uncommittedBytesMax) {
      return {
        ok: false,
        reason: 'uncommitted-limit',
        message: `more than ${this.options.uncommittedBytesMax} bytes uncommitted`,
      };
    }
    const entry: LogEntry = { term: this.currentTerm, index: this.log.lastIndex() + 1, type, command };
    this.log.appendOwn(entry);
    if (type === 'config') {
      const before = this.configs.current();
      this.configs.append([entry]);
      if (!sameConfiguration(before, this.configs.current())) this.onConfigurationChanged();
    }
    // A single-voter cluster commits as soon as the entry is stable; flushReplication sends it.
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** Checks the invariants of the whole node; the simulator calls it after every step. */
  checkInvariants(): void {
    this.log.checkInvariants();
    assert(this.log.lastTerm() <= this.currentTerm, 'no log term above the current term');
    if (this.role === 'leader' || this.role === 'candidate' || this.role === 'precandidate')
      assert(this.options.witness !== true, 'a witness never campaigns and never leads');
    if (this.role === 'leader') {
      assert(this.leaderId === this.id, 'a leader knows it leads');
      assert(this.votedFor === this.id, 'a leader voted for itself in its term');
      const config = this.configs.current();
      for (const list of [config.voters, config.learners, config.oldVoters ?? []]) {
        for (const id of list) if (id !== this.id) assert(this.progress.has(id), `the leader tracks member ${id}`);
      }
      for (const progress of this.progress.values()) progress.checkInvariants();
    } else {
      assert(this.progress.size === 0, 'only a leader tracks progress');
    }
    if (this.role === 'candidate') assert(this.votedFor === this.id, 'a candidate voted for itself');
    this.configs.checkInvariants(this.log.commitIndex, this.log.lastIndex());
  }
}
