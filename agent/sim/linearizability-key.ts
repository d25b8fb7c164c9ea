/**
 * The search for a linearization of one key's operations, or of a component of keys that
 * multi-key transactions tie together (Wing & Gong with Lowe's memo), over a model whose states
 * are integers (linearizability-model.ts: one register, or a map of registers). Never recurses:
 * the stack of choices is explicit.
 *
 * At each node the candidates are the pending operations invoked before the first pending
 * completion. They are tried in three phases; every pruning below keeps the search complete:
 *
 * 0. An ok read (get) that the register satisfies now. Taking it first is always possible: it
 *    changes nothing, and every pending operation completes after its invoke, so any
 *    linearization from this node can be rearranged to start with it. Hence if taking it fails
 *    (or reaches a state already explored), the node fails, and the others are not tried.
 * 1. The other ok operations (put, delete, cas).
 * 2. The info operations. They need never take effect, so one is taken only if a pending
 *    operation wants the value it leaves, and right after one only a reader (get, cas) may
 *    follow: were a blind write (put, delete) to follow, the state would be dominated by the one
 *    that skips the info operation, which was explored from the parent already (that blind write
 *    was a candidate there, and phase 2 starts only after every ok candidate failed). Over several
 *    keys this holds only for a blind write that overwrites every key the info operation wrote
 *    (SearchModel.covers). Without
 *    this, k pending writes of unknown outcome cost up to 2^k states per backtrack.
 *
 * Meeting a completion in phase 2 is a dead end: the operation completing there could not take
 * effect in time. The search then undoes choices, and succeeds once every ok operation has
 * taken effect.
 */
import { assert } from '../../contracts/assert.js';
import { SeededPrng } from '../../contracts/prng.js';
import type { HistoryOperation } from './history.js';
import type { StateCacheLimits } from './linearizability-memo.js';
import { StateCache } from './linearizability-memo.js';
import type { EventList } from './linearizability-search.js';
import { buildEventList } from './linearizability-search.js';
import type { SearchModel } from './linearizability-model.js';

/** Where the search got furthest: what it had taken and which completion stopped it. */
export interface DeepestPoint {
  readonly depth: number;
  /** The model state there. */
  readonly value: number;
  /** The operation whose completion came before anything else could take effect. */
  readonly blockedOp: number;
  /** Pending operations invoked before that completion (none of them could take effect). */
  readonly candidates: readonly number[];
  /** The last operations taken, most recent last. */
  readonly recent: readonly number[];
}

/** The outcome of one key's search. */
export type KeySearchOutcome =
  | { readonly ok: true; readonly states: number }
  | { readonly ok: false; readonly states: number; readonly deepest: DeepestPoint; readonly model: SearchModel }
  | { readonly ok: 'unknown'; readonly states: number; readonly reason: string };

/** Searches for a linearization of one key's operations (fail operations already removed). */
export class KeySearch {
  private readonly isInfo: Uint8Array;
  private readonly list: EventList;
  private readonly cache: StateCache;
  private readonly windowOperationsMax: number;
  private readonly stackOp: Int32Array;
  private readonly stackValue: Int32Array;
  private depth = 0;
  /** The model's state at the current node. */
  private value: number;
  /** Invariant: the ok operations not taken. */
  private okRemaining: number;
  private deepest: DeepestPoint | null = null;

  constructor(
    ops: readonly HistoryOperation[],
    private readonly model: SearchModel,
    limits: StateCacheLimits & { readonly windowOperationsMax: number },
  ) {
    this.value = model.initial;
    this.isInfo = Uint8Array.from(ops, (op) => (op.status === 'ok' ? 0 : 1));
    this.list = buildEventList(ops);
    this.cache = new StateCache(ops, new SeededPrng(0x51ce), limits);
    this.windowOperationsMax = limits.windowOperationsMax;
    this.stackOp = new Int32Array(ops.length);
    this.stackValue = new Int32Array(ops.length);
    this.okRemaining = ops.length - this.isInfo.reduce((sum, x) => sum + x, 0);
  }

