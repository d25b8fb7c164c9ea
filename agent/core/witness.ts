/**
 * What a witness member receives (DESIGN.md, "Witness members"). A witness votes and counts
 * toward commitment, so it must keep every entry's term and index (they decide whom it votes
 * for, Raft §5.4.1) and every configuration entry in full (they decide who votes), but it never
 * applies a state machine command and never leads, so the payload of every other entry is
 * stripped: the leader strips what it sends to a witness, and a witness strips again whatever
 * reaches it, so its disk holds no value even if a leader that does not know it is a witness
 * sends it one.
 *
 * The policy is injected (CoreDeps.witnessView) so the application can keep more than the
 * default: the agent keeps signed admin entries, which carry link keys wrapped for each member
 * and no client data, so a witness still learns the keys of members added after it.
 */
import { assert } from '../../contracts/assert.js';
import type { LogEntry } from '../../contracts/log.js';

/**
 * What a witness is sent of the log. A witness is sent snapshots without their image, whatever
 * the view: their metadata and configuration only (replication.ts).
 */
export interface WitnessView {
  /**
   * The entry as a witness stores it: same term, index and type; a `config` entry must come
   * back unchanged. Pure.
   */
  entry(entry: LogEntry): LogEntry;
  /** Removed: a witness is always sent snapshots without their image. */
  snapshotData?: never;
}

const EMPTY = new Uint8Array(0);

/** The default view: configuration entries in full, every other payload empty. */
export const STRIPPED_WITNESS_VIEW: WitnessView = {
  entry: (entry) => (entry.type === 'config' || entry.command.byteLength === 0 ? entry : { ...entry, command: EMPTY }),
};

/** `entries` as `view` lets a witness see them, checked against the view's contract. */
export function entriesForWitness(view: WitnessView, entries: readonly LogEntry[]): LogEntry[] {
  return entries.map((entry) => {
    const seen = view.entry(entry);
    assert(seen.term === entry.term && seen.index === entry.index, 'a witness keeps every term and index');
    assert(seen.type === entry.type, 'a witness keeps every entry type');
    assert(entry.type !== 'config' || seen.command === entry.command, 'a witness keeps configuration entries whole');
    return seen;
  });
}
