/**
 * The write of one Ready and what may be done while it is under way (node.ts, step 1 of the
 * Ready loop): the committed entries that earlier Readies synced.
 */
import type { Ready } from '../core/ready.js';
import type { LogEntry } from '../../contracts/log.js';
import type { PersistenceEngine } from '../../contracts/persistence.js';
import { assert } from '../../contracts/assert.js';
import type { LatencyProbe, LatencyStage } from '../observability/latency-probe.js';

/**
 * Starts the Ready's write, if it has anything to persist (null otherwise), of a Ready without a
 * snapshot from the leader (Snapshots.receive writes those); `overlap`: the caller
 * works while the write is under way (PersistOptions.overlap). The promise is awaited by the
 * caller after that work; a rejection meanwhile is not reported as unhandled.
 */
export function startWrite(storage: PersistenceEngine, ready: Ready, overlap: boolean): Promise<void> | null {
  // A snapshot from the leader is committed with its image (snapshot-receive.ts), never here.
  assert(ready.snapshot === null, 'a received snapshot is stored by its writer');
  const { truncateFrom, entries, compactBefore, hardState } = ready;
  const empty = hardState === null && truncateFrom === null && entries.length === 0 && compactBefore === null;
  if (empty) return null;
  const written = storage.persist({ snapshot: null, truncateFrom, entries, compactBefore, hardState }, { overlap });
  written.catch(() => undefined);
  return written;
}

/**
 * Fewest synced committed entries a follower applies while its write is under way. Fewer wait
 * until its answer to the leader has left, and the write then overlaps nothing (see
 * {@link appliedWhileWriting}). At one client a follower applies one entry per write, while a
 * sync takes 0.2-0.3 ms (a leader's committed -> applied, its answer to the client included, has
 * a median of 0.04-0.08 ms per entry); a batch this large takes about as long as the sync, and
 * under load (64 clients, 4 KiB values) the overlap keeps the follower's turn at max(sync, apply).
 */
export const FOLLOWER_OVERLAP_ENTRIES_MIN = 8;

/**
 * How many of the `synced` committed entries (see {@link syncedCommitted}) are applied while the
 * Ready's write is under way: all of them on a leader (its clients' answers leave meanwhile), on
 * any other node only a batch of at least {@link FOLLOWER_OVERLAP_ENTRIES_MIN}. A follower's
 * answer to the leader is on the path of every commit and its apply answers no client, so fewer
 * are applied after its answer has left, and its write asks to overlap nothing: the WAL engine
 * then syncs a lone write inline (walSyncMode `auto`). An overlapped write goes to libuv's thread
 * pool and back, which wakes two threads; on the loaded 2-core machine each wake-up waited for a
 * core, and in the slowest 1 % of one-client writes the followers' write spent 3-5 ms in that
 * hand-off while its sync took 0.2-0.4 ms (traced with perf).
 */
export function appliedWhileWriting(leader: boolean, synced: number): number {
  assert(Number.isSafeInteger(synced), `synced committed entries ${synced} are a count`);
  assert(synced >= 0, `synced committed entries ${synced} are not negative`);
  return leader || synced >= FOLLOWER_OVERLAP_ENTRIES_MIN ? synced : 0;
}

/**
 * How many of the Ready's committed entries (a prefix) precede the entries it writes: earlier
 * Readies synced them, so they may be applied before this Ready's write is done. The Ready must
 * carry no snapshot (one is restored before anything after it is applied).
 */
export function syncedCommitted(ready: Ready): number {
  assert(ready.snapshot === null, 'a Ready with a snapshot restores it before it applies');
  const firstWritten = ready.entries[0]?.index ?? Number.POSITIVE_INFINITY;
  let count = 0;
  while (count < ready.committed.length && entryAt(ready.committed, count).index < firstWritten) count += 1;
  return count;
}

/** `entries[i]`, which must exist. */
export function entryAt(entries: readonly LogEntry[], i: number): LogEntry {
  const entry = entries[i];
  assert(entry !== undefined, `entry ${i} of ${entries.length}`);
  return entry;
}

/**
 * Marks `stage` for the last entry the Ready writes (observability/latency-probe.ts); at `ready`,
 * also `committed` for the last entry it commits.
 */
export function probeStage(probe: LatencyProbe, stage: LatencyStage, ready: Ready): void {
  const last = ready.entries[ready.entries.length - 1];
  if (last !== undefined) probe.mark(stage, last.index);
  const committed = ready.committed[ready.committed.length - 1];
  if (stage === 'ready' && committed !== undefined) probe.mark('committed', committed.index);
}
