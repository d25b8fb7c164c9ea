/**
 * The shape records (lmdb-log-shape.ts) of one write transaction's appends, gathered entry by entry
 * and put once: before the transaction deletes log records, and when it ends.
 *
 * A checkpoint transaction applies up to walCheckpointTxnBytesMax of log records, at one client
 * thousands of one-entry records. Put record by record (read the last shape record, decode it,
 * merge, encode, put), the shapes took more than half of such a transaction's time, all of it on
 * the event loop: a 1 MiB transaction of 300-byte entries held it 30-45 ms on tmpfs. Gathered,
 * a transaction's consecutive appends make one shape, which appendShape merges into the last
 * record or puts as a record of its own, as it does for any single append; the records still tile
 * the stored log.
 */
import type { EntryType, LogIndex, Term } from '../../contracts/log.js';
import { ShapeAccumulator, appendShape } from './lmdb-log-shape.js';
import type { ShapeStore } from './lmdb-log-shape.js';

/** The shapes of a transaction's appends not yet put. Call {@link flush} before the transaction commits. */
export class ShapeAppends {
  private pending: ShapeAccumulator | null = null;

  constructor(
    readonly store: ShapeStore,
    private readonly path: string,
  ) {}

  /** Notes the entry just appended at `index`; one that does not follow the last noted puts what was noted first. */
  add(index: LogIndex, term: Term, type: EntryType, commandBytes: number): void {
    if (this.pending !== null && this.pending.firstIndex + this.pending.count !== index) this.flush();
    (this.pending ??= new ShapeAccumulator(index)).add(term, type, commandBytes);
  }

  /** Puts the shape of the entries noted since the last flush, if any. */
  flush(): void {
    if (this.pending === null) return;
    const shape = this.pending.shape();
    this.pending = null;
    appendShape(this.store, shape, this.path);
  }
}
