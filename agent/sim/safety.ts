/**
 * Raft's safety properties, checked on a simulated cluster as it runs (reference properties
 * 1-5, 12 and 22's consequences; Raft Figure 3):
 * - Election Safety: at most one leader per term (checked on every leader event);
 * - Leader Append-Only: a leader never removes or overwrites its entries while it leads;
 * - Log Matching: two logs with an entry of the same index and term agree up to it;
 * - Leader Completeness: a leader holds every entry committed before its term;
 * - State Machine Safety: no two nodes apply different entries at one index (every apply);
 * - Commit Implies Replication: a committed entry is on the disk of a majority (of each half of a
 *   joint configuration, Property 13), on every event at which a leader's commit index moves;
 * - commit and applied indexes never decrease within one run of a node;
 * - witnesses (DESIGN.md, "Witness members") never lead and hold no command payload; their
 *   stripped entries are compared with the others by term and type only (and configuration
 *   entries whole), so State Machine Safety and Log Matching still hold them to every index's term.
 * A violation is recorded as a sentence; the simulator fails the run on the first one. The
 * durability of answers and hard state (Properties 9, 10, 17, 22), the replicas' states (5, 14,
 * 19) and the logging of role changes (21) are checked beside it: durability-check.ts,
 * state-check.ts, transition-log-check.ts.
 */
import { createHash } from 'node:crypto';
import type { RaftCore } from '../core/raft.js';
import type { LogEntry, LogIndex, NodeId, Term } from '../../contracts/log.js';
import type { MemoryDisk } from '../../storage/memory.js';
import type { RequestMessage, ResponseMessage } from '../../contracts/messages.js';
import { decodeConfiguration } from '../core/configuration.js';
import { MembershipChecker } from './membership-check.js';

/** What the checker may inspect of one node. */
export interface CheckedNode {
  readonly id: NodeId;
  /** The running core, or null while the node is down. */
  readonly core: RaftCore | null;
  readonly disk: MemoryDisk;
  /** Increases on every restart. */
  readonly incarnation: number;
}

/** A node that is up, as the cluster checks see it. */
type LiveNode = CheckedNode & { readonly core: RaftCore };

/** The digest of an entry's command, as the trace records it. */
export function entryDigest(entry: LogEntry): string {
  return createHash('sha256').update(entry.command).digest('hex');
}

/** How far below the commit index Log Matching is re-checked. */
const LOG_MATCH_WINDOW_BELOW_COMMIT = 16;

interface AppliedRecord {
  readonly term: Term;
  readonly digest: string;
  readonly node: NodeId;
}

interface Watermark {
  incarnation: number;
  commit: LogIndex;
  applied: LogIndex;
}

export class SafetyChecker {
  readonly violations: string[] = [];
  private readonly leaderOfTerm = new Map<Term, NodeId>();
  private readonly applied = new Map<LogIndex, AppliedRecord>();
  private readonly watermarks = new Map<NodeId, Watermark>();
  /** For the leader of each term: the last index and its term it was seen holding. */
  private readonly leaderTails = new Map<Term, { node: NodeId; index: LogIndex; term: Term }>();
  /** Each leader's term and commit index when Commit Implies Replication last looked at it. */
  private readonly commitsChecked = new Map<NodeId, { term: Term; commit: LogIndex }>();
  /** The highest index known committed, with its term. */
  private committed: { index: LogIndex; term: Term } = { index: 0, term: 0 };
  /** The term witnesses applied at each index no full member has applied yet. */
  private readonly witnessApplied = new Map<LogIndex, { term: Term; node: NodeId }>();
  elections = 0;
  /** Raft §6's properties: election quorums, no disjoint majorities, removed leaders (membership-check.ts). */
  readonly membership = new MembershipChecker((message) => this.violate(message));

  /** `witnesses` may grow while the run goes on (the membership chaos adds witnesses). */
  constructor(private readonly witnesses: ReadonlySet<NodeId> = new Set()) {}

  /** Told of every response a node's current run sends (the votes it grants). */
  onResponse(node: NodeId, request: RequestMessage, response: ResponseMessage): void {
    this.membership.onResponse(node, request, response);
  }

  private violate(message: string): void {
    if (this.violations.length < 100) this.violations.push(message);
  }

  /** Election Safety: called whenever a node becomes leader. */
  onLeader(node: NodeId, term: Term, core: RaftCore): void {
    this.elections += 1;
    if (this.witnesses.has(node)) this.violate(`Witness: ${node} became leader of term ${term}`);
    const previous = this.leaderOfTerm.get(term);
    if (previous !== undefined && previous !== node)
      this.violate(`Election Safety: ${previous} and ${node} both led term ${term}`);
    this.leaderOfTerm.set(term, node);
    this.checkLeaderCompleteness(node, core);
    this.membership.onLeader(node, term, core);
  }