  /** Runs the search to a verdict. */
  run(): KeySearchOutcome {
    let phase = 0;
    let entry = this.list.first();
    while (this.okRemaining > 0) {
      const op = this.list.opOf(entry);
      assert(op >= 0, 'an ok operation is pending, so a completion precedes the tail');
      if (!this.list.isInvoke(entry)) {
        if (phase < 2) {
          phase += 1;
          entry = this.list.first();
          continue;
        }
      } else if (this.isCandidate(op, phase)) {
        const outcome = this.cache.addIfAbsent(op, this.model.after(op, this.value));
        if (outcome === 'full') return { ok: 'unknown', states: this.cache.size, reason: this.cache.limitReason() };
        if (this.model.overflow)
          return { ok: 'unknown', states: this.cache.size, reason: 'statesMaxPerKey model states' };
        if (outcome === 'added') {
          this.take(op);
          phase = 0;
          entry = this.list.first();
          continue;
        }
        if (phase !== 0) {
          entry = this.list.next(entry);
          continue;
        }
        // A legal read whose state was explored already: this node fails (see phase 0 above).
      } else {
        entry = this.list.next(entry);
        continue;
      }
      const resume = this.backtrack(entry);
      if (resume === null) {
        assert(this.deepest !== null, 'a failed search recorded where it got furthest');
        return { ok: false, states: this.cache.size, deepest: this.deepest, model: this.model };
      }
      ({ phase, entry } = resume);
    }
    return { ok: true, states: this.cache.size };
  }

  /** Whether `op` may be taken now, in `phase`. */
  private isCandidate(op: number, phase: number): boolean {
    if (!this.model.allows(op, this.value)) return false;
    const previous = this.depth > 0 ? (this.stackOp[this.depth - 1] ?? -1) : -1;
    if (previous >= 0 && this.isInfo[previous] === 1 && this.model.isBlind(op) && this.model.covers(op, previous))
      return false;
    if (this.isInfo[op] === 1) return phase === 2 && !this.model.isRead(op) && this.model.isWanted(op);
    return phase === (this.model.isRead(op) ? 0 : 1);
  }

  private take(op: number): void {
    this.stackOp[this.depth] = op;
    this.stackValue[this.depth] = this.value;
    this.depth += 1;
    this.value = this.model.after(op, this.value);
    this.list.lift(op);
    this.adjust(op, -1);
  }

  private adjust(op: number, sign: 1 | -1): void {
    this.model.adjustWanted(op, sign);
    if (this.isInfo[op] === 0) this.okRemaining += sign;
  }

  /**
   * Undoes choices after a dead end at `entry`: pops the last choice, and keeps popping while
   * the popped choice was a phase-0 read (its parent fails with it). Returns where to resume,
   * or null when the stack is empty (no linearization).
   */
  private backtrack(entry: number): { phase: number; entry: number } | null {
    if (this.deepest === null || this.depth > this.deepest.depth) {
      const recent = Array.from(this.stackOp.subarray(Math.max(0, this.depth - 2), this.depth));
      const blockedOp = this.list.isInvoke(entry) ? this.firstCompletionOp(entry) : this.list.opOf(entry);
      const candidates = this.list.invokesBefore(this.list.completionEntryOf(blockedOp), this.windowOperationsMax);
      this.deepest = { depth: this.depth, value: this.value, blockedOp, candidates, recent };
    }
    for (;;) {
      if (this.depth === 0) return null;
      this.depth -= 1;
      const undone = this.stackOp[this.depth] ?? -1;
      this.value = this.stackValue[this.depth] ?? 0;
      this.cache.unmark(undone);
      this.list.unlift(undone);
      this.adjust(undone, 1);
      const wasRead = this.isInfo[undone] === 0 && this.model.isRead(undone);
      if (!wasRead)
        return { phase: this.isInfo[undone] === 1 ? 2 : 1, entry: this.list.next(this.list.invokeEntry(undone)) };
    }
  }

  /** The operation of the first completion after `entry`. */
  private firstCompletionOp(entry: number): number {
    let e = entry;
    while (this.list.isInvoke(e)) e = this.list.next(e);
    return this.list.opOf(e);
  }
}
