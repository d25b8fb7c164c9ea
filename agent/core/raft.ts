/**
 * The Raft core: a pure, synchronous, deterministic state machine (after etcd-io/raft's
 * RawNode). Input arrives only through `tick()`, `step(input)`, `propose(...)`, `readIndex(...)`,
 * `transferLeadership(...)` and `compact(...)`; randomness only from the injected Prng; output
 * leaves only as the `Ready` value of `takeReady()`. It does no I/O, reads no clock and starts
 * no timer, so a whole cluster of cores can be simulated exactly from a seed.
 *
 * This file is the facade: the public API, the clock (tick) and the Ready/advance hand-off.
 * The node's fields, role transitions and output queues are in state.ts; step.ts dispatches
 * inputs to the handlers of election.ts (votes and pre-votes), replication.ts (the leader's
 * appends and snapshots), follower.ts (the follower's side), commit.ts and read-index.ts.
 * Imports run one way: this file → handlers → state.ts.
 */
import { assert, assertNever } from '../../contracts/assert.js';
import { maybeCommit } from './commit.js';
import { campaign } from './election.js';
import { encodeConfiguration, isWitness, transitionProblem } from './configuration.js';
import { isReceivingSnapshot } from './follower.js';
import type { CoreDeps, CoreOptions, CoreStartState } from './options.js';
import { requestRead } from './read-index.js';
import { compactionPoint, followerReceivingSnapshot, memberProgress, retainStalledTicksMax } from './retention.js';
import type { LogRetention, MemberProgress } from './retention.js';
import { snapshotRef } from './ready.js';
import type {
  CoreInput,
  ProposeResult,
  Ready,
  ReceivedChunk,
  RequestResult,
  Role,
  SnapshotRef,
  SoftState,
  StepResult,
} from './ready.js';
import { flushReplication, handleUnreachable, sendHeartbeats, sendTimeoutNow } from './replication.js';
import { CoreState } from './state.js';
import { stepRequest, stepResponse } from './step.js';
import { inputProblem } from './validate.js';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, Term } from '../../contracts/log.js';
import type { LogMemory } from '../../contracts/raft-node.js';

// The option and result types stay importable from here, where the runtime imports them.
export type { CoreDeps, CoreOptions, CoreStartState } from './options.js';
export type { ProposeResult, RequestResult } from './ready.js';
export type { LogRetention, MemberProgress } from './retention.js';

/** One Raft node's algorithm: feed it ticks and messages, take its Readies, advance them. */
export class RaftCore {
  readonly id: NodeId;
  private readonly state: CoreState;

  constructor(deps: CoreDeps, options: CoreOptions, start: CoreStartState) {
    this.id = options.id;
    this.state = new CoreState(deps, options, start);
  }

  // -------------------------------------------------------------------------------------------
  // Input
  // -------------------------------------------------------------------------------------------

  /** Advances logical time by one tick: elections on followers, heartbeats on the leader. */
  tick(): void {
    const s = this.state;
    if (s.role === 'leader') {
      this.tickLeader();
      return;
    }
    s.electionElapsed += 1;
    if (s.isPromotable() && s.electionElapsed >= s.randomizedElectionTimeout) {
      s.electionElapsed = 0;
      campaign(s, s.options.preVote ? 'pre' : 'real', false);
    }
  }

  /**
   * The fewest ticks after which `tick()` may do more than count: a follower's or candidate's
   * election timeout, a leader's heartbeat round or its check-quorum. The ticks before that only
   * advance counters, so a driver may let them accumulate and apply them just before the next
   * input (step, propose, read, any query), which leaves the core in the state the fixed tick
   * would have; only the due tick needs a timer of its own. At least 1.
   */
  ticksUntilDue(): number {
    const s = this.state;
    if (s.role === 'leader') {
      return Math.max(
        1,
        Math.min(s.options.heartbeatTicks - s.heartbeatElapsed, s.options.electionTimeoutMinTicks - s.electionElapsed),
      );
    }
    // A learner never campaigns: its ticks only age its lease; it is asked again at the latest
    // an election timeout later (the driver applies the ticks before any input anyway).
    if (!s.isPromotable()) return s.options.electionTimeoutMaxTicks;
    return Math.max(1, s.randomizedElectionTimeout - s.electionElapsed);
  }

