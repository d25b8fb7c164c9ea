/**
 * Sends the transport refused because of an address (NetworkError NET_ADDRESS: another member is
 * known at the peer's address, or this node's socket cannot send to its address family). Such a
 * send never leaves the node and no retry helps until an address changes, yet the core only hears
 * `unreachable`, as for a peer that is down. The operator must hear it: each distinct refusal of a
 * peer is logged once, at warn, and the last one of each peer is kept so that a learner that did
 * not catch up can say why (membership-driver.ts).
 */
import { NetworkError } from '../../contracts/errors.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { NodeId } from '../../contracts/log.js';

/**
 * Most distinct (peer, refusal) pairs remembered as logged; past it the memory starts over (a
 * refusal may then be logged once more). Far above a cluster's members times their addresses.
 */
export const SEND_REFUSALS_LOGGED_MAX = 256;

/** The address refusals of the node's sends; see the module comment. */
export class SendRefusals {
  // Invariant: logged.size and lastOf.size <= SEND_REFUSALS_LOGGED_MAX; lastOf: one entry per peer refused.
  private readonly logged = new Set<string>();
  private readonly lastOf = new Map<NodeId, string>();

  constructor(
    private readonly logger: DiagnosticLogger,
    private readonly nodeId: NodeId,
  ) {}

  /** A send to `peer` failed with `error`; returns whether it was an address refusal (then noted). */
  noteFailure(peer: NodeId, error: unknown): boolean {
    if (!(error instanceof NetworkError) || error.code !== 'NET_ADDRESS') return false;
    if (this.lastOf.size >= SEND_REFUSALS_LOGGED_MAX && !this.lastOf.has(peer)) this.lastOf.clear();
    this.lastOf.set(peer, error.message);
    const key = `${peer}\n${error.message}`;
    if (this.logged.has(key)) return true;
    if (this.logged.size >= SEND_REFUSALS_LOGGED_MAX) this.logged.clear();
    this.logged.add(key);
    this.logger.warning('not sending to a member: its address cannot be used from this node', {
      node: this.nodeId,
      peer,
      reason: error.message,
    });
    return true;
  }

  /** A send to `peer` went out: a later refusal of it is news again. */
  noteSent(peer: NodeId): void {
    if (!this.lastOf.delete(peer)) return;
    for (const key of this.logged) if (key.startsWith(`${peer}\n`)) this.logged.delete(key);
  }

  /** The last address refusal of sends to `peer` since one went out, or null. */
  lastRefusalOf(peer: NodeId): string | null {
    return this.lastOf.get(peer) ?? null;
  }
}
