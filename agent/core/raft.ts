/**
 * The Raft core: a pure, synchronous, deterministic state machine (after etcd-io/raft's
 * RawNode). Input arrives only through `tick()`, `step(input)`, `propose(...)`, `readIndex(...)`,
 * `transferLeadership(...)` and `compact(...)`; randomness only from the injected Prng; output
 * leaves only as the `Ready` value of `takeReady()`. It does no I/O, reads no clock and starts
 * no timer, so a whole cluster of cores can be simulated exactly from a seed.
 *
 * This file holds the node's state, its public API and its role transitions; step.ts
 * dispatches inputs to the message handlers of election.ts (votes and pre-votes) and
 * replication.ts (appends, snapshots, commitment), which operate on this class's fields.
 */
import { assert, assertNever } from './assert.js';
import { campaign } from './election.js';
import { RaftLog } from './log.js';
import { allMembers, encodeConfiguration, isMember, isVoter, quorumVoters, sameConfiguration, transitionProblem } from './membership.js';
import { Progress } from './progress.js';
import type { Prng } from './prng.js';
import { hasQuorum } from './quorum.js';
import { ReadIndexQueue } from './read-index.js';
import type { CoreEvent, CoreInput, CoreRequest, Outbound, Ready, ReadState, Role, SoftState, StepResult } from './ready.js';
import {
  flushReplication,
  handleUnreachable,
  maybeCommit,
  sendHeartbeats,
  sendTimeoutNow,
} from './replication.js';
import type { IncomingSnapshot } from './replication.js';
import { ConfigTracker } from './config-tracker.js';
import { stepRequest, stepResponse } from './step.js';
import { inputProblem } from './validate.js';
import type { ClusterConfiguration, EntryType, HardState, LogEntry, LogIndex, NodeId, Snapshot, Term } from './types.js';

/** Options of the core, in ticks and bytes. The runtime derives them from RaftConfiguration. */
export interface CoreOptions {
  readonly id: NodeId;
  /** Lower bound of the randomized election timeout, ticks; also the leader's check-quorum period. */
  readonly electionTimeoutMinTicks: number;
  /** Upper bound (exclusive) of the randomized election timeout, ticks. */
  readonly electionTimeoutMaxTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxEntriesPerAppend: number;
  readonly appendBytesMax: number;
  readonly inflightCountMax: number;
  readonly inflightBytesMax: number;
  readonly uncommittedBytesMax: number;
  readonly pendingReadsMax: number;
  readonly snapshotChunkBytes: number;
  /** Largest snapshot accepted from a leader, bytes. */
  readonly snapshotBytesMax: number;
  /** Most committed-entry bytes handed out to apply in one Ready (at least one entry). */
  readonly applyBytesMax: number;
}

/** Dependencies of the core: only randomness. */
export interface CoreDeps {
  readonly prng: Prng;
}

/** What a core starts from: what the node persisted, and the cluster to bootstrap without a log. */
export interface CoreStartState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly LogEntry[];
  /** The configuration in force when neither the snapshot nor the log holds one. */
  readonly bootstrap: ClusterConfiguration;
}

/** The outcome of a proposal. */
export type ProposeResult =
  | { readonly ok: true; readonly index: LogIndex; readonly term: Term }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leaderHint: NodeId | null }
  | { readonly ok: false; readonly reason: 'transferring' | 'uncommitted-limit' | 'change-in-progress' | 'invalid-change'; readonly message: string };

/** The outcome of a read or transfer request. */
export type RequestResult = { readonly ok: true } | { readonly ok: false; readonly reason: 'not-leader' | 'busy' | 'invalid'; readonly message: string };

/** A progress report on one member, for the runtime's status. */
export interface MemberProgress {
  readonly id: NodeId;
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: string;
  readonly recentActive: boolean;
}