  private tickLeader(): void {
    const s = this.state;
    s.heartbeatElapsed += 1;
    s.electionElapsed += 1;
    const lastIndex = s.log.lastIndex();
    for (const progress of s.progress.values()) progress.tick(lastIndex);
    if (s.electionElapsed >= s.options.electionTimeoutMinTicks) {
      s.electionElapsed = 0;
      if (s.options.checkQuorum && !s.quorumActive()) {
        s.becomeFollower(s.currentTerm, null, 'check-quorum: no quorum heard from within an election timeout');
        return;
      }
      for (const progress of s.progress.values()) progress.recentActive = false;
      if (s.transferee !== null) {
        s.emit({ kind: 'transfer', to: s.transferee, outcome: 'aborted' });
        s.transferee = null;
      }
    }
    if (s.heartbeatElapsed >= s.options.heartbeatTicks) {
      // Before the reset: the round compares each follower's last append with heartbeatElapsed.
      sendHeartbeats(s, true);
      s.heartbeatElapsed = 0;
    }
  }

  /** Handles one input; a rejected input changed nothing. */
  step(input: CoreInput): StepResult {
    const problem = inputProblem(input);
    if (problem !== null) return { ok: false, reason: problem };
    switch (input.kind) {
      case 'request':
        return stepRequest(this.state, input);
      case 'response':
        return stepResponse(this.state, input);
      case 'unreachable':
        handleUnreachable(this.state, input.to, input.request);
        return { ok: true };
      default:
        return assertNever(input);
    }
  }

  /** Proposes a command (or a no-op); only a leader accepts. */
  propose(command: Uint8Array): ProposeResult {
    return this.state.appendEntry('command', command);
  }

  /**
   * Proposes the next cluster configuration (Raft §6): a learner change, or the joint
   * configuration C_old,new that starts a voter change; the core itself proposes C_new once
   * C_old,new is committed. One change at a time.
   */
  proposeConfiguration(next: ClusterConfiguration): ProposeResult {
    const s = this.state;
    if (s.role !== 'leader') return { ok: false, reason: 'not-leader', leaderHint: s.leaderId };
    if (s.configs.hasUncommitted(s.log.commitIndex)) {
      return { ok: false, reason: 'change-in-progress', message: 'a membership change is still being committed' };
    }
    if (s.log.term(s.log.commitIndex) !== s.currentTerm) {
      return {
        ok: false,
        reason: 'change-in-progress',
        message: 'the leader has not yet committed an entry of its term',
      };
    }
    const problem = transitionProblem(s.configs.current(), next);
    if (problem !== null)
      return {
        ok: false,
        reason: problem.includes('in progress') ? 'change-in-progress' : 'invalid-change',
        message: problem,
      };
    return s.appendEntry('config', encodeConfiguration(next));
  }

  /** Registers a linearizable read (ReadIndex); its ReadState comes out in a later Ready. */
  readIndex(token: number): RequestResult {
    return requestRead(this.state, token);
  }

  /** Starts handing leadership to `to` (thesis §3.10); proposals are refused meanwhile. */
  transferLeadership(to: NodeId): RequestResult {
    const s = this.state;
    if (s.role !== 'leader')
      return { ok: false, reason: 'not-leader', message: 'only the leader transfers leadership' };
    if (to === s.id) return { ok: false, reason: 'invalid', message: 'the leader cannot transfer to itself' };
    if (!s.configs.current().voters.includes(to))
      return { ok: false, reason: 'invalid', message: `${to} is not a voter` };
    if (isWitness(s.configs.current(), to))
      return { ok: false, reason: 'invalid', message: `${to} is a witness: it holds no values and never leads` };
    if (s.transferee === to) return { ok: true };
    s.transferee = to;
    s.electionElapsed = 0;
    s.emit({ kind: 'transfer', to, outcome: 'started' });
    const progress = s.progress.get(to);
    if (progress !== undefined && progress.match === s.log.lastIndex()) sendTimeoutNow(s, to);
    return { ok: true };
  }

