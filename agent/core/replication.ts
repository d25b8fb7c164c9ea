/**
 * Log replication (Raft §5.3) and snapshot transfer (Raft §7), the leader's side: what the
 * leader sends to each follower and how it reacts to the answers. The commit index advances in
 * commit.ts (only by counting replicas of an entry of the leader's own term, Raft §5.4.2 /
 * Figure 8); followers handle AppendEntries and InstallSnapshot chunks in follower.ts.
 *
 * Flow control follows etcd-io/raft: a follower in probe state gets one append at a time, one
 * in replicate state gets a pipeline bounded by its in-flight window, and one in snapshot state
 * gets snapshot chunks one at a time, resumable from the offset it reports.
 */
import { assert } from '../../contracts/assert.js';
import { maybeCommit } from './commit.js';
import { entryBytes } from './log.js';
import type { Progress } from './progress.js';
import { maybeConfirmReads } from './read-index.js';
import type { CoreOutboundRequest, SnapshotChunkRequest, SnapshotRef } from './ready.js';
import type { CoreState } from './state.js';
import { isVoter, isWitness, quorumVoters } from './configuration.js';
import { allVoters } from './quorum.js';
import { entriesForWitness } from './witness.js';
import type { LogIndex, NodeId } from '../../contracts/log.js';
import type { AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotResponse } from '../../contracts/messages.js';

/** Sends whatever each follower is owed and may receive now. Idempotent. */
export function flushReplication(core: CoreState): void {
  if (core.role !== 'leader') return;
  if (core.heartbeatNeeded) {
    core.heartbeatNeeded = false;
    sendHeartbeats(core);
  }
  for (const [id, progress] of core.progress) {
    if (progress.state === 'snapshot') {
      maybeSendSnapshotChunk(core, id, progress);
      continue;
    }
    while (!progress.isPaused()) {
      if (!sendAppend(core, id, progress)) break;
    }
  }
}

/** Sends the next batch of entries to `id`; returns false when there was nothing to send. */
function sendAppend(core: CoreState, id: NodeId, progress: Progress): boolean {
  const prevLogIndex = progress.next - 1;
  const prevLogTerm = core.log.term(prevLogIndex);
  const witness = isWitness(core.configs.current(), id);
  // A witness is sent only entries already durable on the leader (witnessEntriesMax).
  const countMax = witness ? witnessEntriesMax(core, progress.next) : core.options.maxEntriesPerAppend;
  const slice = core.log.slice(progress.next, countMax, core.options.appendBytesMax);
  if (prevLogTerm === null || slice === null) {
    // The entries the follower needs were compacted away: it needs the snapshot.
    startSnapshot(core, id, progress);
    return false;
  }
  // A witness is sent terms, indexes and configurations only (witness.ts).
  const entries = witness ? entriesForWitness(core.witnessView, slice) : slice;
  // In probe state an empty append still finds out whether the logs match at next - 1.
  const probing = progress.state === 'probe' && progress.match < prevLogIndex;
  if (entries.length === 0 && !probing) return false;
  core.send(id, {
    type: 'AppendEntriesRequest',
    term: core.currentTerm,
    leaderId: core.id,
    prevLogIndex,
    prevLogTerm,
    entries,
    leaderCommit: core.log.commitIndex,
  });
  let bytes = 0;
  for (const entry of entries) bytes += entryBytes(entry);
  progress.sentEntries(prevLogIndex + entries.length, entries.length, bytes);
  if (entries.length > 0) progress.appendElapsed = core.heartbeatElapsed;
  return true;
}

