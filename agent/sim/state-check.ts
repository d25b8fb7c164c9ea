/**
 * State Machine Safety seen on the states themselves (reference Properties 5, 14 and 19): two
 * replicas that have applied the log up to one index hold byte-identical key-value states there
 * (keys, revisions, leases, the session table that makes retries exactly-once, its cached
 * answers), however each got there: by applying every entry, by restoring a snapshot it took or
 * one the leader sent, or by replaying its log after a restart. Comparing the commands applied at
 * each index (safety.ts) cannot see a state that a snapshot or a restore lost or changed; this
 * can. Witnesses hold no state and are not compared.
 */
import { createHash } from 'node:crypto';
import type { LogIndex, NodeId } from '../../contracts/log.js';

/** Most indexes remembered; the oldest are forgotten first (replicas compare near the head). */
const INDEXES_MAX = 4096;

export class StateChecker {
  /** The digest of the state at each applied index seen, and the node it was first seen on. */
  private readonly states = new Map<LogIndex, { digest: string; node: NodeId }>();
  /** States compared with an earlier one, for the tests. */
  compared = 0;

  constructor(private readonly violate: (message: string) => void) {}

  /** The index each node was last compared at: a node that applied nothing since is not encoded again. */
  private readonly lastChecked = new Map<NodeId, LogIndex>();

  /** Node `id` has applied up to `index` and its state encodes to `state()`. */
  check(id: NodeId, index: LogIndex, state: () => Uint8Array): void {
    if (this.lastChecked.get(id) === index) return;
    this.lastChecked.set(id, index);
    const digest = createHash('sha256').update(state()).digest('hex');
    const known = this.states.get(index);
    if (known === undefined) {
      this.states.set(index, { digest, node: id });
      if (this.states.size > INDEXES_MAX) {
        const oldest = this.states.keys().next();
        if (oldest.done !== true) this.states.delete(oldest.value);
      }
      return;
    }
    this.compared += 1;
    if (known.digest !== digest)
      this.violate(
        `State Machine Safety: ${id} and ${known.node} applied up to ${index} but hold different states ` +
          `(${digest.slice(0, 12)} and ${known.digest.slice(0, 12)})`,
      );
  }
}