  /**
   * Records a snapshot the state machine took at `snapshot.lastIncludedIndex` (applied), which
   * the runtime persisted, and compacts the log before `compactBefore`, keeping later entries for
   * lagging followers. The core keeps the snapshot's metadata and size only.
   */
  compact(snapshot: SnapshotRef, compactBefore: LogIndex): void {
    const s = this.state;
    const index = snapshot.lastIncludedIndex;
    assert(index <= s.log.appliedIndex, 'a snapshot covers only applied entries');
    if (index <= s.log.snapshotIndex()) return;
    const from = Math.max(s.log.firstIndex(), Math.min(compactBefore, index + 1));
    s.log.compact(index, snapshot.lastIncludedTerm, from);
    s.latestSnapshot = snapshotRef(snapshot, snapshot.dataBytes);
    s.pendingCompactBefore = from;
  }

  /** Where to compact the log once a snapshot at `index` is taken (retention.ts), for {@link compact}. */
  compactionPoint(index: LogIndex, retention: LogRetention): LogIndex {
    const s = this.state;
    const followers = s.role === 'leader' ? s.progress.values() : [];
    return compactionPoint(s.log, followers, index, retention, retainStalledTicksMax(s.options));
  }

  /** On a leader, a follower receiving a snapshot, which the runtime's snapshots wait for (retention.ts); else null. */
  followerReceivingSnapshot(): NodeId | null {
    const s = this.state;
    return s.role === 'leader' ? followerReceivingSnapshot(s.progress, s.options) : null;
  }

  // -------------------------------------------------------------------------------------------
  // Ready / advance
  // -------------------------------------------------------------------------------------------

  /** True when takeReady would return something to do. */
  hasReady(): boolean {
    const s = this.state;
    if (s.inFlight !== null) return false;
    flushReplication(s);
    return (
      s.outbox.length > 0 ||
      s.hardStateDirty ||
      s.log.hasUnstable() ||
      s.pendingRestore !== null ||
      s.receivedChunks.length > 0 ||
      s.pendingCompactBefore !== null ||
      s.log.hasCommittedToApply() ||
      s.readStates.length > 0 ||
      s.events.length > 0 ||
      !sameSoftState(s.lastSoftState, s.softState())
    );
  }

  /** Hands out everything to do; no other Ready is handed out until `advance`. */
  takeReady(): Ready {
    const s = this.state;
    assert(s.inFlight === null, 'one Ready at a time');
    flushReplication(s);
    const softState = s.softState();
    const softChanged = !sameSoftState(s.lastSoftState, softState);
    s.lastSoftState = softState;
    const unstable = s.log.takeUnstable();
    const committed = s.log.takeCommitted(s.options.applyBytesMax);
    const ready: Ready = {
      hardState: s.hardStateDirty ? { currentTerm: s.currentTerm, votedFor: s.votedFor } : null,
      snapshotChunks: s.receivedChunks.length === 0 ? NO_CHUNKS : s.receivedChunks,
      snapshot: s.pendingRestore,
      truncateFrom: unstable.truncateFrom,
      entries: unstable.entries,
      compactBefore:
        s.pendingCompactBefore ?? (s.pendingRestore === null ? null : s.pendingRestore.lastIncludedIndex + 1),
      committed,
      messages: s.outbox,
      readStates: s.readStates,
      softState: softChanged ? softState : null,
      events: s.events,
    };
    const lastEntry = unstable.entries[unstable.entries.length - 1];
    s.inFlight = {
      lastIndex: lastEntry?.index ?? 0,
      lastTerm: lastEntry?.term ?? 0,
      appliedTo: committed[committed.length - 1]?.index ?? 0,
    };
    s.hardStateDirty = false;
    s.pendingRestore = null;
    if (s.receivedChunks.length > 0) s.receivedChunks = [];
    s.pendingCompactBefore = null;
    s.outbox = [];
    s.readStates = [];
    s.events = [];
    return ready;
  }