/**
 * How many entries from `next` on a witness may be sent: only entries already durable on a full
 * member that can campaign, namely the leader's own synced entries when it is a full voter of
 * the configuration in force, and whatever a full voter of that configuration has acknowledged
 * once it holds that configuration's entry (then its latest configuration names it a voter).
 *
 * A node's log never becomes less up to date than what it synced, so some full member that can
 * campaign is then always at least as up to date as the witness and can win its vote. Without
 * the rule an uncommitted entry could end up on the witness alone, or on the witness and a
 * leader that removed itself: the witness would refuse every full member its vote, and never
 * campaigns itself, so the cluster would wait for ever for an entry that was never committed.
 * Entries the witness got while the leader was still a full voter of the joint configuration
 * stay safe the same way: a leader that removed itself may campaign until its removal commits
 * (CoreState.isPromotable). Full members still get every entry at once, before the leader's own
 * sync (thesis §10.2.1); only the witness waits.
 */
function witnessEntriesMax(core: CoreState, next: LogIndex): number {
  const config = core.configs.current();
  const configIndex = core.configs.currentIndex();
  let last = isVoter(config, core.id) && !isWitness(config, core.id) ? core.log.stableIndex : 0;
  for (const id of allVoters(quorumVoters(config))) {
    if (id === core.id || isWitness(config, id)) continue;
    const match = core.progress.get(id)?.match ?? 0;
    if (match >= configIndex) last = Math.max(last, match);
  }
  return Math.max(0, Math.min(core.options.maxEntriesPerAppend, last - next + 1));
}

/**
 * True when a periodic heartbeat to this follower can be left out: it is in replicate state,
 * not backing off, and was sent entries in the last half heartbeat interval. That append reset
 * its election timer and carried the commit index, so the follower still hears from the leader
 * within 1.5 heartbeat intervals; heartbeats are never left out when that gap would exceed half
 * the shortest election timeout (the other half is the margin for delivery delays).
 */
function heartbeatCovered(core: CoreState, progress: Progress): boolean {
  if (progress.appendElapsed === null || progress.state !== 'replicate' || progress.backoffRounds > 0) return false;
  const half = Math.floor(core.options.heartbeatTicks / 2);
  if (2 * (core.options.heartbeatTicks + half) > core.options.electionTimeoutMinTicks) return false;
  const ticksSince = core.heartbeatElapsed - progress.appendElapsed;
  assert(ticksSince >= 0, 'the append was sent in this heartbeat interval');
  return ticksSince <= half;
}

/**
 * Sends an empty AppendEntries to every follower: it asserts leadership, carries the commit
 * index, confirms pending reads, and lets stalled probes and snapshot chunks be retried.
 * A `periodic` round (the heartbeat tick) leaves out the followers a recent append already
 * reached (heartbeatCovered); a round for reads never does: a read needs answers to messages
 * sent after it.
 */
export function sendHeartbeats(core: CoreState, periodic = false): void {
  for (const [id, progress] of core.progress) {
    const covered = periodic && heartbeatCovered(core, progress);
    progress.appendElapsed = null;
    if (covered) continue;
    if (progress.backoffRounds > 0) {
      // An unreachable follower is retried less and less often.
      progress.backoffRounds -= 1;
      continue;
    }
    if (progress.state === 'probe') progress.probeSent = false;
    if (progress.state === 'snapshot') progress.snapshotChunkSent = false;
    // The heartbeat claims only what the follower is known to hold, so it never fails on a
    // healthy follower and lets it commit up to its match index.
    let prevLogIndex = progress.match;
    let prevLogTerm = core.log.term(prevLogIndex);
    if (prevLogTerm === null) {
      prevLogIndex = 0;
      prevLogTerm = 0;
    }
    core.send(id, {
      type: 'AppendEntriesRequest',
      term: core.currentTerm,
      leaderId: core.id,
      prevLogIndex,
      prevLogTerm,
      entries: [],
      leaderCommit: core.log.commitIndex,
    });
  }
}

