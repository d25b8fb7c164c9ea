/**
 * The membership properties of Raft §6 and reference Property 13, checked on a simulated cluster
 * with quorums counted here, apart from the core's quorum code:
 * - Election quorum: a leader holds the votes of a majority of each half of the configuration it
 *   was elected under (a joint one needs both), counted from the votes that left the voters;
 * - no two disjoint majorities: each committed configuration (in log order, as applied) and the
 *   one before it have no two disjoint quorums, so a decision of one is always seen by the other;
 * - a leader that a committed configuration removed no longer leads, and a leader that committed
 *   an entry of its term has left a committed joint configuration (it proposed C_new at once).
 * A violation is reported as a sentence through `violate`.
 */
import type { RaftCore } from '../core/raft.js';
import type { ClusterConfiguration, LogIndex, NodeId, Term } from '../../contracts/log.js';
import type { RequestMessage, ResponseMessage } from '../../contracts/messages.js';

/** Most distinct voters of two configurations the disjoint-quorum search enumerates (2^N subsets). */
const DISJOINT_SEARCH_VOTERS_MAX = 16;
/** Terms whose votes are remembered; older ones are forgotten. */
const VOTE_TERMS_MAX = 64;

/** True when `ids` holds a majority of `voters` (an empty half imposes nothing). */
function majorityOf(voters: readonly NodeId[], ids: ReadonlySet<NodeId>): boolean {
  return voters.length === 0 || voters.filter((id) => ids.has(id)).length * 2 > voters.length;
}

/** True when `ids` is a quorum of `config`: a majority of its voters and, when joint, of its old voters too. */
export function isQuorum(config: ClusterConfiguration, ids: ReadonlySet<NodeId>): boolean {
  return majorityOf(config.voters, ids) && (config.oldVoters === null || majorityOf(config.oldVoters, ids));
}

/**
 * Two disjoint sets of nodes, a quorum of `a` and a quorum of `b`, or null when there are none
 * (or too many voters to search). Quorums only grow with more members, so it is enough to try each
 * subset of the voters as `a`'s quorum and the rest as `b`'s.
 */
export function disjointQuorums(
  a: ClusterConfiguration,
  b: ClusterConfiguration,
): { readonly left: NodeId[]; readonly right: NodeId[] } | null {
  const all = [...new Set([...a.voters, ...(a.oldVoters ?? []), ...b.voters, ...(b.oldVoters ?? [])])].sort();
  if (all.length > DISJOINT_SEARCH_VOTERS_MAX) return null;
  for (let mask = 0; mask < 1 << all.length; mask += 1) {
    const left = all.filter((_, i) => (mask & (1 << i)) !== 0);
    const right = all.filter((_, i) => (mask & (1 << i)) === 0);
    if (isQuorum(a, new Set(left)) && isQuorum(b, new Set(right))) return { left, right };
  }
  return null;
}

function describe(config: ClusterConfiguration): string {
  const old = config.oldVoters === null ? '' : ` (joint with ${config.oldVoters.join(',')})`;
  return `voters ${config.voters.join(',')}${old}`;
}

export class MembershipChecker {
  /** Per term, per candidate, the voters that granted it their vote. */
  private readonly votes = new Map<Term, Map<NodeId, Set<NodeId>>>();
  /** Committed configurations by index, as nodes applied them. */
  private readonly applied = new Map<LogIndex, ClusterConfiguration>();
  /** Configuration pairs checked, for the tests. */
  pairsChecked = 0;

  constructor(private readonly violate: (message: string) => void) {}

  /** Records a vote that left node `id` (its disk holds it: durability-check.ts). */
  onResponse(id: NodeId, request: RequestMessage, response: ResponseMessage): void {
    if (response.type !== 'RequestVoteResponse' || request.type !== 'RequestVoteRequest' || !response.voteGranted)
      return;
    let byCandidate = this.votes.get(response.term);
    if (byCandidate === undefined) {
      byCandidate = new Map();
      this.votes.set(response.term, byCandidate);
      for (const term of this.votes.keys()) if (term < response.term - VOTE_TERMS_MAX) this.votes.delete(term);
    }
    const voters = byCandidate.get(request.candidateId) ?? new Set<NodeId>();
    voters.add(id);
    byCandidate.set(request.candidateId, voters);
  }

  /** Election quorum: `id` just became leader of `term` under the configuration its core is in. */
  onLeader(id: NodeId, term: Term, core: RaftCore): void {
    const config = core.getConfiguration();
    const granted = new Set(this.votes.get(term)?.get(id) ?? []);
    granted.add(id);
    if (!isQuorum(config, granted))
      this.violate(
        `Election quorum: ${id} leads term ${term} with the votes of ${[...granted].sort().join(',')} only, ` +
          `not a quorum of ${describe(config)}`,
      );
  }

  /** No two disjoint majorities: a configuration entry applied at `index`, against its neighbours in the log. */
  onConfigurationApplied(index: LogIndex, config: ClusterConfiguration): void {
    if (this.applied.has(index)) return;
    this.applied.set(index, config);
    let before: LogIndex | null = null;
    let after: LogIndex | null = null;
    for (const other of this.applied.keys()) {
      if (other < index && (before === null || other > before)) before = other;
      if (other > index && (after === null || other < after)) after = other;
    }
    for (const neighbour of [before, after]) {
      const other = neighbour === null ? undefined : this.applied.get(neighbour);
      if (neighbour === null || other === undefined) continue;
      this.pairsChecked += 1;
      const [first, second] = neighbour < index ? [other, config] : [config, other];
      const split = disjointQuorums(first, second);
      if (split !== null)
        this.violate(
          `Disjoint majorities: configuration ${Math.min(index, neighbour)} (${describe(first)}) is followed at ` +
            `${Math.max(index, neighbour)} by ${describe(second)}; ${split.left.join(',')} and ` +
            `${split.right.join(',')} could decide apart`,
        );
    }
  }

  /**
   * On every event, for a leader: once its configuration is committed, it is a voter of it (a
   * removed leader steps down when its removal commits), and it is not joint once the leader
   * committed an entry of its own term (the leader then proposes C_new).
   */
  checkLeader(id: NodeId, core: RaftCore): void {
    if (core.getRole() !== 'leader' || core.hasUncommittedConfiguration()) return;
    const config = core.getConfiguration();
    if (!config.voters.includes(id) && !(config.oldVoters?.includes(id) ?? false))
      this.violate(`Removed leader: ${id} still leads term ${core.getTerm()} under ${describe(config)}, committed`);
    else if (config.oldVoters !== null && core.termAt(core.getCommitIndex()) === core.getTerm())
      this.violate(
        `Joint configuration: leader ${id} committed in term ${core.getTerm()} but stays in ${describe(config)}`,
      );
  }
}
