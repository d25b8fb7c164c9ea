/**
 * Leader election (Raft §5.2, §5.4.1) with pre-vote (thesis §9.6) and the leader lease that
 * check-quorum gives followers (thesis §4.2.3): a follower that has heard from a leader within
 * the minimum election timeout ignores requests to elect someone else, so a node that was
 * partitioned away cannot disrupt a healthy cluster when it comes back.
 */
import { quorumVoters } from './configuration.js';
import { allVoters, voteResult } from './quorum.js';
import type { CoreState } from './state.js';
import type { NodeId } from '../../contracts/log.js';
import type {
  PreVoteRequest,
  PreVoteResponse,
  RequestVoteRequest,
  RequestVoteResponse,
} from '../../contracts/messages.js';

/**
 * Starts a pre-campaign (`pre`: ask whether we could win term + 1 without changing any state)
 * or a real one (`real`: term + 1, vote for ourselves, ask for votes). `transfer` marks an
 * election started by the leader's TimeoutNow, which voters accept despite their lease.
 */
export function campaign(core: CoreState, kind: 'pre' | 'real', transfer: boolean): void {
  if (kind === 'pre') {
    core.becomePreCandidate();
  } else {
    core.becomeCandidate(
      transfer ? 'TimeoutNow from the leader' : core.options.preVote ? 'won the pre-vote' : 'election timeout',
    );
  }
  core.votes.set(core.id, true);
  if (tallyAndAct(core)) return;
  const lastLogIndex = core.log.lastIndex();
  const lastLogTerm = core.log.lastTerm();
  for (const id of allVoters(quorumVoters(core.configs.current()))) {
    if (id === core.id) continue;
    if (kind === 'pre') {
      core.send(id, {
        type: 'PreVoteRequest',
        term: core.currentTerm + 1,
        candidateId: core.id,
        lastLogIndex,
        lastLogTerm,
      });
    } else {
      core.send(id, {
        type: 'RequestVoteRequest',
        term: core.currentTerm,
        candidateId: core.id,
        lastLogIndex,
        lastLogTerm,
        transfer,
      });
    }
  }
}

/** Counts the votes; wins or loses the (pre-)election when decided. Returns whether it was. */
function tallyAndAct(core: CoreState): boolean {
  const result = voteResult(quorumVoters(core.configs.current()), (id) => core.votes.get(id));
  if (result === 'pending') return false;
  if (result === 'lost') {
    core.becomeFollower(core.currentTerm, null, `lost the ${core.role === 'precandidate' ? 'pre-vote' : 'election'}`);
    return true;
  }
  if (core.role === 'precandidate') {
    campaign(core, 'real', false);
  } else {
    core.becomeLeader();
  }
  return true;
}

/** Would this node vote for `candidate` with that log in the current term (Raft §5.2, §5.4.1)? */
function canGrant(core: CoreState, candidate: NodeId, lastLogIndex: number, lastLogTerm: number): boolean {
  const free = core.votedFor === candidate || (core.votedFor === null && core.leaderId === null);
  return free && core.log.isUpToDate(lastLogIndex, lastLogTerm);
}

/** Answers RequestVote (Raft Figure 2): at most one vote per term, only for an up-to-date log. */
export function handleVoteRequest(core: CoreState, replyTo: number, request: RequestVoteRequest): void {
  if (request.term > core.currentTerm) {
    if (core.inLease() && !request.transfer) {
      // Thesis §4.2.3: a follower with a live leader ignores the election (and keeps its term).
      core.reply(replyTo, { type: 'RequestVoteResponse', term: core.currentTerm, voteGranted: false });
      return;
    }
    core.becomeFollower(request.term, null, `RequestVote from ${request.candidateId} with a higher term`);
  }
  if (
    request.term < core.currentTerm ||
    !canGrant(core, request.candidateId, request.lastLogIndex, request.lastLogTerm)
  ) {
    core.reply(replyTo, { type: 'RequestVoteResponse', term: core.currentTerm, voteGranted: false });
    return;
  }
  if (core.votedFor !== request.candidateId) {
    core.votedFor = request.candidateId;
    core.markHardStateDirty();
  }
  // Granting a vote restarts the election timer (Raft Figure 2, followers).
  core.electionElapsed = 0;
  core.reply(replyTo, { type: 'RequestVoteResponse', term: core.currentTerm, voteGranted: true });
}

/** Answers PreVote (thesis §9.6): would this node vote for the candidate in its next term? */
export function handlePreVoteRequest(core: CoreState, replyTo: number, request: PreVoteRequest): void {
  // A pre-vote changes nothing here: neither term nor vote nor timer.
  const reject = (): void =>
    core.reply(replyTo, { type: 'PreVoteResponse', term: core.currentTerm, voteGranted: false });
  if (request.term < core.currentTerm || core.inLease()) {
    reject();
    return;
  }
  const grant =
    request.term > core.currentTerm
      ? core.log.isUpToDate(request.lastLogIndex, request.lastLogTerm)
      : canGrant(core, request.candidateId, request.lastLogIndex, request.lastLogTerm);
  if (!grant) {
    reject();
    return;
  }
  // A granted pre-vote carries the candidate's future term, so it never makes it step down.
  core.reply(replyTo, { type: 'PreVoteResponse', term: request.term, voteGranted: true });
}

/** Counts a pre-vote; a refusal with a higher term makes this node a follower of that term. */
export function handlePreVoteResponse(
  core: CoreState,
  from: NodeId,
  request: PreVoteRequest,
  response: PreVoteResponse,
): void {
  if (!response.voteGranted && response.term > core.currentTerm) {
    core.becomeFollower(response.term, null, `pre-vote refused by ${from} with a higher term`);
    return;
  }
  if (core.role !== 'precandidate' || request.term !== core.currentTerm + 1) return;
  core.votes.set(from, response.voteGranted);
  tallyAndAct(core);
}

/** Counts a vote; a response with a higher term makes this node a follower of that term. */
export function handleVoteResponse(
  core: CoreState,
  from: NodeId,
  request: RequestVoteRequest,
  response: RequestVoteResponse,
): void {
  if (response.term > core.currentTerm) {
    core.becomeFollower(response.term, null, `vote refused by ${from} with a higher term`);
    return;
  }
  if (core.role !== 'candidate' || request.term !== core.currentTerm) return;
  core.votes.set(from, response.voteGranted);
  tallyAndAct(core);
}
