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
import type { RequestMessage, ResponseMessage } from '../../contracts/messages.js';

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
    case 0:
      return {
        kind: 'terms-backwards',
        from: sender,
        request: {
          type: 'AppendEntriesRequest',
          term: term + 1,
          leaderId: sender,
          prevLogIndex: last,
          prevLogTerm: 0,
          entries: [entry(term + 1, last + 1), entry(term, last + 2)],
          leaderCommit: 0,
        },
      };
    case 1:
      return {
        kind: 'impossible-index',
        from: sender,
        request: {
          type: 'AppendEntriesRequest',
          term,
          leaderId: sender,
          prevLogIndex: -5,
          prevLogTerm: 0,
          entries: [],
          leaderCommit: 1.5,
        },
      };
    case 2:
      return {
        kind: 'index-gap',
        from: sender,
        request: {
          type: 'AppendEntriesRequest',
          term: term + 1,
          leaderId: sender,
          prevLogIndex: last,
          prevLogTerm: 0,
          entries: [entry(term + 1, last + 1), entry(term + 1, last + 3)],
          leaderCommit: 0,
        },
      };
    case 3: {
      // A second leader for a term whose leader the target already follows.
      const leader = core.getLeaderId();
      if (core.getRole() !== 'follower' || leader === null) return null;
      const impostor = others.find((id) => id !== leader && id !== target);
      if (impostor === undefined) return null;
      return {
        kind: 'second-leader',
        from: impostor,
        request: {
          type: 'AppendEntriesRequest',
          term,
          leaderId: impostor,
          prevLogIndex: 0,
          prevLogTerm: 0,
          entries: [],
          leaderCommit: 0,
        },
      };
    }
    case 4: {
      const victim = others.find((id) => id !== sender && id !== target);
      if (victim === undefined) return null;
      return {
        kind: 'claims-another-id',
        from: sender,
        request: {
          type: 'RequestVoteRequest',
          term: term + 1,
          candidateId: victim,
          lastLogIndex: last + 100,
          lastLogTerm: term,
          transfer: true,
        },
      };
    }
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