export class RaftCore {
  readonly id: NodeId;
  /** @internal */ readonly options: CoreOptions;
  /** @internal */ readonly prng: Prng;
  /** @internal */ readonly log: RaftLog;
  /** @internal */ readonly configs: ConfigTracker;
  /** @internal */ role: Role = 'follower';
  /** Invariant: never decreases. */
  /** @internal */ currentTerm: Term;
  /** @internal */ votedFor: NodeId | null;
  /** @internal */ leaderId: NodeId | null = null;
  /** @internal Per-peer replication state; only on a leader. */ readonly progress = new Map<NodeId, Progress>();
  /** @internal Votes received in the current (pre-)campaign. */ readonly votes = new Map<NodeId, boolean>();
  /** @internal */ electionElapsed = 0;
  /** @internal */ heartbeatElapsed = 0;
  /** @internal */ randomizedElectionTimeout = 0;
  /** @internal The follower leadership is being handed to. */ transferee: NodeId | null = null;
  /** @internal */ readonly reads: ReadIndexQueue;
  /** @internal Per peer, the highest seq of a request it answered in this term as our follower. */ readonly ackedSeq = new Map<NodeId, number>();
  /** @internal The latest snapshot, sent to followers that need it. */ latestSnapshot: Snapshot | null;
  /** @internal A snapshot being received from the leader. */ incoming: IncomingSnapshot | null = null;
  /** @internal Ask flushReplication to send heartbeats now (for reads). */ heartbeatNeeded = false;
  /** @internal */ private nextSeq = 1;
  private outbox: Outbound[] = [];
  private readStates: ReadState[] = [];
  private events: CoreEvent[] = [];
  private hardStateDirty = false;
  private pendingRestore: Snapshot | null = null;
  private pendingCompactBefore: LogIndex | null = null;
  private lastSoftState: SoftState;
  /** The Ready handed out and not yet advanced; at most one. */
  private inFlight: { readonly lastIndex: LogIndex; readonly lastTerm: Term; readonly appliedTo: LogIndex } | null = null;

  constructor(deps: CoreDeps, options: CoreOptions, start: CoreStartState) {
    this.id = options.id;
    this.options = options;
    this.prng = deps.prng;
    assert(options.electionTimeoutMaxTicks > options.electionTimeoutMinTicks, 'election timeout range is not empty');
    assert(options.heartbeatTicks > 0 && options.heartbeatTicks < options.electionTimeoutMinTicks, 'heartbeats are more frequent than elections');
    const snapshot = start.snapshot;
    this.log = new RaftLog(snapshot?.lastIncludedIndex ?? 0, snapshot?.lastIncludedTerm ?? 0, start.entries);
    this.latestSnapshot = snapshot;
    this.configs = new ConfigTracker(snapshot === null ? { index: 0, config: start.bootstrap } : { index: snapshot.lastIncludedIndex, config: snapshot.configuration }, start.entries);
    this.currentTerm = start.hardState.currentTerm;
    this.votedFor = start.hardState.votedFor;
    assert(this.log.lastTerm() <= this.currentTerm, 'the log holds no term above the current term');
    this.reads = new ReadIndexQueue(options.pendingReadsMax);
    this.resetRandomizedElectionTimeout();
    this.lastSoftState = this.softState();
  }

  // -------------------------------------------------------------------------------------------
  // Public API
  // -------------------------------------------------------------------------------------------

  /** Advances logical time by one tick: elections on followers, heartbeats on the leader. */
  tick(): void {
    if (this.role === 'leader') {
      this.tickLeader();
      return;
    }
    this.electionElapsed += 1;
    if (this.isPromotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      campaign(this, this.options.preVote ? 'pre' : 'real', false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed += 1;
    this.electionElapsed += 1;
    if (this.electionElapsed >= this.options.electionTimeoutMinTicks) {
      this.electionElapsed = 0;
      if (this.options.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.currentTerm, null, 'check-quorum: no quorum heard from within an election timeout');
        return;
      }
      for (const progress of this.progress.values()) progress.recentActive = false;
      if (this.transferee !== null) {
        this.events.push({ kind: 'transfer', to: this.transferee, outcome: 'aborted' });
        this.transferee = null;
      }
    }
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      sendHeartbeats(this);
    }
  }

  /** Handles one input; a rejected input changed nothing. */
  step(input: CoreInput): StepResult {
    const problem = inputProblem(input);
    if (problem !== null) return { ok: false, reason: problem };
    switch (input.kind) {
      case 'request':
        return stepRequest(this, input);
      case 'response':
        return stepResponse(this, input);
      case 'unreachable':
        handleUnreachable(this, input.to, input.request);
        return { ok: true };
      default:
        return assertNever(input);
    }
  }

  /** Proposes a command (or a no-op); only a leader accepts. */
  propose(command: Uint8Array): ProposeResult {
    return this.appendProposal('command', command);
  }

