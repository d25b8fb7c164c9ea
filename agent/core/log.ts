/**
 * The Raft log of one node: the snapshot's last index and term, the entries after it (possibly
 * some it covers, kept for lagging followers), and the indexes that track how far the log has
 * been committed, persisted and applied. The core knows the term and size of every entry here,
 * but keeps payloads only for a window at the end (log-window.ts): entries not yet durable or
 * not yet applied, and a bounded tail before them; storage serves older ones when a follower
 * needs them (contracts/persistence.ts, LogReader). A log restored at start (fromStored) holds
 * no payload: its durable entries are read back as they are applied or sent.
 *
 * Indexes, from the bottom up (each invariant is checked in `checkInvariants`):
 *   snapshotIndex <= appliedIndex <= applyingIndex <= commitIndex <= lastIndex
 *   firstIndex <= snapshotIndex + 1
 *   stableIndex <= handedOutIndex <= lastIndex
 */
import { assert } from '../../contracts/assert.js';
import type { LogEntry, LogIndex, Term } from '../../contracts/log.js';
import type { StoredLog } from '../../contracts/persistence.js';
import type { LogMemory } from '../../contracts/raft-node.js';
import { LogWindow } from './log-window.js';
import type { LogWindowOptions } from './log-window.js';

export { ENTRY_OVERHEAD_BYTES, entryBytes } from './log-window.js';
export type { LogWindowOptions } from './log-window.js';

/** The outcome of matching an AppendEntries against the log (Raft §5.3). */
export type AppendOutcome =
  | { readonly ok: true; readonly lastNewIndex: LogIndex; readonly appended: readonly LogEntry[] }
  | { readonly ok: false; readonly conflictIndex: LogIndex; readonly conflictTerm: Term | null };

export class RaftLog {
  /** Index of the last entry the snapshot covers; 0 without one. */
  private snapshotIndexValue: LogIndex;
  /** Term of that entry. */
  private snapshotTermValue: Term;
  /**
   * The entries: terms and sizes of all, payloads of a window at the end. Invariants: its first
   * index is <= snapshotIndex + 1; every entry after stableIndex (not yet durable) is resident.
   */
  private readonly entries: LogWindow;
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

  /**
   * `window`: where entries that leave memory are read back, and how many bytes of applied,
   * durable ones stay; null keeps every entry in memory.
   */
  constructor(
    snapshotIndex: LogIndex,
    snapshotTerm: Term,
    entries: readonly LogEntry[],
    window: LogWindowOptions | null = null,
    stored: StoredLog | null = null,
  ) {
    this.snapshotIndexValue = snapshotIndex;
    this.snapshotTermValue = snapshotTerm;
    if (stored === null) {
      this.entries = new LogWindow(entries[0]?.index ?? snapshotIndex + 1, entries, window);
    } else {
      assert(entries.length === 0, 'a log starts from its entries or from a stored log');
      assert(window !== null, 'a stored log is read back through a reader');
      this.entries = LogWindow.fromStored(stored, window);
    }
    this.commitIndex = snapshotIndex;
    this.appliedIndex = snapshotIndex;
    this.applyingIndex = snapshotIndex;
    this.stableIndex = this.lastIndex();
    this.handedOutIndex = this.stableIndex;
    this.forgetDone();
    this.checkInvariants();
  }

  /**
   * The log a node restarts with: the snapshot's position and the stored entries as `stored`
   * gives them, durable, none of them applied, and none of their payloads in memory (read back
   * through `window`'s reader as they are applied or sent).
   */
  static fromStored(snapshotIndex: LogIndex, snapshotTerm: Term, stored: StoredLog, window: LogWindowOptions): RaftLog {
    return new RaftLog(snapshotIndex, snapshotTerm, [], window, stored);
  }

  snapshotIndex(): LogIndex {
    return this.snapshotIndexValue;
  }

  snapshotTerm(): Term {
    return this.snapshotTermValue;
  }

  firstIndex(): LogIndex {
    return this.entries.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.entries.lastIndex();
  }

  /** Index of the oldest entry whose payload is in memory (lastIndex + 1 when none is). */
  residentFirstIndex(): LogIndex {
    return this.entries.residentFirstIndex();
  }

  /** What the log holds in memory, for the node's status. */
  memory(): LogMemory {
    const residentFromIndex = this.residentFirstIndex();
    return {
      firstIndex: this.firstIndex(),
      residentFromIndex,
      residentBytes: this.bytesBetween(residentFromIndex, this.lastIndex()),
      entriesReadBack: this.entries.entriesReadBack(),
    };
  }

  /** The first index whose entry can be read (see LogWindow.readableFirstIndex). */
  readableFirstIndex(): LogIndex {
    return this.entries.readableFirstIndex();
  }

  /** Entry bytes of from..to, all within firstIndex..lastIndex (0 when to < from). */
  bytesBetween(from: LogIndex, to: LogIndex): number {
    return this.entries.bytesBetween(from, to);
  }