function startSnapshot(core: CoreState, id: NodeId, progress: Progress): void {
  const snapshot = core.latestSnapshot;
  assert(snapshot !== null, 'a compacted log has a snapshot');
  progress.becomeSnapshot(snapshot.lastIncludedIndex);
  // A transfer to a follower that answers counts as progress from its start (retention.ts).
  if (progress.recentActive) progress.stalledTicks = 0;
  const bytes = snapshotBytesFor(core, id, snapshot);
  core.emit({ kind: 'snapshot-sent', to: id, index: snapshot.lastIncludedIndex, bytes });
  maybeSendSnapshotChunk(core, id, progress);
}

/**
 * Sends the next chunk of the latest snapshot to `id`: where it lies in the persisted image, which
 * the runtime reads back from disk when it sends it (SnapshotChunkRequest).
 */
function maybeSendSnapshotChunk(core: CoreState, id: NodeId, progress: Progress): void {
  if (progress.snapshotChunkSent) return;
  const snapshot = core.latestSnapshot;
  assert(snapshot !== null, 'a follower in snapshot state has a snapshot to receive');
  if (snapshot.lastIncludedIndex !== progress.pendingSnapshot) {
    // A newer snapshot supersedes the transfer in progress.
    core.emit({ kind: 'snapshot-done', to: id, index: progress.pendingSnapshot, outcome: 'superseded' });
    startSnapshot(core, id, progress);
    return;
  }
  const offset = progress.snapshotOffset;
  const totalBytes = snapshotBytesFor(core, id, snapshot);
  assert(offset <= totalBytes, 'a transfer resumes within the snapshot');
  const dataBytes = Math.min(core.options.snapshotChunkBytes, totalBytes - offset);
  core.send(id, {
    type: 'InstallSnapshotRequest',
    term: core.currentTerm,
    leaderId: core.id,
    lastIncludedIndex: snapshot.lastIncludedIndex,
    lastIncludedTerm: snapshot.lastIncludedTerm,
    offset,
    dataBytes,
    done: offset + dataBytes === totalBytes,
    totalBytes,
    configuration: snapshot.configuration,
  });
  progress.snapshotChunkSent = true;
}

/** The size of the image `id` is sent: all of it, or nothing for a witness (witness.ts). */
function snapshotBytesFor(core: CoreState, id: NodeId, snapshot: SnapshotRef): number {
  return isWitness(core.configs.current(), id) ? 0 : snapshot.dataBytes;
}

/** Tells `to` to campaign at once (thesis §3.10). */
export function sendTimeoutNow(core: CoreState, to: NodeId): void {
  core.send(to, { type: 'TimeoutNowRequest', term: core.currentTerm, leaderId: core.id });
  core.emit({ kind: 'transfer', to, outcome: 'timeout-now-sent' });
}

/**
 * Records a follower's answer to an append: advance its match (and maybe the commit index) or back up its next index.
 */
export function handleAppendResponse(
  core: CoreState,
  from: NodeId,
  seq: number,
  request: AppendEntriesRequest,
  response: AppendEntriesResponse,
): void {
  const progress = core.progress.get(from);
  if (progress === undefined || response.term !== core.currentTerm) return;
  progress.heardFrom();
  core.ackedSeq.set(from, Math.max(core.ackedSeq.get(from) ?? 0, seq));
  maybeConfirmReads(core);
  if (response.success) {
    const match = request.prevLogIndex + request.entries.length;
    if (progress.maybeUpdate(match)) {
      if (progress.state === 'probe') progress.becomeReplicate();
      else if (progress.state === 'replicate') progress.inflights.freeLE(match);
      maybeCommit(core);
    } else if (progress.state === 'probe') {
      progress.probeSent = false;
    }
    if (core.transferee === from && progress.match === core.log.lastIndex()) sendTimeoutNow(core, from);
    return;
  }
  if (response.lastLogIndex < progress.match) reportLostLog(core, from, progress, response.lastLogIndex);
  const hintNext = nextFromHint(core, request, response);
  if (progress.maybeDecrTo(request.prevLogIndex, hintNext) && progress.state === 'replicate') progress.becomeProbe();
}