  /** State Machine Safety: called for every entry a node applies. */
  onApply(node: NodeId, entry: LogEntry): string {
    const digest = entryDigest(entry);
    if (entry.type === 'config') {
      const config = decodeConfiguration(entry.command);
      if (config === null) this.violate(`${node} applied a configuration entry ${entry.index} that does not decode`);
      else this.membership.onConfigurationApplied(entry.index, config);
    }
    if (this.witnesses.has(node)) {
      this.onWitnessApply(node, entry);
      return digest;
    }
    const stripped = this.witnessApplied.get(entry.index);
    if (stripped !== undefined && stripped.term !== entry.term)
      this.violate(
        `State Machine Safety: ${node} applied (${entry.index}, term ${entry.term}) but witness ${stripped.node} ` +
          `applied term ${stripped.term} there`,
      );
    const known = this.applied.get(entry.index);
    if (known === undefined) {
      this.applied.set(entry.index, { term: entry.term, digest, node });
    } else if (known.term !== entry.term || known.digest !== digest) {
      this.violate(
        `State Machine Safety: ${node} applied (${entry.index}, term ${entry.term}) but ${known.node} applied ` +
          `term ${known.term} there, with other contents`,
      );
    }
    if (entry.index > this.committed.index) this.committed = { index: entry.index, term: entry.term };
    return digest;
  }

  /**
   * A witness applies an entry: it must hold no command payload, and its term must be the one
   * every other node applies there (the payload was stripped, so only terms and types compare).
   */
  private onWitnessApply(node: NodeId, entry: LogEntry): void {
    if (entry.type === 'command' && entry.command.byteLength > 0)
      this.violate(`Witness: ${node} holds the payload of entry ${entry.index} (${entry.command.byteLength} bytes)`);
    const known = this.applied.get(entry.index) ?? this.witnessApplied.get(entry.index);
    if (known === undefined) this.witnessApplied.set(entry.index, { term: entry.term, node });
    else if (known.term !== entry.term)
      this.violate(
        `State Machine Safety: witness ${node} applied (${entry.index}, term ${entry.term}) but ${known.node} ` +
          `applied term ${known.term} there`,
      );
  }

  /** Snapshots restored count as applying everything they cover. */
  onSnapshotRestore(node: NodeId, index: LogIndex, term: Term): void {
    const known = this.applied.get(index);
    if (known !== undefined && known.term !== term)
      this.violate(
        `State Machine Safety: ${node} restored a snapshot at ${index} of term ${term}, applied elsewhere with ` +
          `term ${known.term}`,
      );
  }

  /** Cheap per-event checks of one node: monotonic indexes and the leader's append-only log. */
  checkNode(node: CheckedNode): void {
    const core = node.core;
    if (core === null) return;
    core.checkInvariants();
    const mark = this.watermarks.get(node.id);
    const commit = core.getCommitIndex();
    const applied = core.getAppliedIndex();
    if (mark === undefined || mark.incarnation !== node.incarnation) {
      this.watermarks.set(node.id, { incarnation: node.incarnation, commit, applied });
    } else {
      if (commit < mark.commit) this.violate(`${node.id}: commit index went back from ${mark.commit} to ${commit}`);
      if (applied < mark.applied)
        this.violate(`${node.id}: applied index went back from ${mark.applied} to ${applied}`);
      mark.commit = commit;
      mark.applied = applied;
    }
    if (core.getRole() === 'leader') this.checkAppendOnly(node.id, core);
    this.membership.checkLeader(node.id, core);
    const commitTerm = core.termAt(commit);
    if (commitTerm !== null && commit > this.committed.index) this.committed = { index: commit, term: commitTerm };
  }

  private checkAppendOnly(id: NodeId, core: RaftCore): void {
    const term = core.getTerm();
    const tail = this.leaderTails.get(term);
    if (tail !== undefined && tail.node === id) {
      const held = core.termAt(tail.index);
      if (core.getLastIndex() < tail.index || (held !== null && held !== tail.term)) {
        this.violate(`Leader Append-Only: leader ${id} of term ${term} lost or changed entry ${tail.index}`);
      }
    }
    const last = core.getLastIndex();
    this.leaderTails.set(term, { node: id, index: last, term: core.termAt(last) ?? 0 });
  }

  /**
   * Leader Completeness: a leader of a term after the highest entry known committed holds it
   * (a deposed leader of an older term that does not know it yet is no counterexample).
   */
  private checkLeaderCompleteness(id: NodeId, core: RaftCore): void {
    const { index, term } = this.committed;
    if (index === 0 || index <= core.getSnapshotIndex() || core.getTerm() <= term) return;
    const held = core.termAt(index);
    if (held !== term)
      this.violate(
        `Leader Completeness: leader ${id} of term ${core.getTerm()} lacks committed entry ${index} ` +
          `(term ${term}); holds ${String(held)}`,
      );
  }

