/**
 * Building the {@link StoredLog} every engine's `loadShape` returns (contracts/persistence.ts):
 * the terms and command sizes of the stored entries, and the configuration entries whole, gathered
 * entry by entry in index order and checked as `load`'s entries are (storage/log-checks.ts,
 * checkLoadedLog): contiguous, terms never decreasing, starting right after the snapshot.
 */
import { assert } from '../contracts/assert.js';
import { PersistenceError } from '../contracts/errors.js';
import type { EntryType, LogEntry, LogIndex, Snapshot, Term } from '../contracts/log.js';
import type { StoredLog } from '../contracts/persistence.js';

/** Gathers a StoredLog one entry at a time. */
export class StoredLogBuilder {
  private readonly termRuns: { from: LogIndex; term: Term }[] = [];
  /** Command bytes of the entries added, in its first `count` slots; doubled when full. */
  private commandBytes: Uint32Array;
  private readonly configurations: LogEntry[] = [];
  /** Entries added so far. Invariant: <= commandBytes.length. */
  private count = 0;

  /**
   * `firstIndex`: the index of the first entry (when none is added: the snapshot's last index + 1,
   * or 1); `where` names the store in errors; `entriesHint`: how many entries are expected.
   */
  constructor(
    private readonly firstIndex: LogIndex,
    private readonly where: string,
    entriesHint = 0,
  ) {
    assert(Number.isSafeInteger(entriesHint) && entriesHint >= 0, 'the hint is a number of entries');
    this.commandBytes = new Uint32Array(Math.max(16, entriesHint));
  }

  /**
   * Adds the entry after the last one added: its index, term, type and command size, and for a
   * configuration entry (only) the entry itself, `whole`.
   */
  add(index: LogIndex, term: Term, type: EntryType, commandBytes: number, whole: LogEntry | null): void {
    const expected = this.firstIndex + this.count;
    if (index !== expected)
      throw new PersistenceError(
        'STORAGE_CORRUPT',
        `${this.where}: log has a gap: entry ${index} follows entry ${expected - 1}`,
      );
    const last = this.termRuns[this.termRuns.length - 1];
    if (last !== undefined && term < last.term)
      throw new PersistenceError(
        'STORAGE_CORRUPT',
        `${this.where}: log term goes backwards at entry ${index}: ${term} after ${last.term}`,
      );
    if (last?.term !== term) this.termRuns.push({ from: index, term });
    if (this.count === this.commandBytes.length) {
      const grown = new Uint32Array(this.commandBytes.length * 2);
      grown.set(this.commandBytes);
      this.commandBytes = grown;
    }
    this.commandBytes[this.count] = commandBytes;
    this.count += 1;
    if (type === 'config') {
      assert(whole?.index === index && whole.type === 'config', 'a configuration entry is added whole');
      this.configurations.push(whole);
    }
  }

  /** Adds `entry`, the one after the last one added (see {@link add}). */
  addEntry(entry: LogEntry): void {
    this.add(entry.index, entry.term, entry.type, entry.command.byteLength, entry.type === 'config' ? entry : null);
  }

  /** The log gathered. */
  build(): StoredLog {
    return {
      firstIndex: this.firstIndex,
      termRuns: this.termRuns,
      commandBytes: this.commandBytes.subarray(0, this.count),
      configurations: this.configurations,
    };
  }
}

/** The StoredLog of `entries` (contiguous), stored after `snapshot`. */
export function storedLogOf(entries: readonly LogEntry[], snapshot: Snapshot | null, where: string): StoredLog {
  const first = entries[0]?.index ?? (snapshot?.lastIncludedIndex ?? 0) + 1;
  const builder = new StoredLogBuilder(first, where, entries.length);
  for (const entry of entries) builder.addEntry(entry);
  const log = builder.build();
  checkStoredLog(log, snapshot, where);
  return log;
}

/**
 * Throws STORAGE_CORRUPT unless the stored log starts right after the snapshot or within it (or at
 * 1 without one), as checkLoadedLog requires of `load`'s entries.
 */
export function checkStoredLog(
  log: StoredLog,
  snapshot: Pick<Snapshot, 'lastIncludedIndex'> | null,
  where: string,
): void {
  if (log.commandBytes.length === 0) return;
  if (snapshot === null && log.firstIndex !== 1)
    throw new PersistenceError('STORAGE_CORRUPT', `${where}: log starts at ${log.firstIndex} but there is no snapshot`);
  if (snapshot !== null && log.firstIndex > snapshot.lastIncludedIndex + 1)
    throw new PersistenceError(
      'STORAGE_CORRUPT',
      `${where}: log starts at ${log.firstIndex}, after the snapshot's last index ${snapshot.lastIncludedIndex} + 1`,
    );
}
