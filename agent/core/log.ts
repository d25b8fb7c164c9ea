/**
 * The Raft log of one node, in memory: the snapshot's last index and term, the entries after
 * it (possibly a few it covers, kept for lagging followers), and the indexes that track how far
 * the log has been committed, persisted and applied. The core keeps the whole log since the
 * last snapshot here; the snapshot threshold bounds it.
 *
 * Indexes, from the bottom up (each invariant is checked in `checkInvariants`):
 *   snapshotIndex <= appliedIndex <= applyingIndex <= commitIndex <= lastIndex
 *   firstIndex <= snapshotIndex + 1
 *   stableIndex <= handedOutIndex <= lastIndex
 */
import { assert } from '../../contracts/assert.js';
import type { LogEntry, LogIndex, Term } from '../../contracts/log.js';

/** The outcome of matching an AppendEntries against the log (Raft §5.3). */
export type AppendOutcome =
  | { readonly ok: true; readonly lastNewIndex: LogIndex; readonly appended: readonly LogEntry[] }
  | { readonly ok: false; readonly conflictIndex: LogIndex; readonly conflictTerm: Term | null };

export class RaftLog {
  /** Index of the last entry the snapshot covers; 0 without one. */
  private snapshotIndexValue: LogIndex;
  /** Term of that entry. */
  private snapshotTermValue: Term;
  /** Entries; entries[i].index === firstIndexValue + i. */
  private entries: LogEntry[];
  /** Index of entries[0] (or lastIndex + 1 when empty). Invariant: <= snapshotIndex + 1. */
  private firstIndexValue: LogIndex;
  /** Highest index known committed. Invariant: monotonic, <= lastIndex. */
  commitIndex: LogIndex;
  /** Highest index the state machine has applied (advanced by the runtime). */
  appliedIndex: LogIndex;
  /** Highest index handed to the runtime to apply. Invariant: appliedIndex <= applyingIndex <= commitIndex. */
  applyingIndex: LogIndex;
  /** Highest index known durable on this node's disk. */
  stableIndex: LogIndex;
  /** Highest index handed to the runtime to persist. Invariant: stableIndex <= handedOutIndex <= lastIndex. */
  handedOutIndex: LogIndex;
  /** The lowest index truncated since the last hand-out that storage still holds; null if none. */
  pendingTruncateFrom: LogIndex | null = null;
  /** Total command bytes of entries after commitIndex. */
  private uncommittedBytesValue = 0;

  constructor(snapshotIndex: LogIndex, snapshotTerm: Term, entries: readonly LogEntry[]) {
    this.snapshotIndexValue = snapshotIndex;
    this.snapshotTermValue = snapshotTerm;
    this.entries = entries.slice();
    const first = entries[0];
    this.firstIndexValue = first === undefined ? snapshotIndex + 1 : first.index;
    this.commitIndex = snapshotIndex;
    this.appliedIndex = snapshotIndex;
    this.applyingIndex = snapshotIndex;
    this.stableIndex = this.lastIndex();
    this.handedOutIndex = this.stableIndex;
    for (const entry of this.entries) this.uncommittedBytesValue += entryBytes(entry);
    this.checkInvariants();
  }

  snapshotIndex(): LogIndex {
    return this.snapshotIndexValue;
  }

  snapshotTerm(): Term {
    return this.snapshotTermValue;
  }

  firstIndex(): LogIndex {
    return this.firstIndexValue;
  }

  lastIndex(): LogIndex {
    return this.firstIndexValue + this.entries.length - 1;
  }

  lastTerm(): Term {
    const term = this.term(this.lastIndex());
    assert(term !== null, 'the last index has a known term');
    return term;
  }

  uncommittedBytes(): number {
    return this.uncommittedBytesValue;
  }

  /** The term of the entry at `index`, or null when it is compacted away or beyond the log. */
  term(index: LogIndex): Term | null {
    if (index === this.snapshotIndexValue) return this.snapshotTermValue;
    if (index === 0) return 0;
    const entry = this.entries[index - this.firstIndexValue];
    return entry === undefined ? null : entry.term;
  }

  /** The entry at `index`, or null when it is not held. */
  entry(index: LogIndex): LogEntry | null {
    return this.entries[index - this.firstIndexValue] ?? null;
  }

  /**
   * Entries from `from` on, at most `countMax` of them and at most `bytesMax` command bytes
   * (but always at least one when any exists). Returns null when `from` is compacted away.
   */
  slice(from: LogIndex, countMax: number, bytesMax: number): LogEntry[] | null {
    if (from < this.firstIndexValue) return null;
    const result: LogEntry[] = [];
    let bytes = 0;
    for (let index = from; index <= this.lastIndex() && result.length < countMax; index += 1) {
      const entry = this.entries[index - this.firstIndexValue];
      assert(entry !== undefined, 'entries within [first, last] exist');
      const size = entryBytes(entry);
      if (result.length > 0 && bytes + size > bytesMax) break;
      bytes += size;
      result.push(entry);
    }
    return result;
  }

