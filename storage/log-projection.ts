/**
 * What the disk will hold once every accepted write is committed: the index and term of each
 * stored entry, the snapshot's position and the hard state. The engine checks each new batch
 * against this projection (not against the disk, which lags behind while commits are in
 * flight) and turns the batch into the concrete deletions and puts of one write plan.
 *
 * The projection follows {@link MemoryDisk.apply} step by step, so that the LMDB engine and the
 * memory engine accept and refuse exactly the same batches and end in the same state.
 */
import type { HardState, LogEntry, LogIndex, Snapshot, Term } from '../contracts/log.js';
import type { PersistBatch } from '../contracts/persistence.js';
import { assert } from '../contracts/assert.js';
import type { LogShape } from './log-checks.js';
import { TermRuns } from '../contracts/term-runs.js';

/** One step of a write plan, applied in order inside one LMDB transaction. */
export type WriteStep =
  | { readonly kind: 'snapshot'; readonly snapshot: Snapshot }
  /** Deletes the entries with from <= index <= to (all of which are stored). */
  | { readonly kind: 'delete'; readonly from: LogIndex; readonly to: LogIndex }
  | { readonly kind: 'append'; readonly entries: readonly LogEntry[] }
  | { readonly kind: 'hardState'; readonly hardState: HardState };

/** Terms of the stored entries, by index, with the snapshot's position and the hard state. */
export class LogProjection {
  /** Terms of the stored entries, in runs (term-runs.ts). Invariant: non-decreasing. */
  private terms: TermRuns;
  private snapshotIndex: LogIndex | null;
  private snapshotTerm: Term;
  private hard: HardState;

  constructor(
    hardState: HardState,
    snapshot: { readonly lastIncludedIndex: LogIndex; readonly lastIncludedTerm: Term } | null,
    first: LogIndex,
    terms: Term[],
  ) {
    this.hard = hardState;
    this.snapshotIndex = snapshot?.lastIncludedIndex ?? null;
    this.snapshotTerm = snapshot?.lastIncludedTerm ?? 0;
    this.terms = new TermRuns(first, terms);
  }

  /** An independent copy of this projection. */
  clone(): LogProjection {
    const copy = new LogProjection(this.hard, null, this.terms.first(), []);
    copy.terms = this.terms.clone();
    copy.snapshotIndex = this.snapshotIndex;
    copy.snapshotTerm = this.snapshotTerm;
    return copy;
  }

  /** The last index of the snapshot after every accepted write; null when none is stored. */
  snapshotLastIndex(): LogIndex | null {
    return this.snapshotIndex;
  }

  /** The hard state after every accepted write. */
  hardState(): HardState {
    return this.hard;
  }

  /** The shape {@link checkBatch} checks a new batch against, as MemoryDisk computes it. */
  shape(): LogShape {
    const lastIndex = this.lastIndex();
    const lastTerm = this.terms.lastTerm() ?? (this.snapshotIndex === null ? 0 : this.snapshotTerm);
    return { firstIndex: this.terms.size() > 0 ? this.terms.first() : lastIndex + 1, lastIndex, lastTerm };
  }

  private lastIndex(): LogIndex {
    if (this.terms.size() > 0) return this.terms.first() + this.terms.size() - 1;
    return this.snapshotIndex ?? 0;
  }

  /**
   * Applies a batch that {@link checkBatch} accepted and returns its write plan. The steps
   * follow the batch's order: snapshot, truncateFrom, entries, compactBefore, hardState.
   */
  apply(batch: PersistBatch): WriteStep[] {
    const steps: WriteStep[] = [];
    if (batch.snapshot !== null) {
      steps.push({ kind: 'snapshot', snapshot: batch.snapshot });
      this.snapshotIndex = batch.snapshot.lastIncludedIndex;
      this.snapshotTerm = batch.snapshot.lastIncludedTerm;
      // Entries the snapshot covers are kept only while the log continues past it.
      if (this.terms.size() > 0 && batch.snapshot.lastIncludedIndex >= this.lastIndex())
        this.deleteFrom(this.terms.first(), steps);
    }
    if (batch.truncateFrom !== null && this.terms.size() > 0) {
      this.deleteFrom(Math.max(batch.truncateFrom, this.terms.first()), steps);
    }
    if (batch.entries.length > 0) {
      const terms = this.terms;
      if (terms.size() === 0) terms.startAt(batch.entries[0]?.index ?? terms.first());
      for (const entry of batch.entries) {
        assert(entry.index === terms.first() + terms.size(), `projected append of ${entry.index} is not contiguous`);
        terms.push(entry.term);
      }
      steps.push({ kind: 'append', entries: batch.entries });
    }
    const first = this.terms.first();
    if (batch.compactBefore !== null && this.terms.size() > 0 && batch.compactBefore > first) {
      const count = Math.min(batch.compactBefore - first, this.terms.size());
      steps.push({ kind: 'delete', from: first, to: first + count - 1 });
      this.terms.dropFirst(count);
    }
    if (batch.hardState !== null) {
      this.hard = batch.hardState;
      steps.push({ kind: 'hardState', hardState: batch.hardState });
    }
    return steps;
  }

  /** Deletes every stored entry with index >= from, if any. */
  private deleteFrom(from: LogIndex, steps: WriteStep[]): void {
    const last = this.lastIndex();
    const first = this.terms.first();
    if (this.terms.size() === 0 || from > last) return;
    assert(from >= first, `projected deletion from ${from} starts before the first entry ${first}`);
    steps.push({ kind: 'delete', from, to: last });
    this.terms.truncate(from - first);
  }
}
