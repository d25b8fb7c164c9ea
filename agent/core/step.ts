/**
 * Dispatch of the core's inputs to their handlers (election.ts, replication.ts, follower.ts),
 * with the checks every input shares: Raft §5.1's term rule (a higher term turns the node into a
 * follower, an older term is answered with ours), and the refusal of a second leader of a term.
 */
import { assertNever } from '../../contracts/assert.js';
import {
  campaign,
  handlePreVoteRequest,
  handlePreVoteResponse,
  handleVoteRequest,
  handleVoteResponse,
} from './election.js';
import { handleAppendEntries, handleInstallSnapshot } from './follower.js';
import type { CoreInput, CoreRequest, InboundRequest, StepResult } from './ready.js';
import { handleAppendResponse, handleSnapshotResponse } from './replication.js';
import type { CoreState } from './state.js';
import type { NodeId } from '../../contracts/log.js';

/** Dispatches an inbound request to its handler. */
export function stepRequest(core: CoreState, input: InboundRequest): StepResult {
  const request = input.request;
  switch (request.type) {
    case 'PreVoteRequest':
      handlePreVoteRequest(core, input.replyTo, request);
      return { ok: true };
    case 'RequestVoteRequest':
      handleVoteRequest(core, input.replyTo, request);
      return { ok: true };
    case 'AppendEntriesRequest':
    case 'InstallSnapshotRequest':
    case 'TimeoutNowRequest':
      return stepLeaderRequest(core, input, request);
    default:
      return assertNever(request);
  }
}

/** Requests that only a leader sends: the term check of Raft §5.1, then the handler. */
function stepLeaderRequest(
  core: CoreState,
  input: InboundRequest,
  request: Extract<CoreRequest, { leaderId: NodeId }>,
): StepResult {
  if (request.leaderId !== input.from)
    return { ok: false, reason: `${request.type} from ${input.from} claims leader ${request.leaderId}` };
  if (request.term > core.currentTerm) {
    core.becomeFollower(request.term, request.leaderId, `${request.type} from ${request.leaderId} with a higher term`);
  }
  if (request.term < core.currentTerm) {
    rejectStale(core, input.replyTo, request);
    return { ok: true };
  }
  if (core.role === 'leader')
    return {
      ok: false,
      reason: `${request.leaderId} claims leadership of term ${request.term}, which this node leads`,
    };
  if (core.leaderId !== null && core.leaderId !== request.leaderId) {
    return {
      ok: false,
      reason: `${request.leaderId} claims leadership of term ${request.term}, led by ${core.leaderId}`,
    };
  }
  if (core.role !== 'follower')
    core.becomeFollower(request.term, request.leaderId, `${request.type} from the leader of the term`);
  if (core.leaderId === null) core.emit({ kind: 'leader', term: core.currentTerm, leaderId: request.leaderId });
  core.leaderId = request.leaderId;
  core.electionElapsed = 0;
  switch (request.type) {
    case 'AppendEntriesRequest':
      handleAppendEntries(core, input.replyTo, request);
      break;
    case 'InstallSnapshotRequest':
      handleInstallSnapshot(core, input.replyTo, request);
      break;
    case 'TimeoutNowRequest':
      core.reply(input.replyTo, { type: 'TimeoutNowResponse', term: core.currentTerm });
      if (core.isPromotable()) campaign(core, 'real', true);
      break;
    default:
      return assertNever(request);
  }
  return { ok: true };
}

/** Answers a request of an older term with our term, so its sender steps down. */
function rejectStale(core: CoreState, replyTo: number, request: Extract<CoreRequest, { leaderId: NodeId }>): void {
  switch (request.type) {
    case 'AppendEntriesRequest':
      core.reply(replyTo, {
        type: 'AppendEntriesResponse',
        term: core.currentTerm,
        success: false,
        conflictIndex: null,
        conflictTerm: null,
        lastLogIndex: core.log.lastIndex(),
      });
      return;
    case 'InstallSnapshotRequest':
      core.reply(replyTo, { type: 'InstallSnapshotResponse', term: core.currentTerm, bytesStored: 0 });
      return;
    case 'TimeoutNowRequest':
      core.reply(replyTo, { type: 'TimeoutNowResponse', term: core.currentTerm });
      return;
    default:
      assertNever(request);
  }
}

/** Dispatches a response to the handler of its request; a higher term turns the node into a follower. */
export function stepResponse(core: CoreState, input: Extract<CoreInput, { kind: 'response' }>): StepResult {
  switch (input.response.type) {
    case 'PreVoteResponse':
      if (input.request.type === 'PreVoteRequest')
        handlePreVoteResponse(core, input.from, input.request, input.response);
      return { ok: true };
    case 'RequestVoteResponse':
      if (input.request.type === 'RequestVoteRequest')
        handleVoteResponse(core, input.from, input.request, input.response);
      return { ok: true };
    case 'AppendEntriesResponse':
    case 'InstallSnapshotResponse':
    case 'TimeoutNowResponse':
      break;
    default:
      return assertNever(input.response);
  }
  if (input.response.term > core.currentTerm) {
    core.becomeFollower(input.response.term, null, `${input.response.type} from ${input.from} with a higher term`);
    return { ok: true };
  }
  if (core.role !== 'leader' || input.request.term !== core.currentTerm) return { ok: true };
  if (input.response.type === 'AppendEntriesResponse' && input.request.type === 'AppendEntriesRequest') {
    handleAppendResponse(core, input.from, input.seq, input.request, input.response);
  } else if (input.response.type === 'InstallSnapshotResponse' && input.request.type === 'InstallSnapshotRequest') {
    handleSnapshotResponse(core, input.from, input.request, input.response);
  }
  return { ok: true };
}
