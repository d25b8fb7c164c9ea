/**
 * The terms of a contiguous range of log indexes, kept as runs of equal terms. Terms change only
 * at elections, so a log of any length holds a handful of runs: appending an entry of the last
 * term costs a counter, not an array slot, and dropping a compacted prefix moves a bound instead
 * of copying the terms that remain (storage/log-projection.ts, which every write goes through
 * twice; agent/core/log-window.ts).
 */
import type { LogIndex, Term } from './log.js';
import { assert } from './assert.js';

/** Terms of the indexes first..first+size()-1. */
export class TermRuns {
  /** Index of the first entry. Invariant: meaningful only while count > 0. */
  private firstIndex: LogIndex;
  private count = 0;
  /**
   * Invariant: starts[0] === firstIndex, starts increase, terms[i] !== terms[i+1], and run i
   * covers starts[i]..starts[i+1]-1 (the last run up to the last index). Empty exactly when count
   * is 0. (A log's terms never decrease, but the engine's own checks leave the term after a
   * truncation to the core, so nothing here relies on it.)
   */
  private starts: LogIndex[] = [];
  private terms: Term[] = [];

  /** The runs of `terms`, the terms of first, first + 1, ... */
  constructor(first: LogIndex, terms: readonly Term[] = []) {
    this.firstIndex = first;
    for (const term of terms) this.push(term);
  }

  /** An independent copy. */
  clone(): TermRuns {
    const copy = new TermRuns(this.firstIndex);
    copy.count = this.count;
    copy.starts = this.starts.slice();
    copy.terms = this.terms.slice();
    return copy;
  }

  /** Entries held. */
  size(): number {
    return this.count;
  }

  /** Index of the first entry (meaningful only while size() > 0). */
  first(): LogIndex {
    return this.firstIndex;
  }

  /** Sets the index of the first entry of an empty range. */
  startAt(first: LogIndex): void {
    assert(this.count === 0, 'only an empty range of terms moves its start');
    this.firstIndex = first;
  }

  /** Term of the last entry; undefined when empty. */
  lastTerm(): Term | undefined {
    return this.terms[this.terms.length - 1];
  }

  /** Term of the entry at `index`; undefined when the range does not hold it. */
  termAt(index: LogIndex): Term | undefined {
    if (this.count === 0 || index < this.firstIndex || index >= this.firstIndex + this.count) return undefined;
    let run = this.starts.length - 1;
    while (run > 0 && (this.starts[run] ?? 0) > index) run -= 1;
    return this.terms[run];
  }

  /** Appends the term of the next index. */
  push(term: Term): void {
    if (this.lastTerm() !== term) {
      this.starts.push(this.firstIndex + this.count);
      this.terms.push(term);
    }
    this.count += 1;
  }

  /** Keeps the first `length` entries (at most size()). */
  truncate(length: number): void {
    assert(length >= 0 && length <= this.count, 'a truncation keeps at most every entry');
    this.count = length;
    const end = this.firstIndex + length;
    while (this.starts.length > 0 && (this.starts[this.starts.length - 1] ?? 0) >= end) {
      this.starts.pop();
      this.terms.pop();
    }
  }

  /** Drops the first `count` entries (at most size()). */
  dropFirst(count: number): void {
    assert(count >= 0 && count <= this.count, 'a compaction drops at most every entry');
    if (count === this.count) {
      this.count = 0;
      this.firstIndex += count;
      this.starts = [];
      this.terms = [];
      return;
    }
    const first = this.firstIndex + count;
    let drop = 0;
    while (drop + 1 < this.starts.length && (this.starts[drop + 1] ?? 0) <= first) drop += 1;
    if (drop > 0) {
      this.starts.splice(0, drop);
      this.terms.splice(0, drop);
    }
    this.starts[0] = first;
    this.firstIndex = first;
    this.count -= count;
  }
}
