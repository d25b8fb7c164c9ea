/**
 * The encoded bodies of the last heartbeat sent to each peer, reused while nothing in it changes
 * (issue 17: CPU at rest). An idle leader sends each follower the same heartbeat every interval
 * (an AppendEntries without entries: its term, id, previous index and term, and commit index),
 * and encoding it again each time (the codec's checks, then its writer) was about a twentieth of
 * an idle leader's CPU. A request with entries is always encoded anew: it is rarely sent twice,
 * and the codec's checks on its entries stay where they are.
 *
 * A cached body is a copy of what the codec wrote (its own small buffer), so it neither pins the
 * codec's shared output buffer nor changes with it, and it is never written to: the transports
 * only read a request body. One entry per peer, at most {@link HEARTBEAT_PAYLOAD_PEERS_MAX}.
 */
import type { NodeId } from '../contracts/log.js';
import type { AppendEntriesRequest, RequestMessage } from '../contracts/messages.js';

/** Peers whose last heartbeat body is kept; at more than that (a bug: clusters are smaller) the cache starts over. */
export const HEARTBEAT_PAYLOAD_PEERS_MAX = 256;

/** Whether two heartbeats would encode to the same bytes: every field the codecs write is equal. */
function sameHeartbeat(a: AppendEntriesRequest, b: AppendEntriesRequest): boolean {
  return (
    a.term === b.term &&
    a.leaderId === b.leaderId &&
    a.prevLogIndex === b.prevLogIndex &&
    a.prevLogTerm === b.prevLogTerm &&
    a.leaderCommit === b.leaderCommit &&
    a.entries.length === 0 &&
    b.entries.length === 0
  );
}

/** The last heartbeat body per peer; see the module comment. */
export class HeartbeatPayloads {
  private readonly last = new Map<NodeId, { readonly request: AppendEntriesRequest; readonly body: Uint8Array }>();

  /**
   * The body of `request` to `target`: the cached one when `request` is a heartbeat equal to the
   * last one sent there, else `encode(request)` (cached when `request` is a heartbeat).
   */
  bodyOf(target: NodeId, request: RequestMessage, encode: (request: RequestMessage) => Uint8Array): Uint8Array {
    if (request.type !== 'AppendEntriesRequest' || request.entries.length !== 0) return encode(request);
    const cached = this.last.get(target);
    if (cached !== undefined && sameHeartbeat(cached.request, request)) return cached.body;
    // A copy in an ArrayBuffer of its own (Buffer's slice() would be a view of the same memory).
    const body = new Uint8Array(encode(request));
    if (cached === undefined && this.last.size >= HEARTBEAT_PAYLOAD_PEERS_MAX) this.last.clear();
    this.last.set(target, { request, body });
    return body;
  }

  /** Forgets every cached body (the peers changed). */
  clear(): void {
    this.last.clear();
  }

  /** Peers with a cached body. */
  get size(): number {
    return this.last.size;
  }
}