  /**
   * Proposes the next cluster configuration (Raft §6): a learner change, or the joint
   * configuration C_old,new that starts a voter change; the core itself proposes C_new once
   * C_old,new is committed. One change at a time.
   */
  proposeConfiguration(next: ClusterConfiguration): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leaderHint: this.leaderId };
    if (this.configs.hasUncommitted(this.log.commitIndex)) {
      return { ok: false, reason: 'change-in-progress', message: 'a membership change is still being committed' };
    }
    if (this.log.term(this.log.commitIndex) !== this.currentTerm) {
      return { ok: false, reason: 'change-in-progress', message: 'the leader has not yet committed an entry of its term' };
    }
    const problem = transitionProblem(this.configs.current(), next);
    if (problem !== null) return { ok: false, reason: problem.includes('in progress') ? 'change-in-progress' : 'invalid-change', message: problem };
    return this.appendProposal('config', encodeConfiguration(next));
  }

  /** Registers a linearizable read (ReadIndex); its ReadState comes out in a later Ready. */
  readIndex(token: number): RequestResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', message: 'reads are served by the leader' };
    if (this.reads.isFull()) return { ok: false, reason: 'busy', message: `more than ${this.options.pendingReadsMax} reads pending` };
    if (this.log.term(this.log.commitIndex) !== this.currentTerm) {
      // Thesis §6.4 step 1: the leader must first commit an entry of its own term.
      this.reads.addWaiting(token);
      return { ok: true };
    }
    this.reads.add(token, this.log.commitIndex, this.nextSeq);
    this.heartbeatNeeded = true;
    this.maybeConfirmReads();
    return { ok: true };
  }

  /** Starts handing leadership to `to` (thesis §3.10); proposals are refused meanwhile. */
  transferLeadership(to: NodeId): RequestResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', message: 'only the leader transfers leadership' };
    if (to === this.id) return { ok: false, reason: 'invalid', message: 'the leader cannot transfer to itself' };
    if (!this.configs.current().voters.includes(to)) return { ok: false, reason: 'invalid', message: `${to} is not a voter` };
    if (this.transferee === to) return { ok: true };
    this.transferee = to;
    this.electionElapsed = 0;
    this.events.push({ kind: 'transfer', to, outcome: 'started' });
    const progress = this.progress.get(to);
    if (progress !== undefined && progress.match === this.log.lastIndex()) sendTimeoutNow(this, to);
    return { ok: true };
  }

  /**
   * Records a snapshot the state machine took at `snapshot.lastIncludedIndex` (applied) and
   * compacts the log before `compactBefore`, keeping later entries for lagging followers.
   */
  compact(snapshot: Snapshot, compactBefore: LogIndex): void {
    const index = snapshot.lastIncludedIndex;
    assert(index <= this.log.appliedIndex, 'a snapshot covers only applied entries');
    if (index <= this.log.snapshotIndex()) return;
    const from = Math.max(this.log.firstIndex(), Math.min(compactBefore, index + 1));
    this.log.compact(index, snapshot.lastIncludedTerm, from);
    this.latestSnapshot = snapshot;
    this.pendingCompactBefore = from;
  }

  // -------------------------------------------------------------------------------------------
  // Ready / advance
  // -------------------------------------------------------------------------------------------

  /** True when takeReady would return something to do. */
  hasReady(): boolean {
    if (this.inFlight !== null) return false;
    flushReplication(this);
    return (
      this.outbox.length > 0 ||
      this.hardStateDirty ||
      this.log.hasUnstable() ||
      this.pendingRestore !== null ||
      this.pendingCompactBefore !== null ||
      this.log.hasCommittedToApply() ||
      this.readStates.length > 0 ||
      this.events.length > 0 ||
      !sameSoftState(this.lastSoftState, this.softState())
    );
  }

  /** Hands out everything to do; no other Ready is handed out until `advance`. */
  takeReady(): Ready {
    assert(this.inFlight === null, 'one Ready at a time');
    flushReplication(this);
    const softState = this.softState();
    const softChanged = !sameSoftState(this.lastSoftState, softState);
    this.lastSoftState = softState;
    const unstable = this.log.takeUnstable();
    const committed = this.log.takeCommitted(this.options.applyBytesMax);
    const ready: Ready = {
      hardState: this.hardStateDirty ? { currentTerm: this.currentTerm, votedFor: this.votedFor } : null,
      snapshot: this.pendingRestore,
      truncateFrom: unstable.truncateFrom,
      entries: unstable.entries,
      compactBefore: this.pendingCompactBefore ?? (this.pendingRestore === null ? null : this.pendingRestore.lastIncludedIndex + 1),
      committed,
      messages: this.outbox,
      readStates: this.readStates,
      softState: softChanged ? softState : null,
      events: this.events,
    };
    const lastEntry = unstable.entries[unstable.entries.length - 1];
    this.inFlight = {
      lastIndex: lastEntry?.index ?? 0,
      lastTerm: lastEntry?.term ?? 0,
      appliedTo: committed[committed.length - 1]?.index ?? 0,
    };
    this.hardStateDirty = false;
    this.pendingRestore = null;
    this.pendingCompactBefore = null;
    this.outbox = [];
    this.readStates = [];
    this.events = [];
    return ready;
  }

  /** The runtime has persisted, sent and applied `ready`. */
  advance(ready: Ready): void {
    const inFlight = this.inFlight;
    assert(inFlight !== null, 'advance follows takeReady');
    this.inFlight = null;
    if (inFlight.lastIndex > 0) this.log.stableTo(inFlight.lastIndex, inFlight.lastTerm);
    if (inFlight.appliedTo > 0) this.log.appliedTo(inFlight.appliedTo);
    void ready;
    if (this.role === 'leader') maybeCommit(this);
  }

  // -------------------------------------------------------------------------------------------
  // Status
  // -------------------------------------------------------------------------------------------

  getRole(): Role {
    return this.role;
  }

  getTerm(): Term {
    return this.currentTerm;
  }

  getLeaderId(): NodeId | null {
    return this.leaderId;
  }

  getConfiguration(): ClusterConfiguration {
    return this.configs.current();
  }

  /** True while a configuration entry above the commit index is in the log. */
  hasUncommittedConfiguration(): boolean {
    return this.configs.hasUncommitted(this.log.commitIndex);
  }

  getCommitIndex(): LogIndex {
    return this.log.commitIndex;
  }

  getAppliedIndex(): LogIndex {
    return this.log.appliedIndex;
  }

  getLastIndex(): LogIndex {
    return this.log.lastIndex();
  }

  getSnapshotIndex(): LogIndex {
    return this.log.snapshotIndex();
  }

  /** Bytes of log since the latest snapshot (what the snapshot threshold is compared with). */
  getUncommittedBytes(): number {
    return this.log.uncommittedBytes();
  }

  /** The term of the entry at `index`, or null when it is not held. */
  termAt(index: LogIndex): Term | null {
    return this.log.term(index);
  }

  /** Entries held in [from, to], for the simulator's checks. */
  entriesBetween(from: LogIndex, to: LogIndex): LogEntry[] {
    const start = Math.max(from, this.log.firstIndex());
    if (to < start) return [];
    return this.log.slice(start, to - start + 1, Number.MAX_SAFE_INTEGER) ?? [];
  }

  /** On a leader, the replication progress of every other member. */
  getProgress(): MemberProgress[] {
    return [...this.progress.entries()].map(([id, p]) => ({ id, match: p.match, next: p.next, state: p.state, recentActive: p.recentActive }));
  }

  getTransferee(): NodeId | null {
    return this.transferee;
  }

  // -------------------------------------------------------------------------------------------
  // Internals shared with election.ts and replication.ts
  // -------------------------------------------------------------------------------------------

  /** @internal Queues a request to a peer and returns its sequence number. */
  send(to: NodeId, request: CoreRequest): number {
    assert(to !== this.id, 'a node sends no request to itself');
    const seq = this.nextSeq;
    this.nextSeq += 1;
    this.outbox.push({ kind: 'request', to, seq, request });
    return seq;
  }

  /** @internal Queues the answer to an inbound request. */
  reply(replyTo: number, response: Extract<Outbound, { kind: 'response' }>['response']): void {
    this.outbox.push({ kind: 'response', replyTo, response });
  }

  /** @internal */
  emit(event: CoreEvent): void {
    this.events.push(event);
  }

  /** @internal Marks term and vote as changed, to be persisted before any message is sent. */
  markHardStateDirty(): void {
    this.hardStateDirty = true;
  }

  /** @internal Hands a snapshot received from the leader to the runtime. */
  restoreFromLeader(snapshot: Snapshot): void {
    this.log.restoreSnapshot(snapshot.lastIncludedIndex, snapshot.lastIncludedTerm);
    this.latestSnapshot = snapshot;
    this.pendingRestore = snapshot;
    this.configs.restore({ index: snapshot.lastIncludedIndex, config: snapshot.configuration }, this.log.entriesAfter(snapshot.lastIncludedIndex));
    this.onConfigurationChanged();
  }

  /** @internal True when this node may campaign: it votes in the configuration in force. */
  isPromotable(): boolean {
    return isVoter(this.configs.current(), this.id);
  }

  /** @internal True while a follower hears from a leader within an election timeout (thesis §4.2.3). */
  inLease(): boolean {
    return this.options.checkQuorum && this.leaderId !== null && this.electionElapsed < this.options.electionTimeoutMinTicks;
  }

  /** @internal */
  quorumActive(): boolean {
    return hasQuorum(quorumVoters(this.configs.current()), (id) => id === this.id || this.progress.get(id)?.recentActive === true);
  }

  /** @internal Confirms reads whose leadership check a quorum has acknowledged. */
  maybeConfirmReads(): void {
    const voters = quorumVoters(this.configs.current());
    const confirmed = this.reads.takeConfirmed((seq) => hasQuorum(voters, (id) => id === this.id || (this.ackedSeq.get(id) ?? 0) >= seq));
    for (const read of confirmed) this.readStates.push(read);
  }

  /** @internal Called when the leader's commit index advances. */
  onCommitAdvanced(): void {
    this.configs.commitTo(this.log.commitIndex);
    if (this.role !== 'leader') return;
    if (this.reads.hasWaiting() && this.log.term(this.log.commitIndex) === this.currentTerm) {
      this.reads.releaseWaiting(this.log.commitIndex, this.nextSeq);
      this.heartbeatNeeded = true;
    }
    const config = this.configs.current();
    if (this.configs.hasUncommitted(this.log.commitIndex)) return;
    if (config.oldVoters !== null) {
      // The joint configuration is committed: move on to C_new (Raft §6).
      this.appendProposal('config', encodeConfiguration(this.configs.leaveJointConfiguration()));
      return;
    }
    if (!isVoter(config, this.id)) {
      this.becomeFollower(this.currentTerm, null, 'removed from the configuration, which is now committed');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Role transitions
  // -------------------------------------------------------------------------------------------

  /** @internal Raft §5.1: any higher term turns a node into a follower of that term. */
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

  /** @internal */
  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not pre-campaign');
    const from = this.role;
    this.role = 'precandidate';
    this.leaderId = null;
    this.resetRoleState();
    this.events.push({ kind: 'role', from, to: 'precandidate', term: this.currentTerm, reason: 'election timeout' });
  }

  /** @internal */
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

  /** @internal Raft §5.2 and §8: a new leader appends a no-op to commit entries of past terms. */
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
    this.appendProposal('noop', new Uint8Array(0));
  }

  private resetRoleState(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.progress.clear();
    this.votes.clear();
    this.ackedSeq.clear();
    if (this.transferee !== null) this.events.push({ kind: 'transfer', to: this.transferee, outcome: 'aborted' });
    this.transferee = null;
    this.heartbeatNeeded = false;
    for (const token of this.reads.abortAll()) this.readStates.push({ token, index: null });
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.prng.intBetween(this.options.electionTimeoutMinTicks, this.options.electionTimeoutMaxTicks);
  }

  /** @internal */
  newProgress(): Progress {
    return new Progress(this.log.lastIndex() + 1, this.options.inflightCountMax, this.options.inflightBytesMax);
  }

  /** @internal Keeps the leader's progress map in step with the configuration in force. */
  onConfigurationChanged(): void {
    const config = this.configs.current();
    this.events.push({ kind: 'config', index: this.configs.currentIndex(), configuration: config });
    if (this.role !== 'leader') return;
    const members = new Set(allMembers(config));
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) if (id !== this.id && !this.progress.has(id)) this.progress.set(id, this.newProgress());
    if (this.transferee !== null && !isMember(config, this.transferee)) this.transferee = null;
  }

  private appendProposal(type: EntryType, command: Uint8Array): ProposeResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leaderHint: this.leaderId };
    if (this.transferee !== null && type !== 'noop') {
      return { ok: false, reason: 'transferring', message: `leadership is being transferred to ${this.transferee}` };
    }
    if (type === 'command' && this.log.uncommittedBytes() + command.byteLength > this.options.uncommittedBytesMax) {
      return { ok: false, reason: 'uncommitted-limit', message: `more than ${this.options.uncommittedBytesMax} bytes uncommitted` };
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

  private softState(): SoftState {
    return { role: this.role, term: this.currentTerm, leaderId: this.leaderId };
  }

  /** Checks the invariants of the whole core; the simulator calls it after every step. */
  checkInvariants(): void {
    this.log.checkInvariants();
    assert(this.log.lastTerm() <= this.currentTerm, 'no log term above the current term');
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

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.term === b.term && a.leaderId === b.leaderId;
}
