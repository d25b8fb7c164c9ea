/**
 * The trace format of `coraft sim --trace` and `coraft agent --trace`, and the checker of its
 * apply events. A trace is JSON Lines, one event per line; `t` is milliseconds (virtual time in
 * the simulator, Unix time on an agent), `node` a node id:
 *
 *   {"t":ms,"type":"restart","node":ID}
 *       The node starts from its disk: every start, the first included. An agent writes it as
 *       the first line of every run. A restarted node re-applies the entries after its snapshot.
 *   {"t":ms,"type":"crash","node":ID}
 *       (simulator) The node goes down at once, losing every write it had not synced.
 *   {"t":ms,"type":"snapshot","node":ID,"index":I,"term":T}
 *       The node restored a snapshot covering entries up to I (of term T): its own, from its
 *       disk, right after its `restart` line, or one the leader sent.
 *   {"t":ms,"type":"apply","node":ID,"index":I,"term":T,"digest":HEX[,"witness":true]}
 *       The node applied entry I of term T; HEX is the SHA-256 of its command bytes. A witness
 *       (`"witness":true`) holds entries without their payload: its applies are compared by term
 *       only, and follow the same ordering rules.
 *   {"t":ms,"type":"leader","node":ID,"term":T}
 *   {"t":ms,"type":"config","node":ID,"index":I,"voters":[...],"learners":[...],"joint":B}
 *   invoke / ok / fail / info: the client history (agent/sim/history.ts).
 *   {"type":"summary",...}: the simulator's last line, its figures.
 *
 * The checker's rules for applies (reference Property 5, State Machine Safety, seen from
 * outside): every node that applies index I applies the same (term, digest); within one run of
 * a node (from one `restart` to the next) the indexes it applies only increase, and stay above
 * every snapshot it restored; so the only index a node may apply twice is one it re-applies
 * after a restart, from its restored snapshot's index + 1 (or from 1 without one), and at no
 * other time may an index be applied twice. A crashed node applies nothing until it restarts.
 */

/** Most violations kept; the count goes on. */
const VIOLATIONS_MAX = 100;

/** What the checker found. */
export interface TraceApplyReport {
  /** Indexes applied by at least two nodes, compared. */
  readonly indexesCompared: number;
  /** Highest index applied, by node. */
  readonly lastApplied: Readonly<Record<string, number>>;
  /** Applies of an index the node had applied before, each after a restart (legitimate). */
  readonly replays: number;
  /** Restart events seen. */
  readonly restarts: number;
  /** Every violation found (the first VIOLATIONS_MAX are described). */
  readonly violationCount: number;
  readonly violations: readonly string[];
}

interface AppliedAt {
  readonly node: string;
  readonly term: number;
  readonly digest: string;
}

interface NodeState {
  /** The highest index applied or restored in the current run of the node. */
  floor: number;
  /** The highest index the node ever applied. */
  highest: number;
  /** Whether the node is down (a crash without a restart since). */
  down: boolean;
}

