/**
 * State Transition Logging (reference Property 21): every role change a node makes (follower,
 * pre-candidate, candidate, leader) appears in its log, at info level, with its term, soon after
 * it happens (the runtime logs the core's events when it handles the Ready that carries them). A
 * change seen on the core is waited for in the log for up to {@link LOG_WAIT_MS}; a node that
 * crashes meanwhile is excused (the line died with its process).
 */
import type { NodeId, Term } from '../../contracts/log.js';
import type { LogRecord } from '../observability/noop.js';

/** How long a role change may go unlogged, simulated ms (a Ready waits at most for one write). */
const LOG_WAIT_MS = 1_000;

interface Seen {
  readonly incarnation: number;
  role: string;
  term: Term;
}

/** A change to `role` seen in `term`, made in a term from `since` (the term last seen) to `term`. */
interface Pending {
  readonly incarnation: number;
  readonly role: string;
  readonly since: Term;
  readonly term: Term;
  readonly dueMs: number;
}

/**
 * Whether `records` hold the line of a change to `role` in a term from `since` to `term` (a node
 * that steps down and hears of a later term in one instant logged the change in the earlier one).
 */
function logged(records: readonly LogRecord[], role: string, since: Term, term: Term): boolean {
  for (let i = records.length - 1; i >= 0; i -= 1) {
    const record = records[i];
    const at = record?.fields.term;
    if (record?.level === 'info' && record.fields.to === role && typeof at === 'number' && at >= since && at <= term)
      return true;
  }
  return false;
}

export class TransitionLogChecker {
  private readonly seen = new Map<NodeId, Seen>();
  private readonly pending = new Map<NodeId, Pending[]>();
  /** Role changes found in the log, for the tests. */
  found = 0;

  constructor(private readonly violate: (message: string) => void) {}

  /** Looks at node `id`'s current role and term, and its log, at `nowMs`. */
  check(id: NodeId, incarnation: number, role: string, term: Term, records: readonly LogRecord[], nowMs: number): void {
    const before = this.seen.get(id);
    if (before === undefined || before.incarnation !== incarnation) {
      // A (re)start: the role it starts in is no change; what the last run left unlogged died with it.
      this.seen.set(id, { incarnation, role, term });
      this.pending.delete(id);
      return;
    }
    const waiting = this.pending.get(id) ?? [];
    if (before.role !== role || (before.term !== term && role !== 'follower')) {
      // Only stepping down may be followed, in the same instant, by a later term without a change of role.
      const since = role === 'follower' ? before.term : term;
      waiting.push({ incarnation, role, since, term, dueMs: nowMs + LOG_WAIT_MS });
      before.role = role;
    }
    before.term = term;
    const left = waiting.filter((change) => {
      if (logged(records, change.role, change.since, change.term)) {
        this.found += 1;
        return false;
      }
      if (nowMs <= change.dueMs) return true;
      this.violate(
        `State Transition Logging: ${id} became ${change.role} in term ${change.term} and logged no line of it`,
      );
      return false;
    });
    if (left.length > 0) this.pending.set(id, left);
    else this.pending.delete(id);
  }
}
