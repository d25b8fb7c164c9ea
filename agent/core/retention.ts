/**
 * How much log a snapshot leaves behind (Raft §7): where compaction may start so that the
 * followers that are replicating still catch up by AppendEntries rather than by a whole
 * InstallSnapshot, within a bound on what the compacted log keeps.
 *
 * Every node keeps `entries` entries behind its snapshot (etcd's SnapshotCatchUpEntries). A leader
 * also keeps the log back to the slowest follower that is actively replicating (see
 * {@link isActivelyReplicating}). Both give way to the bound: at most `entriesMax` entries and
 * `bytesMax` entry bytes behind the snapshot, so a follower that is down or far behind cannot
 * make the log grow without limit; it gets the snapshot instead.
 */
import { assert } from '../../contracts/assert.js';
import type { RaftLog } from './log.js';
import type { CoreOptions } from './options.js';
import type { Progress } from './progress.js';
import type { LogIndex, NodeId } from '../../contracts/log.js';

/** What compaction keeps behind a snapshot. */
export interface LogRetention {
  /** Entries always kept behind the snapshot (within bytesMax). */
  readonly entries: number;
  /** Most entries kept behind the snapshot, for lagging followers included. Invariant: >= entries. */
  readonly entriesMax: number;
  /** Most entry bytes kept behind the snapshot. */
  readonly bytesMax: number;
}

/** Election timeouts a follower may stay behind without progress and still hold compaction back. */
export const RETAIN_STALLED_ELECTION_TIMEOUTS = 20;

/**
 * How long, in leader ticks, a follower may stall and still count as replicating: 12 s at the agent's
 * election timeout (600 ms), 3 s at the reference one (150 ms).
 */
export function retainStalledTicksMax(options: Pick<CoreOptions, 'electionTimeoutMinTicks'>): number {
  return RETAIN_STALLED_ELECTION_TIMEOUTS * options.electionTimeoutMinTicks;
}

/**
 * True when the leader counts `progress`'s follower as actively replicating, so that compaction
 * waits for it:
 * - it is replicated by appends (probe or replicate state) and the leader knows where its log
 *   matches (match > 0). A follower receiving a snapshot does not count here: a newer snapshot
 *   replaces the one in transfer whatever the log keeps (replication.ts), so the runtime holds
 *   the next snapshot back instead, within a bound ({@link followerReceivingSnapshot}); and
 * - it makes progress: its match advanced within the last `stalledTicksMax` ticks in which it
 *   was behind (progress.stalledTicks). A slow follower counts, even one whose requests time out
 *   now and then: appends catch it up for far less than a whole snapshot. A follower that is
 *   down stops counting after RETAIN_STALLED_ELECTION_TIMEOUTS election timeouts, and so does
 *   one that answers but does not advance (heartbeats get through, appends do not): the
 *   snapshot, sent with a longer deadline, is what unblocks it. The entry and byte bounds hold
 *   either way.
 */
export function isActivelyReplicating(progress: Progress, stalledTicksMax: number): boolean {
  const known = progress.state !== 'snapshot' && progress.match > 0;
  return known && progress.stalledTicks <= stalledTicksMax;
}

/**
 * The index before which the log may be compacted once a snapshot at `index` is taken: the
 * lowest index that `retention` and the followers in `followers` (a leader's progress; empty
 * elsewhere) that are replicating (advancing within `stalledTicksMax`) ask to keep, raised to
 * honour the bound. Never below the log's first index, never above `index + 1`.
 */
export function compactionPoint(
  log: RaftLog,
  followers: Iterable<Progress>,
  index: LogIndex,
  retention: LogRetention,
  stalledTicksMax: number,
): LogIndex {
  assert(retention.entries <= retention.entriesMax, 'the retained entries are within their bound');
  assert(index <= log.lastIndex(), 'a snapshot covers entries the log has');
  let from = index + 1 - retention.entries;
  for (const progress of followers) {
    // The follower resumes after its match: the next append names that entry's term (prevLogTerm).
    if (isActivelyReplicating(progress, stalledTicksMax)) from = Math.min(from, progress.match);
  }
  from = Math.max(from, index + 1 - retention.entriesMax, log.firstIndex());
  // The bytes bound: walk back from the snapshot while the kept entries fit.
  let start = index + 1;
  let bytes = 0;
  while (start > from) {
    // Sizes of every entry are known, in memory or not (log-window.ts).
    bytes += log.bytesBetween(start - 1, start - 1);
    if (bytes > retention.bytesMax) break;
    start -= 1;
  }
  assert(start <= index + 1, 'compaction stops at the snapshot');
  return start;
}

/**
 * True when the leader counts `progress`'s follower as receiving a snapshot: it is in snapshot
 * state and the transfer advanced (a chunk stored, or the follower answered as it began) within
 * the last `stalledTicksMax` leader ticks. A newer snapshot would replace the one in transfer
 * (replication.ts), which would start again from its first byte.
 */
export function isReceivingSnapshot(progress: Progress, stalledTicksMax: number): boolean {
  return progress.state === 'snapshot' && progress.stalledTicks <= stalledTicksMax;
}

/**
 * A follower among `followers` (a leader's progress) that a snapshot would set back, or null: one
 * receiving a snapshot ({@link isReceivingSnapshot}), which a newer one would replace
 * (replication.ts), its transfer starting again from the first byte, and which answered within the
 * last election timeout (one that is down holds nothing back). The runtime waits before
 * snapshotting while there is one, within a bound (agent/runtime/snapshot-wait.ts), as etcd pauses
 * compaction while a snapshot is in flight. A follower that replicates needs no wait: compaction
 * keeps the entries it needs, within the bound of the retention ({@link compactionPoint}).
 */
export function followerReceivingSnapshot(
  followers: ReadonlyMap<NodeId, Progress>,
  options: Pick<CoreOptions, 'electionTimeoutMinTicks'>,
): NodeId | null {
  const stalledTicksMax = retainStalledTicksMax(options);
  for (const [id, progress] of followers)
    if (progress.silentTicks <= options.electionTimeoutMinTicks && isReceivingSnapshot(progress, stalledTicksMax))
      return id;
  return null;
}

/** A progress report on one member, for the runtime's status. */
export interface MemberProgress {
  readonly id: NodeId;
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: string;
  readonly recentActive: boolean;
  /** The leader counts it as actively replicating: compaction keeps the entries it needs. */
  readonly replicating: boolean;
}

/** The leader's progress of each member (`progress`), as the runtime's status reports it. */
export function memberProgress(progress: ReadonlyMap<NodeId, Progress>, options: CoreOptions): MemberProgress[] {
  return [...progress.entries()].map(([id, p]) => ({
    id,
    match: p.match,
    next: p.next,
    state: p.state,
    recentActive: p.recentActive,
    replicating: isActivelyReplicating(p, retainStalledTicksMax(options)),
  }));
}