  /** The entries held after `index`. */
  entriesAfter(index: LogIndex): LogEntry[] {
    return this.entries.slice(Math.max(0, index + 1 - this.firstIndexValue));
  }

  /** Appends entries of this node's own making (the leader's proposals). */
  appendOwn(entry: LogEntry): void {
    assert(entry.index === this.lastIndex() + 1, 'an appended entry follows the last index');
    assert(entry.term >= this.lastTerm(), 'terms never decrease along the log');
    this.entries.push(entry);
    this.uncommittedBytesValue += entryBytes(entry);
  }

  /**
   * Matches a leader's AppendEntries against the log and, when it matches, removes conflicting
   * entries and appends the new ones (Raft Figure 2, receiver steps 2-4).
   */
  maybeAppend(prevIndex: LogIndex, prevTerm: Term, entries: readonly LogEntry[]): AppendOutcome {
    // Entries up to commitIndex match the leader's log (Leader Completeness), so a request that
    // starts below it is matched from commitIndex on.
    if (prevIndex < this.commitIndex) {
      const skip = Math.min(entries.length, this.commitIndex - prevIndex);
      const rest = entries.slice(skip);
      const base = prevIndex + skip;
      if (rest.length === 0) return { ok: true, lastNewIndex: prevIndex + entries.length, appended: [] };
      const baseTerm = this.term(base);
      assert(baseTerm !== null, 'the term at a committed index is known');
      return this.maybeAppend(base, baseTerm, rest);
    }
    const localPrevTerm = this.term(prevIndex);
    if (localPrevTerm !== prevTerm) return this.conflictHint(prevIndex, localPrevTerm);
    let position = 0;
    for (; position < entries.length; position += 1) {
      const entry = entries[position];
      assert(entry !== undefined, 'entry in range');
      const localTerm = this.term(entry.index);
      if (localTerm === null) break;
      if (localTerm !== entry.term) {
        assert(
          entry.index > this.commitIndex,
          `a conflicting entry ${entry.index} is not committed (${this.commitIndex})`,
        );
        this.truncateFrom(entry.index);
        break;
      }
    }
    const appended = entries.slice(position);
    for (const entry of appended) this.appendOwn(entry);
    return { ok: true, lastNewIndex: prevIndex + entries.length, appended };
  }

  /** The fast-backtracking hint for a mismatch at `prevIndex` (Raft §5.3, thesis §5.3). */
  private conflictHint(prevIndex: LogIndex, localPrevTerm: Term | null): AppendOutcome {
    if (localPrevTerm === null) {
      return { ok: false, conflictIndex: Math.min(prevIndex, this.lastIndex() + 1), conflictTerm: null };
    }
    let index = prevIndex;
    while (index - 1 >= this.firstIndexValue && this.term(index - 1) === localPrevTerm) index -= 1;
    return { ok: false, conflictIndex: index, conflictTerm: localPrevTerm };
  }

  /** Removes every entry with index >= `from`; none of them may be committed. */
  truncateFrom(from: LogIndex): void {
    assert(from > this.commitIndex, 'committed entries are never truncated');
    assert(from >= this.firstIndexValue, 'truncation starts within the log');
    if (from > this.lastIndex()) return;
    for (let index = from; index <= this.lastIndex(); index += 1) {
      const entry = this.entries[index - this.firstIndexValue];
      if (entry !== undefined) this.uncommittedBytesValue -= entryBytes(entry);
    }
    this.entries.length = from - this.firstIndexValue;
    if (from <= this.handedOutIndex) {
      this.pendingTruncateFrom = Math.min(this.pendingTruncateFrom ?? from, from);
      this.handedOutIndex = from - 1;
    }
    this.stableIndex = Math.min(this.stableIndex, from - 1);
  }

  /** Moves commitIndex forward to `index` (never backward). Returns whether it moved. */
  commitTo(index: LogIndex): boolean {
    if (index <= this.commitIndex) return false;
    assert(index <= this.lastIndex(), `commit ${index} within the log (last ${this.lastIndex()})`);
    for (let i = this.commitIndex + 1; i <= index; i += 1) {
      const entry = this.entries[i - this.firstIndexValue];
      if (entry !== undefined) this.uncommittedBytesValue -= entryBytes(entry);
    }
    this.commitIndex = index;
    return true;
  }

  /** Is a log ending at (lastIndex, lastTerm) at least as up-to-date as ours (Raft §5.4.1)? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries not yet handed to storage; marks them handed out. */
  takeUnstable(): { truncateFrom: LogIndex | null; entries: LogEntry[] } {
    const truncateFrom = this.pendingTruncateFrom;
    this.pendingTruncateFrom = null;
    const from = this.handedOutIndex + 1;
    const entries = from > this.lastIndex() ? [] : this.entries.slice(from - this.firstIndexValue);
    this.handedOutIndex = this.lastIndex();
    return { truncateFrom, entries };
  }