function field(event: object, name: string): unknown {
  return Reflect.get(event, name);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Checks apply events one by one, in the order each node wrote them. */
export class TraceApplyChecker {
  private readonly appliedAt = new Map<number, AppliedAt>();
  /** The term a witness applied at each index no full member applied yet (witnesses hold no payload). */
  private readonly witnessTerms = new Map<number, { readonly node: string; readonly term: number }>();
  private readonly appliers = new Map<number, number>();
  private readonly nodes = new Map<string, NodeState>();
  private readonly violations: string[] = [];
  private violationCount = 0;
  private replays = 0;
  private restarts = 0;

  /** Feeds one parsed trace line; lines of other types, and malformed ones, are ignored. */
  add(event: unknown): void {
    if (typeof event !== 'object' || event === null) return;
    const type = field(event, 'type');
    const node = field(event, 'node');
    if (typeof node !== 'string') return;
    const state = this.stateOf(node);
    switch (type) {
      case 'restart':
        this.restarts += 1;
        state.floor = 0;
        state.down = false;
        return;
      case 'crash':
        state.down = true;
        return;
      case 'snapshot': {
        const index = field(event, 'index');
        if (isIndex(index)) state.floor = Math.max(state.floor, index);
        return;
      }
      case 'apply':
        this.apply(node, state, event);
        return;
      default:
        return;
    }
  }

  private stateOf(node: string): NodeState {
    let state = this.nodes.get(node);
    if (state === undefined) {
      state = { floor: 0, highest: 0, down: false };
      this.nodes.set(node, state);
    }
    return state;
  }

  private apply(node: string, state: NodeState, event: object): void {
    const index = field(event, 'index');
    const term = field(event, 'term');
    const digest = field(event, 'digest');
    if (!isIndex(index) || !isIndex(term) || typeof digest !== 'string') return;
    if (state.down) this.violate(`${node} applied index ${index} while crashed (no restart since its crash)`);
    if (index <= state.floor) {
      this.violate(
        `${node} applied index ${index} twice: it had applied or restored up to ${state.floor} since its last restart`,
      );
    } else if (index <= state.highest) {
      this.replays += 1;
    }
    state.floor = Math.max(state.floor, index);
    state.highest = Math.max(state.highest, index);
    if (field(event, 'witness') === true) {
      this.witnessApply(node, index, term);
      return;
    }
    const stripped = this.witnessTerms.get(index);
    if (stripped !== undefined && stripped.term !== term)
      this.violate(`index ${index}: witness ${stripped.node} applied term ${stripped.term}, ${node} term ${term}`);
    const known = this.appliedAt.get(index);
    if (known === undefined) {
      this.appliedAt.set(index, { node, term, digest });
      this.appliers.set(index, 1);
    } else if (known.node !== node) {
      this.appliers.set(index, (this.appliers.get(index) ?? 1) + 1);
      if (known.term !== term || known.digest !== digest) {
        this.violate(
          `index ${index}: ${known.node} applied term ${known.term} digest ${known.digest.slice(0, 12)}, ${node} ` +
            `applied term ${term} digest ${digest.slice(0, 12)}`,
        );
      }
    } else if (known.term !== term || known.digest !== digest) {
      this.violate(
        `index ${index}: ${node} applied term ${known.term} digest ${known.digest.slice(0, 12)} and later ` +
          `term ${term} digest ${digest.slice(0, 12)}`,
      );
    }
  }

  /** A witness applied index `index` of term `term`: the terms must agree with every other apply there. */
  private witnessApply(node: string, index: number, term: number): void {
    const known = this.appliedAt.get(index) ?? this.witnessTerms.get(index);
    if (known === undefined) this.witnessTerms.set(index, { node, term });
    else if (known.term !== term)
      this.violate(`index ${index}: ${known.node} applied term ${known.term}, witness ${node} term ${term}`);
  }

  private violate(message: string): void {
    this.violationCount += 1;
    if (this.violations.length < VIOLATIONS_MAX) this.violations.push(message);
  }

  /** What the lines fed so far show. */
  report(): TraceApplyReport {
    const lastApplied: Record<string, number> = {};
    for (const [node, state] of this.nodes) lastApplied[node] = state.highest;
    return {
      indexesCompared: [...this.appliers.values()].filter((count) => count >= 2).length,
      lastApplied,
      replays: this.replays,
      restarts: this.restarts,
      violationCount: this.violationCount,
      violations: [...this.violations],
    };
  }
}

/** Checks the apply events of a whole trace text (JSON Lines); unparsable lines are skipped. */
export function checkTraceText(text: string): TraceApplyReport & { readonly linesSkipped: number } {
  const checker = new TraceApplyChecker();
  let linesSkipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      // A line cut short (an agent killed while writing it) is skipped and counted.
      linesSkipped += 1;
      continue;
    }
    checker.add(event);
  }
  return { ...checker.report(), linesSkipped };
}
