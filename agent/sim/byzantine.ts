/**
 * Forged and malformed messages for the simulator's Byzantine-fault runs, limited to what Raft
 * can detect: impossible numbers, entries whose indexes skip or whose terms go backwards, terms
 * above the sender's term, a second node claiming leadership of a term whose leader the
 * receiver knows, a sender claiming another node's id, and responses that answer another
 * request. A node must reject each of these (with a logged warning) and carry on unharmed.
 */
import type { Prng } from '../../contracts/prng.js';
import type { RaftCore } from '../core/raft.js';
import type { NodeId } from '../../contracts/log.js';
import type { AppendEntriesRequest, RequestMessage, ResponseMessage } from '../../contracts/messages.js';

/** A forged request and who sends it. */
export interface Forgery {
  readonly kind: string;
  /** The authenticated sender. */
  readonly from: NodeId;
  readonly request: RequestMessage;
}

const entry = (term: number, index: number): { term: number; index: number; type: 'command'; command: Uint8Array } => ({
  term,
  index,
  type: 'command',
  command: new Uint8Array([1, 2, 3]),
});

/** An AppendEntries from `leaderId` (the forger names the fields that make it wrong). */
function append(
  leaderId: NodeId,
  term: number,
  prevLogIndex: number,
  entries: AppendEntriesRequest['entries'],
  leaderCommit = 0,
): AppendEntriesRequest {
  return { type: 'AppendEntriesRequest', term, leaderId, prevLogIndex, prevLogTerm: 0, entries, leaderCommit };
}

/** A second leader for a term whose leader the target already follows, or null when it follows none. */
function secondLeader(target: NodeId, core: RaftCore, others: readonly NodeId[]): Forgery | null {
  const leader = core.getLeaderId();
  if (core.getRole() !== 'follower' || leader === null) return null;
  const impostor = others.find((id) => id !== leader && id !== target);
  if (impostor === undefined) return null;
  return { kind: 'second-leader', from: impostor, request: append(impostor, core.getTerm(), 0, []) };
}

/** A RequestVote whose sender claims the id of a third node, or null when there is none. */
function claimsAnotherId(target: NodeId, core: RaftCore, sender: NodeId, others: readonly NodeId[]): Forgery | null {
  const victim = others.find((id) => id !== sender && id !== target);
  if (victim === undefined) return null;
  const term = core.getTerm();
  return {
    kind: 'claims-another-id',
    from: sender,
    request: {
      type: 'RequestVoteRequest',
      term: term + 1,
      candidateId: victim,
      lastLogIndex: core.getLastIndex() + 100,
      lastLogTerm: term,
      transfer: true,
    },
  };
}

/**
 * A forged request for `target` (whose core is `core`), sent by `sender`, or null when none of
 * the detectable kinds applies right now.
 */
export function forgeRequest(
  prng: Prng,
  target: NodeId,
  core: RaftCore,
  sender: NodeId,
  others: readonly NodeId[],
): Forgery | null {
  const term = core.getTerm();
  const last = core.getLastIndex();
  const pick = prng.intBetween(0, 6);
  switch (pick) {
    case 0: {
      const entries = [entry(term + 1, last + 1), entry(term, last + 2)];
      return { kind: 'terms-backwards', from: sender, request: append(sender, term + 1, last, entries) };
    }
    case 1:
      return { kind: 'impossible-index', from: sender, request: append(sender, term, -5, [], 1.5) };
    case 2: {
      const entries = [entry(term + 1, last + 1), entry(term + 1, last + 3)];
      return { kind: 'index-gap', from: sender, request: append(sender, term + 1, last, entries) };
    }
    case 3:
      return secondLeader(target, core, others);
    case 4:
      return claimsAnotherId(target, core, sender, others);
    default:
      return {
        kind: 'log-term-above-term',
        from: sender,
        request: {
          type: 'PreVoteRequest',
          term: term + 1,
          candidateId: sender,
          lastLogIndex: last + 1,
          lastLogTerm: term + 5,
        },
      };
  }
}

/** A response that answers another kind of request than the one it replies to. */
export function forgeResponse(request: RequestMessage): ResponseMessage | null {
  switch (request.type) {
    case 'AppendEntriesRequest':
      return { type: 'RequestVoteResponse', term: request.term, voteGranted: true };
    case 'RequestVoteRequest':
    case 'PreVoteRequest':
      return {
        type: 'AppendEntriesResponse',
        term: request.term,
        success: true,
        conflictIndex: null,
        conflictTerm: null,
        lastLogIndex: 1,
      };
    case 'InstallSnapshotRequest':
    case 'TimeoutNowRequest':
    case 'ClientForwardRequest':
      return null;
  }
}