  /** Entry bytes in memory of entries applied and durable (what the window's budget bounds). */
  residentDoneBytes(): number {
    return this.entries.residentBytesThrough(Math.min(this.stableIndex, this.appliedIndex));
  }

  lastTerm(): Term {
    const term = this.term(this.lastIndex());
    assert(term !== null, 'the last index has a known term');
    return term;
  }

  /** Entry bytes after commitIndex. */
  uncommittedBytes(): number {
    return this.entries.bytesBetween(this.commitIndex + 1, this.lastIndex());
  }

  /** The term of the entry at `index`, or null when it is compacted away or beyond the log. */
  term(index: LogIndex): Term | null {
    if (index === this.snapshotIndexValue) return this.snapshotTermValue;
    if (index === 0) return 0;
    return this.entries.term(index);
  }

  /**
   * Entries from `from` on, at most `countMax` of them and at most `bytesMax` entry bytes (but
   * always at least one when any exists), from memory or, older than the window, from storage
   * (which throws PersistenceError when it cannot serve them). Returns null when `from` is
   * compacted away, in the core or in storage.
   */
  slice(from: LogIndex, countMax: number, bytesMax: number): LogEntry[] | null {
    if (from < this.firstIndex()) return null;
    if (from < this.residentFirstIndex() && from < this.entries.readableFirstIndex()) return null;
    const last = this.lastIndex();
    if (from > last) return [];
    let to = from - 1;
    while (to < last && to - from + 1 < countMax) {
      if (to >= from && this.entries.bytesBetween(from, to + 1) > bytesMax) break;
      to += 1;
    }
    return this.entries.read(from, to);
  }

  /** Appends entries of this node's own making (the leader's proposals). */
  appendOwn(entry: LogEntry): void {
    assert(entry.index === this.lastIndex() + 1, 'an appended entry follows the last index');
    assert(entry.term >= this.lastTerm(), 'terms never decrease along the log');
    this.entries.push(entry);
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
    while (index - 1 >= this.firstIndex() && this.term(index - 1) === localPrevTerm) index -= 1;
    return { ok: false, conflictIndex: index, conflictTerm: localPrevTerm };
  }

  /** Removes every entry with index >= `from`; none of them may be committed. */
  truncateFrom(from: LogIndex): void {
    assert(from > this.commitIndex, 'committed entries are never truncated');
    assert(from >= this.firstIndex(), 'truncation starts within the log');
    if (from > this.lastIndex()) return;
    this.entries.truncateFrom(from);
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
    const entries = from > this.lastIndex() ? [] : this.entries.read(from, this.lastIndex());
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
    this.forgetDone();
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
    this.forgetDone();
  }

  /** Lets the window drop payloads of entries applied and durable, beyond its budget (log-window.ts). */
  private forgetDone(): void {
    this.entries.forgetThrough(Math.min(this.stableIndex, this.appliedIndex));
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
      // What follows a restored snapshot is uncommitted: resident, or durable and stored.
      this.entries.dropBefore(index + 1);
      // Storage must drop what it holds beyond the snapshot only where it was already told to.
      if (this.pendingTruncateFrom !== null) this.pendingTruncateFrom = Math.max(this.pendingTruncateFrom, index + 1);
      this.handedOutIndex = Math.max(this.handedOutIndex, index);
      this.stableIndex = Math.max(this.stableIndex, index);
    } else {
      const storageHoldsMore = this.handedOutIndex > index || this.pendingTruncateFrom !== null;
      this.entries.resetAfter(index);
      this.pendingTruncateFrom = storageHoldsMore ? index + 1 : null;
      this.handedOutIndex = index;
      this.stableIndex = index;
    }
    this.snapshotIndexValue = index;
    this.snapshotTermValue = term;
    this.commitIndex = index;
    this.appliedIndex = index;
    this.applyingIndex = index;
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
    this.entries.dropBefore(compactBefore);
  }

  /** Checks every invariant listed at the top of this file. */
  checkInvariants(): void {
    assert(this.firstIndex() <= this.snapshotIndexValue + 1, 'firstIndex <= snapshotIndex + 1');
    assert(this.snapshotIndexValue <= this.appliedIndex, 'snapshotIndex <= appliedIndex');
    assert(this.appliedIndex <= this.applyingIndex, 'appliedIndex <= applyingIndex');
    assert(this.applyingIndex <= this.commitIndex, 'applyingIndex <= commitIndex');
    assert(this.commitIndex <= this.lastIndex(), 'commitIndex <= lastIndex');
    assert(this.stableIndex <= this.handedOutIndex, 'stableIndex <= handedOutIndex');
    assert(this.handedOutIndex <= this.lastIndex(), 'handedOutIndex <= lastIndex');
    assert(this.residentFirstIndex() <= this.stableIndex + 1, 'every entry not yet durable is resident');
    this.entries.checkInvariants();
  }
}