  hasUnstable(): boolean {
    return this.pendingTruncateFrom !== null || this.handedOutIndex < this.lastIndex();
  }

  /** Marks entries up to `index` durable if the log still holds the entry of `term` there. */
  stableTo(index: LogIndex, term: Term): void {
    if (index <= this.stableIndex) return;
    if (this.term(index) !== term) return;
    this.stableIndex = Math.min(index, this.handedOutIndex);
  }

  /** Committed entries not yet handed to the state machine, at most `bytesMax` (at least one). */
  takeCommitted(bytesMax: number): LogEntry[] {
    // Entries handed out to persist in the same Ready are on disk before they are applied.
    const from = this.applyingIndex + 1;
    const to = Math.min(this.commitIndex, this.handedOutIndex);
    if (to < from) return [];
    const entries = this.slice(from, to - from + 1, bytesMax);
    assert(entries !== null, 'unapplied committed entries are not compacted');
    const last = entries[entries.length - 1];
    if (last !== undefined) this.applyingIndex = last.index;
    return entries;
  }

  hasCommittedToApply(): boolean {
    return Math.min(this.commitIndex, this.lastIndex()) > this.applyingIndex;
  }

  /** Records that the state machine applied everything up to `index`. */
  appliedTo(index: LogIndex): void {
    assert(index <= this.applyingIndex, 'applied only what was handed out');
    if (index > this.appliedIndex) this.appliedIndex = index;
  }

  /**
   * Replaces the log with a snapshot's position (a snapshot received from the leader). Entries
   * after the snapshot are kept when the log holds the snapshot's last entry (Raft §7: "If
   * existing log entry has same index and term as snapshot's last included entry, retain log
   * entries following it"); otherwise the whole log is discarded.
   */
  restoreSnapshot(index: LogIndex, term: Term): void {
    assert(index > this.commitIndex, 'a restored snapshot is ahead of the commit index');
    const keep = this.term(index) === term;
    if (keep) {
      this.entries = this.entries.slice(index + 1 - this.firstIndexValue);
      // Storage must drop what it holds beyond the snapshot only where it was already told to.
      if (this.pendingTruncateFrom !== null) this.pendingTruncateFrom = Math.max(this.pendingTruncateFrom, index + 1);
      this.handedOutIndex = Math.max(this.handedOutIndex, index);
      this.stableIndex = Math.max(this.stableIndex, index);
    } else {
      const storageHoldsMore = this.handedOutIndex > index || this.pendingTruncateFrom !== null;
      this.entries = [];
      this.pendingTruncateFrom = storageHoldsMore ? index + 1 : null;
      this.handedOutIndex = index;
      this.stableIndex = index;
    }
    this.firstIndexValue = index + 1;
    this.snapshotIndexValue = index;
    this.snapshotTermValue = term;
    this.commitIndex = index;
    this.appliedIndex = index;
    this.applyingIndex = index;
    this.uncommittedBytesValue = 0;
    for (const entry of this.entries) this.uncommittedBytesValue += entryBytes(entry);
  }

  /**
   * Records a snapshot taken locally at `index` (applied) and drops entries before
   * `compactBefore` (which never passes the snapshot).
   */
  compact(index: LogIndex, term: Term, compactBefore: LogIndex): void {
    assert(index <= this.appliedIndex, 'a local snapshot covers only applied entries');
    assert(compactBefore <= index + 1, 'compaction stops at the snapshot');
    assert(this.term(index) === term, 'the snapshot term matches the log');
    this.snapshotIndexValue = index;
    this.snapshotTermValue = term;
    if (compactBefore > this.firstIndexValue) {
      this.entries = this.entries.slice(compactBefore - this.firstIndexValue);
      this.firstIndexValue = compactBefore;
    }
  }

  /** Checks every invariant listed at the top of this file. */
  checkInvariants(): void {
    assert(this.firstIndexValue <= this.snapshotIndexValue + 1, 'firstIndex <= snapshotIndex + 1');
    assert(this.snapshotIndexValue <= this.appliedIndex, 'snapshotIndex <= appliedIndex');
    assert(this.appliedIndex <= this.applyingIndex, 'appliedIndex <= applyingIndex');
    assert(this.applyingIndex <= this.commitIndex, 'applyingIndex <= commitIndex');
    assert(this.commitIndex <= this.lastIndex(), 'commitIndex <= lastIndex');
    assert(this.stableIndex <= this.handedOutIndex, 'stableIndex <= handedOutIndex');
    assert(this.handedOutIndex <= this.lastIndex(), 'handedOutIndex <= lastIndex');
    assert(this.uncommittedBytesValue >= 0, 'uncommitted bytes are not negative');
  }
}

/** The size of an entry for limits: its command bytes plus a fixed overhead. */
export function entryBytes(entry: LogEntry): number {
  return entry.command.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Bytes an entry costs beyond its command (term, index, type), for size limits. */
export const ENTRY_OVERHEAD_BYTES = 24;
