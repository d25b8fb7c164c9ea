/**
 * Pure quorum arithmetic over majority and joint configurations (after etcd-io/raft
 * quorum/majority.go and quorum/joint.go). A joint configuration (C_old,new, Raft §6) decides
 * only with majorities of both halves.
 */
import type { LogIndex, NodeId } from '../../contracts/log.js';

/** The outcome of counting votes. */
export type VoteResult = 'won' | 'lost' | 'pending';

/** The voters of one configuration, or of both halves of a joint one. */
export interface QuorumVoters {
  readonly incoming: readonly NodeId[];
  /** The old voters while the configuration is joint; null otherwise. */
  readonly outgoing: readonly NodeId[] | null;
}

/** Voters of one half that majorityCommitted sorts without allocating; more use a sorted copy. */
export const SCRATCH_VOTERS = 16;
const matchScratch = new Float64Array(SCRATCH_VOTERS);

/**
 * The highest index acknowledged by a majority of `voters`, given each voter's match index
 * (absent counts as 0). An empty configuration commits everything (it imposes no constraint).
 */
export function majorityCommitted(voters: readonly NodeId[], matchOf: (id: NodeId) => LogIndex): LogIndex {
  const n = voters.length;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  if (n > SCRATCH_VOTERS) return sortedCommitted(voters, matchOf);
  // The leader counts this on every acknowledgement: an insertion sort (descending) into a
  // module-level scratch allocates nothing. The core is synchronous, so the scratch is never
  // shared by two calls at once, and it is fully written before it is read.
  let i = 0;
  for (const id of voters) {
    const match = matchOf(id);
    let j = i;
    for (let above = matchScratch[j - 1] ?? 0; j > 0 && above < match; above = matchScratch[j - 1] ?? 0) {
      matchScratch[j] = above;
      j -= 1;
    }
    matchScratch[j] = match;
    i += 1;
  }
  // The quorum-th largest: a majority (floor(n / 2) + 1 voters) holds at least this index.
  return matchScratch[n >> 1] ?? 0;
}

/** The sort-based reference, for halves larger than the scratch. */
function sortedCommitted(voters: readonly NodeId[], matchOf: (id: NodeId) => LogIndex): LogIndex {
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[voters.length >> 1] ?? 0;
}

/** The highest index committed under `voters`: the minimum over both halves when joint. */
export function committedIndex(voters: QuorumVoters, matchOf: (id: NodeId) => LogIndex): LogIndex {
  return jointCommitted(voters.incoming, voters.outgoing, matchOf);
}

/** {@link committedIndex} of the halves themselves (no QuorumVoters object on the per-write path). */
export function jointCommitted(
  incoming: readonly NodeId[],
  outgoing: readonly NodeId[] | null,
  matchOf: (id: NodeId) => LogIndex,
): LogIndex {
  const committed = majorityCommitted(incoming, matchOf);
  if (outgoing === null) return committed;
  return Math.min(committed, majorityCommitted(outgoing, matchOf));
}

/** Counts the votes of one majority configuration; `voteOf` is true, false or undefined (not yet). */
export function majorityVoteResult(voters: readonly NodeId[], voteOf: (id: NodeId) => boolean | undefined): VoteResult {
  if (voters.length === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = voteOf(id);
    if (vote === undefined) missing += 1;
    else if (vote) granted += 1;
  }
  const quorum = Math.floor(voters.length / 2) + 1;
  if (granted >= quorum) return 'won';
  if (granted + missing >= quorum) return 'pending';
  return 'lost';
}

/** Counts votes under `voters`: joint configurations need both halves to win. */
export function voteResult(voters: QuorumVoters, voteOf: (id: NodeId) => boolean | undefined): VoteResult {
  const incoming = majorityVoteResult(voters.incoming, voteOf);
  if (voters.outgoing === null) return incoming;
  const outgoing = majorityVoteResult(voters.outgoing, voteOf);
  if (incoming === 'won' && outgoing === 'won') return 'won';
  if (incoming === 'lost' || outgoing === 'lost') return 'lost';
  return 'pending';
}

/** True when the set `active` contains a quorum of `voters` (joint: of both halves). */
export function hasQuorum(voters: QuorumVoters, active: (id: NodeId) => boolean): boolean {
  return voteResult(voters, (id) => (active(id) ? true : undefined)) === 'won';
}

/** Every voter of either half, without duplicates, in a stable order. */
export function allVoters(voters: QuorumVoters): NodeId[] {
  const all = new Set<NodeId>(voters.incoming);
  for (const id of voters.outgoing ?? []) all.add(id);
  return [...all].sort();
}
