/**
 * The log entries that are durable in the write-ahead log but not yet checkpointed into LMDB,
 * kept in memory so that reads find them. They are always a suffix of the log (entries are
 * appended at the end, and only the newest are not yet checkpointed), each tagged with the
 * sequence number of the record that wrote it; sequence numbers never decrease along it, so a
 * checkpoint through record `seq` drops a prefix.
 */
import { InvariantError } from '../../contracts/errors.js';
import { FrontQueue } from '../../contracts/front-queue.js';
import type { LogEntry, LogIndex } from '../../contracts/log.js';
import { assert } from '../../contracts/assert.js';
import type { WriteStep } from '../log-projection.js';

/** Dropped slots kept before the queues cut their arrays (a checkpoint drops a few thousand entries at a time). */
const CUT_AFTER_DROPPED = 4096;

/** The not-yet-checkpointed suffix of the log. */
export class WalTail {
  /**
   * The entries, oldest first. The queue keeps none it dropped (dropped entries kept in their slots held
   * 40 MiB of commands on a follower under 256 clients x 64 KiB).
   */
  private readonly entries = new FrontQueue<LogEntry>(CUT_AFTER_DROPPED);
  /** Invariant: the record of each entry, position for position; non-decreasing. Entries have contiguous indexes. */
  private readonly seqs = new FrontQueue<number>(CUT_AFTER_DROPPED);

  /** Entries held. */
  size(): number {
    return this.entries.length;
  }

  /** Index of the first entry held, or null when empty. */
  firstIndex(): LogIndex | null {
    return this.entries.first()?.index ?? null;
  }

  /** The entry at `index` when the tail holds it. */
  get(index: LogIndex): LogEntry | undefined {
    const first = this.firstIndex();
    if (first === null || index < first) return undefined;
    return this.entries.at(index - first);
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
            const last = this.entries.last();
            assert(last === undefined || entry.index === last.index + 1, `tail append of ${entry.index} is contiguous`);
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
      this.entries.truncate(keep);
      this.seqs.truncate(keep);
    } else {
      assert(from <= first, `tail deletion ${from}..${to} is a prefix or a suffix of ${first}..${last}`);
      this.dropHead(to - first + 1);
    }
  }

  /** Drops the entries written by records up to `seq` (now in LMDB). */
  dropThrough(seq: number): void {
    let dropped = 0;
    while (dropped < this.seqs.length && (this.seqs.at(dropped) ?? Infinity) <= seq) dropped += 1;
    this.dropHead(dropped);
  }

  /** Drops the `count` oldest entries held. */
  private dropHead(count: number): void {
    this.entries.drop(count);
    this.seqs.drop(count);
  }
}