/**
 * A follower that answers that its log ends below the match it acknowledged has lost entries it
 * had made durable: its data folder was wiped or replaced while it stayed a member. Raft cannot
 * catch it up (its rejections at or below match are stale by the protocol's rules, so it is sent
 * the same append for ever, and its lost acknowledgements may have counted toward commitment),
 * so the leader says so, once per leadership, when it has also not advanced for an election
 * timeout (a reordered answer from before its match advanced is not enough).
 */
function reportLostLog(core: CoreState, from: NodeId, progress: Progress, lastLogIndex: LogIndex): void {
  if (progress.lostLogReported || progress.stalledTicks < core.options.electionTimeoutMinTicks) return;
  progress.lostLogReported = true;
  core.emit({
    kind: 'warning',
    message:
      `${from} answers that its log ends at ${lastLogIndex}, below the ${progress.match} it acknowledged: ` +
      'it lost entries it had stored (a wiped or replaced data folder) and cannot catch up; remove it and add ' +
      'it back with new keys (deploy/README.md, "Remove a gateway"; "Add a gateway")',
  });
}

/** Where to probe next after a rejection, from the follower's conflict hint (Raft §5.3). */
function nextFromHint(core: CoreState, request: AppendEntriesRequest, response: AppendEntriesResponse): LogIndex {
  const conflictIndex = response.conflictIndex ?? request.prevLogIndex;
  if (response.conflictTerm === null) return Math.max(1, conflictIndex);
  // Skip the follower's whole conflicting term; if we hold that term, resume after our last
  // entry of it.
  let index = Math.min(request.prevLogIndex, core.log.lastIndex());
  while (index >= core.log.firstIndex()) {
    const term = core.log.term(index);
    if (term === null || term <= response.conflictTerm) break;
    index -= 1;
  }
  if (core.log.term(index) === response.conflictTerm) return index + 1;
  return Math.max(1, conflictIndex);
}

/** Records a follower's answer to a snapshot chunk: resume from its offset, or probe after the whole snapshot. */
export function handleSnapshotResponse(
  core: CoreState,
  from: NodeId,
  request: Pick<SnapshotChunkRequest, 'lastIncludedIndex' | 'totalBytes'>,
  response: InstallSnapshotResponse,
): void {
  const progress = core.progress.get(from);
  if (progress === undefined) return;
  progress.heardFrom();
  if (progress.state !== 'snapshot' || request.lastIncludedIndex !== progress.pendingSnapshot) return;
  progress.snapshotChunkSent = false;
  // The follower holds the whole snapshot: it just installed it, or it already had it.
  if (response.bytesStored === request.totalBytes) {
    core.emit({ kind: 'snapshot-done', to: from, index: request.lastIncludedIndex, outcome: 'installed' });
    progress.maybeUpdate(request.lastIncludedIndex);
    progress.becomeProbe();
    return;
  }
  // Resume from what the follower holds; 0 restarts a transfer it discarded.
  const offset = Math.min(response.bytesStored, request.totalBytes);
  if (offset > progress.snapshotOffset) progress.stalledTicks = 0;
  progress.snapshotOffset = offset;
}

/** A request could not be delivered or timed out: slow down and retry at the next heartbeat. */
export function handleUnreachable(core: CoreState, to: NodeId, request: CoreOutboundRequest): void {
  if (core.role !== 'leader' || request.term !== core.currentTerm) return;
  const progress = core.progress.get(to);
  if (progress === undefined) return;
  // Back off for at most half an election timeout, so a returning follower hears from us
  // before it would start to campaign.
  const roundsMax = Math.max(1, Math.floor(core.options.electionTimeoutMinTicks / core.options.heartbeatTicks / 2));
  progress.failed(roundsMax, core.prng.nextFloat());
  if (request.type === 'AppendEntriesRequest' && progress.state === 'replicate') progress.becomeProbe();
  if (request.type === 'AppendEntriesRequest' && progress.state === 'probe') progress.probeSent = true;
}