  /** The runtime has persisted, sent and applied `ready`. */
  advance(ready: Ready): void {
    const s = this.state;
    const inFlight = s.inFlight;
    assert(inFlight !== null, 'advance follows takeReady');
    s.inFlight = null;
    if (inFlight.lastIndex > 0) s.log.stableTo(inFlight.lastIndex, inFlight.lastTerm);
    if (inFlight.appliedTo > 0) s.log.appliedTo(inFlight.appliedTo);
    void ready;
    if (s.role === 'leader') maybeCommit(s);
  }

  // -------------------------------------------------------------------------------------------
  // Status
  // -------------------------------------------------------------------------------------------

  getRole(): Role {
    return this.state.role;
  }

  getTerm(): Term {
    return this.state.currentTerm;
  }

  getLeaderId(): NodeId | null {
    return this.state.leaderId;
  }

  getConfiguration(): ClusterConfiguration {
    return this.state.configs.current();
  }

  /** True when this node is a witness: it stores terms and indexes only and never leads. */
  isWitness(): boolean {
    return this.state.isSelfWitness();
  }

  /** True while a configuration entry above the commit index is in the log. */
  hasUncommittedConfiguration(): boolean {
    return this.state.configs.hasUncommitted(this.state.log.commitIndex);
  }

  getCommitIndex(): LogIndex {
    return this.state.log.commitIndex;
  }

  getAppliedIndex(): LogIndex {
    return this.state.log.appliedIndex;
  }

  getLastIndex(): LogIndex {
    return this.state.log.lastIndex();
  }

  getSnapshotIndex(): LogIndex {
    return this.state.log.snapshotIndex();
  }

  /** See follower.ts, isReceivingSnapshot; the runtime drops the image it writes of any other snapshot. */
  isReceivingSnapshot(index: LogIndex, term: Term): boolean {
    return isReceivingSnapshot(this.state, index, term);
  }

  /** What the log holds in memory and how much it read back from storage (LogMemory). */
  getLogMemory(): LogMemory {
    return this.state.log.memory();
  }

  /** Bytes of log since the latest snapshot (what the snapshot threshold is compared with). */
  getUncommittedBytes(): number {
    return this.state.log.uncommittedBytes();
  }

  /** The term of the entry at `index`, or null when it is not held. */
  termAt(index: LogIndex): Term | null {
    return this.state.log.term(index);
  }

  /**
   * Entries held in [from, to], for the simulator's checks: from memory or storage, starting later
   * than `from` while storage holds no older ones (LogWindow.readableFirstIndex).
   */
  entriesBetween(from: LogIndex, to: LogIndex): LogEntry[] {
    const log = this.state.log;
    const start = Math.max(from, log.readableFirstIndex());
    if (to < start) return [];
    return log.slice(start, to - start + 1, Number.MAX_SAFE_INTEGER) ?? [];
  }

  /** On a leader, the replication progress of every other member. */
  getProgress(): MemberProgress[] {
    return memberProgress(this.state.progress, this.state.options);
  }

  getTransferee(): NodeId | null {
    return this.state.transferee;
  }

  /** Checks the invariants of the whole core; the simulator calls it after every step. */
  checkInvariants(): void {
    this.state.checkInvariants();
  }
}

/** The chunks of a Ready without any: one shared array, no allocation per Ready. */
const NO_CHUNKS: readonly ReceivedChunk[] = Object.freeze([]);

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.term === b.term && a.leaderId === b.leaderId;
}
