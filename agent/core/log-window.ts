/**
 * The entries of the Raft log (log.ts) as the core holds them: the term and size of every index
 * it knows, but the payload only of a resident window at the end (after etcd-io/raft's
 * `unstable` plus `Storage.Entries`). Entries older than the window were durable and applied
 * when they left it, so storage serves them (contracts/persistence.ts, LogReader) when a follower
 * behind the window needs them; terms (prevLogTerm, conflict hints, elections) and sizes
 * (retention's byte walk, append limits) never need a read.
 *
 * What it costs: the terms are runs (a handful: they change only at elections), the sizes one
 * number per index, and the payloads those of the window: the entries not yet durable or not yet
 * applied (bounded elsewhere: uncommittedBytesMax, the apply batches) and, before them, at most
 * `residentBytesMax` entry bytes of applied, durable ones (so that a follower a little behind is
 * served from memory). Without a reader everything stays resident (unit tests of the core).
 *
 * A node that restarts holds none of its stored entries' payloads (issue 17: a restart decodes no
 * command it does not need; contracts/persistence.ts, StoredLog): they are durable, so storage
 * serves them, and they are read back in bounded batches as they are applied or sent (as etcd-io/raft
 * reads its applied-to-committed range through `Storage.Entries`). So durable entries not yet
 * applied may be out of memory too; only those not yet durable must be resident.
 */
import { assert } from '../../contracts/assert.js';
import { PersistenceError } from '../../contracts/errors.js';
import type { LogEntry, LogIndex, Term } from '../../contracts/log.js';
import type { LogReader, StoredLog } from '../../contracts/persistence.js';
import { TermRuns } from '../../contracts/term-runs.js';

/** Bytes an entry costs beyond its command (term, index, type), for size limits. */
export const ENTRY_OVERHEAD_BYTES = 24;

