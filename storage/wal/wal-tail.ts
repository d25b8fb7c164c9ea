/**
 * The log entries that are durable in the write-ahead log but not yet checkpointed into LMDB,
 * kept in memory so that reads find them. They are always a suffix of the log (entries are
 * appended at the end, and only the newest are not yet checkpointed), each tagged with the
 * sequence number of the record that wrote it; sequence numbers never decrease along it, so a
 * checkpoint through record `seq` drops a prefix.
 */
import { InvariantError } from '../../contracts/errors.js';
import type { LogEntry, LogIndex } from '../../contracts/log.js';
import { assert } from '../../contracts/assert.js';
import type { WriteStep } from '../log-projection.js';

/** Dropped slots kept before the arrays are compacted. */
const COMPACT_AFTER_DROPPED = 4096;

/** The not-yet-checkpointed suffix of the log. */
export class WalTail {
  /**
   * Slots before `head` are emptied as they are dropped: the arrays are cut only every
   * COMPACT_AFTER_DROPPED slots or so, and a dropped entry kept there would keep its command (a
   * follower under 256 clients x 64 KiB held 40 MiB of them).
   */
  private entries: (LogEntry | undefined)[] = [];
  /** Invariant: seqs[i] is the record of entries[i]; non-decreasing. */
  private seqs: number[] = [];
  /** Invariant: entries before `head` are dropped; entries[head..] have contiguous indexes. */
  private head = 0;

  /** Entries held. */
  size(): number {
    return this.entries.length - this.head;
  }

  /** Index of the first entry held, or null when empty. */
  firstIndex(): LogIndex | null {
    return this.entries[this.head]?.index ?? null;
  }

  /** The entry at `index` when the tail holds it. */
  get(index: LogIndex): LogEntry | undefined {
    const first = this.firstIndex();
    if (first === null || index < first) return undefined;
    return this.entries[this.head + index - first];
  }

  /** Applies the write plan of record `seq` (deletions and appends; no snapshot). */
  apply(steps: readonly WriteStep[], seq: number): void {
    for (const step of steps) {
      switch (step.kind) {
        case 'delete':
          this.delete(step.from, step.to);
          break;
        case 'append':
          for (const entry of step.entries) {
            const last = this.entries[this.entries.length - 1];
            assert(
              this.size() === 0 || (last !== undefined && entry.index === last.index + 1),
              `tail append of ${entry.index} is contiguous`,
            );
            this.entries.push(entry);
            this.seqs.push(seq);
          }
          break;
        case 'hardState':
          break;
        case 'snapshot':
          throw new InvariantError('a log record never holds a snapshot');
      }
    }
  }

  private delete(from: LogIndex, to: LogIndex): void {
    const first = this.firstIndex();
    if (first === null) return;
    const last = first + this.size() - 1;
    if (to < first || from > last) return;
    if (to >= last) {
      // A truncation (or everything): keep what is below `from`.
      const keep = Math.max(0, from - first);
      this.entries.length = this.head + keep;
      this.seqs.length = this.head + keep;
    } else {
      assert(from <= first, `tail deletion ${from}..${to} is a prefix or a suffix of ${first}..${last}`);
      this.dropHead(to - first + 1);
    }
    if (this.size() === 0) this.clear();
  }

  /** Drops the entries written by records up to `seq` (now in LMDB). */
  dropThrough(seq: number): void {
    let dropped = 0;
    while (this.head + dropped < this.entries.length && (this.seqs[this.head + dropped] ?? Infinity) <= seq)
      dropped += 1;
    this.dropHead(dropped);
    if (this.size() === 0) this.clear();
    else if (this.head >= COMPACT_AFTER_DROPPED && this.head * 2 >= this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.seqs = this.seqs.slice(this.head);
      this.head = 0;
    }
  }

  /** Drops the `count` oldest entries held, emptying their slots. */
  private dropHead(count: number): void {
    for (let i = 0; i < count; i += 1) this.entries[this.head + i] = undefined;
    this.head += count;
  }

  private clear(): void {
    this.entries = [];
    this.seqs = [];
    this.head = 0;
  }
}