  /** The expensive checks, run periodically: Log Matching and Commit Implies Replication. */
  checkCluster(nodes: readonly CheckedNode[]): void {
    const live = nodes.filter((n): n is LiveNode => n.core !== null);
    for (let i = 0; i < live.length; i += 1) {
      for (let j = i + 1; j < live.length; j += 1) {
        const a = live[i];
        const b = live[j];
        if (a !== undefined && b !== undefined) this.checkLogMatching(a, b);
      }
    }
    for (const node of live) {
      if (node.core.getRole() === 'leader') {
        this.checkLeaderCompleteness(node.id, node.core);
        this.checkReplication(node.core, nodes);
      }
    }
  }

  /**
   * Log Matching over the part of two logs where they can still differ: from a little below
   * the lower commit index up (committed entries are compared on every apply by State Machine
   * Safety, so re-reading whole logs adds nothing but time).
   */
  private checkLogMatching(left: LiveNode, right: LiveNode): void {
    const [aId, a, bId, b] = [left.id, left.core, right.id, right.core];
    // A witness's command entries have no payload: its entries compare by term and type only.
    const payloads = !this.witnesses.has(aId) && !this.witnesses.has(bId);
    const settled = Math.min(a.getCommitIndex(), b.getCommitIndex()) - LOG_MATCH_WINDOW_BELOW_COMMIT;
    const from = Math.max(a.getSnapshotIndex(), b.getSnapshotIndex(), settled) + 1;
    const to = Math.min(a.getLastIndex(), b.getLastIndex());
    if (to < from) return;
    // Find the highest common index with equal terms; everything from `from` to it must match.
    let top = to;
    while (top >= from && a.termAt(top) !== b.termAt(top)) top -= 1;
    if (top < from) return;
    // Either may start later than `from`: storage deleted entries a snapshot covers just before
    // the core compacted (RaftCore.entriesBetween); the entries both hold are compared.
    const xs = a.entriesBetween(from, top);
    const ys = b.entriesBetween(from, top);
    const xFirst = xs[0]?.index ?? top + 1;
    const yFirst = ys[0]?.index ?? top + 1;
    for (let index = Math.max(xFirst, yFirst); index <= top; index += 1) {
      const x = xs[index - xFirst];
      const y = ys[index - yFirst];
      if (
        x === undefined ||
        y === undefined ||
        x.term !== y.term ||
        x.type !== y.type ||
        ((payloads || x.type === 'config') && !sameBytes(x.command, y.command))
      ) {
        this.violate(`Log Matching: ${aId} and ${bId} agree at ${top} but differ at ${index}`);
        return;
      }
    }
  }

  /**
   * Commit Implies Replication, on every event: each leader whose commit index moved since it was
   * last looked at (an entry durable on a quorum only for a moment is caught in that moment).
   */
  checkCommitted(nodes: readonly CheckedNode[]): void {
    for (const node of nodes) {
      const core = node.core;
      if (core === null || core.getRole() !== 'leader') continue;
      const commit = core.getCommitIndex();
      const seen = this.commitsChecked.get(node.id);
      if (seen !== undefined && seen.term === core.getTerm() && seen.commit === commit) continue;
      this.commitsChecked.set(node.id, { term: core.getTerm(), commit });
      this.checkReplication(core, nodes);
    }
  }

  /**
   * Commit Implies Replication: the leader's commit index is durable on a majority of its
   * configuration (joint: of each half, Property 13), counted here apart from the core's quorum code.
   */
  private checkReplication(leader: RaftCore, nodes: readonly CheckedNode[]): void {
    const commit = leader.getCommitIndex();
    const term = leader.termAt(commit);
    if (commit === 0 || term === null) return;
    const holders = new Set<NodeId>();
    for (const node of nodes) {
      const disk = node.disk;
      const snapshot = disk.snapshot?.lastIncludedIndex ?? 0;
      const entry = disk.entries[commit - disk.firstIndex()];
      if (snapshot >= commit || entry?.term === term) holders.add(node.id);
    }
    // While a change is in flight, the entry was committed by the configuration before it or by
    // the new one: sure only of the outgoing half of a joint change (the configuration before it).
    const config = leader.getConfiguration();
    const halves = leader.hasUncommittedConfiguration()
      ? [config.oldVoters ?? []]
      : [config.voters, ...(config.oldVoters === null ? [] : [config.oldVoters])];
    for (const voters of halves) {
      if (voters.filter((id) => holders.has(id)).length * 2 > voters.length || voters.length === 0) continue;
      this.violate(
        `Commit Implies Replication: entry ${commit} is committed but durable only on ${[...holders].join(',')} ` +
          `of ${voters.join(',')}`,
      );
      return;
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i += 1) if (a[i] !== b[i]) return false;
  return true;
}