/** The size of an entry for limits: its command bytes plus a fixed overhead. */
export function entryBytes(entry: LogEntry): number {
  return entry.command.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Where older entries come from, and how much of the applied, durable end stays in memory. */
export interface LogWindowOptions {
  readonly reader: LogReader;
  /** Entry bytes of applied, durable entries kept in memory; >= 0. */
  readonly residentBytesMax: number;
}

/** The entries first..last: terms and sizes of all of them, payloads of residentFirst..last. */
export class LogWindow {
  /** Terms of first..last; its size is the number of entries known. */
  private readonly terms: TermRuns;
  /**
   * Running entry bytes: bytes of entries i..j are cumBytes[j + 1 - first] - cumBytes[i - first].
   * Invariant: length === size() + 1; values never decrease.
   */
  private cumBytes: number[] = [0];
  /** Payloads of residentFirst..last: resident[k].index === residentFirst + k. */
  private resident: LogEntry[];
  /** Index of resident[0] (last + 1 when none is resident). Invariant: first <= residentFirst <= last + 1. */
  private residentFirst: LogIndex;
  /** Entries read back from storage since the log was made (for the node's status). */
  private readBack = 0;

  constructor(
    first: LogIndex,
    entries: readonly LogEntry[],
    private readonly options: LogWindowOptions | null,
  ) {
    this.terms = new TermRuns(first);
    this.resident = [];
    this.residentFirst = first;
    for (const entry of entries) this.push(entry);
  }

  /** The entries of `stored`, none of them resident (contracts/persistence.ts, StoredLog). */
  static fromStored(stored: StoredLog, options: LogWindowOptions): LogWindow {
    const window = new LogWindow(stored.firstIndex, [], options);
    const runs = stored.termRuns;
    const sizes = stored.commandBytes;
    assert(sizes.length === 0 || runs[0]?.from === stored.firstIndex, 'the first term run starts at the first entry');
    let run = 0;
    for (let k = 0; k < sizes.length; k += 1) {
      const index = stored.firstIndex + k;
      while (run + 1 < runs.length && (runs[run + 1]?.from ?? Infinity) <= index) run += 1;
      const term = runs[run]?.term;
      assert(term !== undefined, 'every stored entry has a term');
      window.pushStored(term, sizes[k] ?? 0);
    }
    assert(sizes.length === 0 || run === runs.length - 1, 'every term run covers a stored entry');
    return window;
  }

  firstIndex(): LogIndex {
    return this.terms.first();
  }

  lastIndex(): LogIndex {
    return this.terms.first() + this.terms.size() - 1;
  }

  /** Index of the oldest entry whose payload is in memory (lastIndex + 1 when none is). */
  residentFirstIndex(): LogIndex {
    return this.residentFirst;
  }

  /**
   * The first index whose entry can be served: firstIndex, or higher while storage holds no older
   * ones (a snapshot persisted at the last stored entry deleted the stored log before the runtime
   * compacted the core; contracts/persistence.ts, firstStoredIndex).
   */
  readableFirstIndex(): LogIndex {
    const first = this.firstIndex();
    const reader = this.options?.reader;
    if (reader === undefined || this.residentFirst === first) return first;
    const stored = reader.firstStoredIndex() ?? this.residentFirst;
    return Math.max(first, Math.min(stored, this.residentFirst));
  }

  /** The term at `index`, or null outside first..last. */
  term(index: LogIndex): Term | null {
    return this.terms.termAt(index) ?? null;
  }

  /** Entry bytes of from..to (0 when to < from); both within first..last. */
  bytesBetween(from: LogIndex, to: LogIndex): number {
    if (to < from) return 0;
    const first = this.firstIndex();
    // Called per entry sent and per proposal: the message is built only when the check fails.
    if (from < first || to > this.lastIndex()) assert(false, `bytes of ${from}..${to} within the log`);
    return (this.cumBytes[to + 1 - first] ?? 0) - (this.cumBytes[from - first] ?? 0);
  }

  /** Entries read back from storage so far. */
  entriesReadBack(): number {
    return this.readBack;
  }

  /** Entry bytes of the resident entries up to `through`. */
  residentBytesThrough(through: LogIndex): number {
    return this.bytesBetween(this.residentFirst, Math.min(through, this.lastIndex()));
  }

  /** Appends the entry after the last. */
  push(entry: LogEntry): void {
    assert(entry.index === this.lastIndex() + 1, 'an appended entry follows the last index');
    this.terms.push(entry.term);
    this.cumBytes.push((this.cumBytes[this.cumBytes.length - 1] ?? 0) + entryBytes(entry));
    this.resident.push(entry);
  }

  /**
   * Appends the entry after the last without its payload: a durable entry (storage serves it) of a
   * log restored at start, before any entry is resident (contracts/persistence.ts, StoredLog).
   */
  private pushStored(term: Term, commandBytes: number): void {
    assert(this.options !== null, 'entries leave memory only with a reader');
    assert(this.residentFirst === this.lastIndex() + 1, 'stored entries come before every resident one');
    this.terms.push(term);
    this.cumBytes.push((this.cumBytes[this.cumBytes.length - 1] ?? 0) + commandBytes + ENTRY_OVERHEAD_BYTES);
    this.residentFirst += 1;
  }

  /**
   * Removes every entry from `from` on (first <= from <= last + 1): not yet applied (uncommitted),
   * whether resident or only stored.
   */
  truncateFrom(from: LogIndex): void {
    const first = this.firstIndex();
    assert(from >= first, 'truncation starts within the log');
    this.terms.truncate(from - first);
    this.cumBytes.length = from - first + 1;
    if (from < this.residentFirst) {
      this.resident = [];
      this.residentFirst = from;
    } else {
      this.resident.length = from - this.residentFirst;
    }
  }

  /** Forgets every entry before `before` (compaction; first <= before <= last + 1). */
  dropBefore(before: LogIndex): void {
    const first = this.firstIndex();
    if (before <= first) return;
    assert(before <= this.lastIndex() + 1, 'compaction stops after the last entry');
    this.terms.dropFirst(before - first);
    this.cumBytes = this.cumBytes.slice(before - first);
    if (before > this.residentFirst) {
      this.resident = this.resident.slice(before - this.residentFirst);
      this.residentFirst = before;
    }
  }

  /** Forgets everything and starts empty after `index` (a snapshot that replaces the log). */
  resetAfter(index: LogIndex): void {
    this.terms.dropFirst(this.terms.size());
    this.terms.startAt(index + 1);
    this.cumBytes = [0];
    this.resident = [];
    this.residentFirst = index + 1;
  }

  /**
   * Drops payloads of entries up to `through` (applied and durable: storage serves them) while they
   * pass residentBytesMax, down to three quarters of it, so that a drop, which copies the window,
   * comes once per quarter of the budget applied. Nothing without a reader.
   */
  forgetThrough(through: LogIndex): void {
    const options = this.options;
    if (options === null) return;
    const end = Math.min(through, this.lastIndex());
    if (this.bytesBetween(this.residentFirst, end) <= options.residentBytesMax) return;
    const keepBytes = Math.floor((options.residentBytesMax * 3) / 4);
    // The first index from which the bytes through `end` fit keepBytes: they only fall as it rises.
    let from = this.residentFirst;
    let past = end + 1;
    while (from < past) {
      const middle = Math.floor((from + past) / 2);
      if (this.bytesBetween(middle, end) > keepBytes) from = middle + 1;
      else past = middle;
    }
    this.resident = this.resident.slice(from - this.residentFirst);
    this.residentFirst = from;
  }

  /**
   * The entries from..to (within first..last): the resident ones from memory, older ones from the
   * reader, checked against the terms the core holds. Throws PersistenceError when storage cannot
   * serve them (the node stops, as for a failed write).
   */
  read(from: LogIndex, to: LogIndex): LogEntry[] {
    if (from < this.firstIndex() || to > this.lastIndex()) assert(false, `read of ${from}..${to} within the log`);
    if (to < from) return [];
    if (from >= this.residentFirst) return this.resident.slice(from - this.residentFirst, to + 1 - this.residentFirst);
    const reader = this.options?.reader;
    assert(reader !== undefined, 'entries leave memory only with a reader');
    const storedTo = Math.min(to, this.residentFirst - 1);
    const stored = reader.readEntries(from, storedTo);
    this.checkStored(stored, from, storedTo);
    this.readBack += stored.length;
    return storedTo === to ? stored : stored.concat(this.resident.slice(0, to + 1 - this.residentFirst));
  }

  /** Throws PersistenceError unless `stored` is from..to with the terms the log holds. */
  private checkStored(stored: readonly LogEntry[], from: LogIndex, to: LogIndex): void {
    for (let index = from; index <= to; index += 1) {
      const entry = stored[index - from];
      if (entry?.index !== index || entry.term !== this.term(index))
        throw new PersistenceError(
          'STORAGE_CORRUPT',
          `storage served ${entry === undefined ? 'no entry' : `entry ${entry.index} of term ${entry.term}`} ` +
            `for entry ${index} of term ${this.term(index)}: the stored log differs from the one this node wrote; ` +
            'restart the node, and if it fails again restore it from a snapshot (remove its data folder and re-add it)',
        );
    }
    if (stored.length !== to - from + 1)
      throw new PersistenceError('STORAGE_CORRUPT', `storage served ${stored.length} entries for ${from}..${to}`);
  }

  /** Checks the invariants of the fields above. */
  checkInvariants(): void {
    assert(this.cumBytes.length === this.terms.size() + 1, 'one running size per entry');
    assert(
      this.firstIndex() <= this.residentFirst && this.residentFirst <= this.lastIndex() + 1,
      'the resident window lies within the log',
    );
    assert(this.resident.length === this.lastIndex() + 1 - this.residentFirst, 'the window reaches the last entry');
  }
}
