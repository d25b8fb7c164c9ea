/**
 * Log compaction in checkpoint-sized pieces. A compaction (PersistBatch.compactBefore) after a
 * snapshot deletes every entry below its point in one log record, tens of thousands of entries
 * under load; applied in the record's checkpoint transaction, the deletes (one LMDB delete each)
 * held the event loop for 100-180 ms on every member at once, since every member compacts at the
 * same log record (traced under 64 clients x 256 B: 19,903 entries).
 *
 * So, once such a record is the first one the checkpoint has left (every earlier record is in
 * LMDB), its deletes go first in transactions of their own of at most walCheckpointDeletesPerTxnMax
 * entries each, one event-loop turn each, lowest index first, without moving the checkpoint
 * record; the record's own transaction deletes the rest. A crash between them leaves LMDB's log
 * with a prefix deleted: still a valid log, as only entries the stored snapshot covers are
 * deleted ahead (a log may start anywhere up to the snapshot's last index + 1), and replaying the
 * record plans deletes from the stored log's first entry (log-projection.ts), so it deletes just
 * what is left.
 */
import type { LogIndex } from '../../contracts/log.js';
import type { WriteStep } from '../log-projection.js';

/** Entries of a record's compaction already deleted ahead of it: those up to `through`. */
export interface DeletedAhead {
  readonly seq: number;
  readonly through: LogIndex;
}

/** The deletes of `steps` that may go ahead of the record: the first delete step, up to the stored snapshot. */
function compactionRange(steps: readonly WriteStep[], snapshotIndex: LogIndex | null): [LogIndex, LogIndex] | null {
  const step = steps.find((s) => s.kind === 'delete');
  if (step?.kind !== 'delete' || snapshotIndex === null) return null;
  return [step.from, Math.min(step.to, snapshotIndex)];
}

/**
 * The next piece of the compaction of record `seq` (write plan `steps`) to delete ahead of it,
 * or null when what is left fits the record's own transaction. `firstStored` is the first
 * entry LMDB holds now: a piece is only ever a prefix of the stored log.
 */
export function nextDeletePiece(
  seq: number,
  steps: readonly WriteStep[],
  snapshotIndex: LogIndex | null,
  ahead: DeletedAhead | null,
  firstStored: () => LogIndex | null,
  perTxnMax: number,
): [LogIndex, LogIndex] | null {
  const range = compactionRange(steps, snapshotIndex);
  if (range === null) return null;
  const from = ahead?.seq === seq ? Math.max(range[0], ahead.through + 1) : range[0];
  if (range[1] - from + 1 <= perTxnMax) return null;
  if (firstStored() !== from) return null;
  return [from, from + perTxnMax - 1];
}

/** True when record `steps` has a compaction larger than one transaction's deletes (it will start a chunk). */
export function hasLargeCompaction(
  steps: readonly WriteStep[],
  snapshotIndex: LogIndex | null,
  perTxnMax: number,
): boolean {
  const range = compactionRange(steps, snapshotIndex);
  return range !== null && range[1] - range[0] + 1 > perTxnMax;
}

/** The write plan of record `seq` less what was deleted ahead of it. */
export function withoutDeletedAhead(
  seq: number,
  steps: readonly WriteStep[],
  ahead: DeletedAhead | null,
): readonly WriteStep[] {
  if (ahead?.seq !== seq) return steps;
  const index = steps.findIndex((s) => s.kind === 'delete');
  const step = steps[index];
  if (step?.kind !== 'delete' || ahead.through < step.from) return steps;
  const rest = steps.slice();
  if (ahead.through >= step.to) rest.splice(index, 1);
  else rest[index] = { kind: 'delete', from: ahead.through + 1, to: step.to };
  return rest;
}
