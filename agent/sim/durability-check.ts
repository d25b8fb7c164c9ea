/**
 * Persistence Before Response (reference Property 9) and the durability of a node's hard state
 * across crashes (Properties 10 and 17), checked against what is on a node's simulated disk:
 * - every Raft response a node sends carries a term its disk already holds (a node that crashes
 *   right after answering must not come back in an older term);
 * - a granted vote is on the disk before it leaves (else a restarted node could vote twice in a
 *   term);
 * - an AppendEntries success is sent only once the entries it acknowledges, and the entry it
 *   matched, are on the disk (else a leader counts toward a commit an entry a crash can lose);
 * - a node's durable term never decreases, and its durable vote never changes within a term,
 *   whatever crashes and restarts happen between two looks.
 * - a node answers a leader's request of a later term in that term (Property 22).
 * Only the current run of a node is checked (a response a crashed run still produces is dropped
 * with its process in a real deployment).
 */
import type { LogIndex, NodeId, Term } from '../../contracts/log.js';
import type { RequestMessage, ResponseMessage } from '../../contracts/messages.js';
import type { MemoryDisk } from '../../storage/memory.js';

/** The term of `index` on `disk`: 'covered' when its snapshot covers it, null when the disk lacks it. */
function durableTermAt(disk: MemoryDisk, index: LogIndex): Term | 'covered' | null {
  if (index === 0) return 0;
  const snapshot = disk.snapshot;
  if (snapshot !== null && index <= snapshot.lastIncludedIndex)
    return index === snapshot.lastIncludedIndex ? snapshot.lastIncludedTerm : 'covered';
  return disk.entries[index - disk.firstIndex()]?.term ?? null;
}

export class DurabilityChecker {
  /** The durable hard state of each node last seen, to compare with the next look. */
  private readonly hardStates = new Map<NodeId, { term: Term; votedFor: NodeId | null }>();
  /** Responses checked, for the tests. */
  checked = 0;

  constructor(private readonly violate: (message: string) => void) {}

  /** Checks one response node `id` sends to `request`, against its disk at that moment. */
  onResponse(id: NodeId, disk: MemoryDisk, request: RequestMessage, response: ResponseMessage): void {
    if (response.type === 'PreVoteResponse' || response.type === 'ClientForwardResponse') return;
    this.checked += 1;
    const durable = disk.hardState.currentTerm;
    if (durable < response.term) {
      this.violate(
        `Persistence Before Response: ${id} answered a ${request.type} in term ${response.term} ` +
          `with term ${durable} on its disk`,
      );
      return;
    }
    // Higher Term Causes Follower Transition (Property 22): a request of a later term moves the node to it.
    if (request.type !== 'RequestVoteRequest' && request.type !== 'PreVoteRequest' && 'term' in request)
      if (response.term < request.term)
        this.violate(
          `Higher term: ${id} answered a ${request.type} of term ${request.term} in its older term ${response.term}`,
        );
    // The node moved to a later term since it answered: what it wrote then may be gone legitimately.
    if (durable > response.term) return;
    if (response.type === 'RequestVoteResponse' && request.type === 'RequestVoteRequest' && response.voteGranted) {
      const voted = disk.hardState.votedFor;
      if (voted !== request.candidateId)
        this.violate(
          `Persistence Before Response: ${id} granted its vote of term ${response.term} to ${request.candidateId} ` +
            `with ${String(voted)} as the vote on its disk`,
        );
    }
    if (response.type === 'AppendEntriesResponse' && request.type === 'AppendEntriesRequest' && response.success)
      this.checkAppended(id, disk, request);
  }

  private checkAppended(
    id: NodeId,
    disk: MemoryDisk,
    request: RequestMessage & { type: 'AppendEntriesRequest' },
  ): void {
    const expected = [{ index: request.prevLogIndex, term: request.prevLogTerm }, ...request.entries];
    for (const { index, term } of expected) {
      const held = durableTermAt(disk, index);
      if (held === 'covered' || held === term) continue;
      this.violate(
        `Persistence Before Response: ${id} acknowledged entries ${request.prevLogIndex + 1}..` +
          `${request.prevLogIndex + request.entries.length} of term ${request.term} but its disk holds ` +
          `${held === null ? 'nothing' : `term ${held}`} at ${index} (wanted term ${term})`,
      );
      return;
    }
  }

  /** The hard state on `disk` never goes back: its term never decreases, its vote never changes within a term. */
  checkHardState(id: NodeId, disk: MemoryDisk): void {
    const now = disk.hardState;
    const before = this.hardStates.get(id);
    if (before !== undefined) {
      if (now.currentTerm < before.term)
        this.violate(`Durable term: ${id}'s disk went back from term ${before.term} to ${now.currentTerm}`);
      else if (now.currentTerm === before.term && before.votedFor !== null && now.votedFor !== before.votedFor)
        this.violate(
          `Durable vote: ${id}'s disk changed its vote of term ${now.currentTerm} from ${before.votedFor} ` +
            `to ${String(now.votedFor)}`,
        );
    }
    this.hardStates.set(id, { term: now.currentTerm, votedFor: now.votedFor });
  }

  /** A node whose disk is wiped (a replaced gateway, under a new id) is forgotten. */
  forget(id: NodeId): void {
    this.hardStates.delete(id);
  }
}
