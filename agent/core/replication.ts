/**
 * Log replication (Raft §5.3) and snapshot transfer (Raft §7): what the leader sends to each
 * follower and how it reacts to the answers, how it advances the commit index (only by
 * counting replicas of an entry of its own term, Raft §5.4.2 / Figure 8), and how a follower
 * handles AppendEntries and InstallSnapshot chunks.
 *
 * Flow control follows etcd-io/raft: a follower in probe state gets one append at a time, one
 * in replicate state gets a pipeline bounded by its in-flight window, and one in snapshot state
 * gets snapshot chunks one at a time, resumable from the offset it reports.
 */
import { assert } from './assert.js';
import { entryBytes } from './log.js';
import { quorumVoters } from './membership.js';
import type { Progress } from './progress.js';
import { committedIndex } from './quorum.js';
import type { RaftCore } from './raft.js';
import type { CoreRequest } from './ready.js';
import type {
  AppendEntriesRequest,
  AppendEntriesResponse,
  ClusterConfiguration,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  LogIndex,
  NodeId,
  Term,
} from './types.js';

/** A snapshot being received from the leader, chunk by chunk. */
export interface IncomingSnapshot {
  readonly index: LogIndex;
  readonly term: Term;
  readonly totalBytes: number;
  readonly configuration: ClusterConfiguration;
  /** Copies of the chunks received in order. Invariant: their sizes sum to bytesStored <= totalBytes. */
  readonly chunks: Uint8Array[];
  bytesStored: number;
}

// ---------------------------------------------------------------------------------------------
// Leader side
// ---------------------------------------------------------------------------------------------

/** Sends whatever each follower is owed and may receive now. Idempotent. */
export function flushReplication(core: RaftCore): void {
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
function sendAppend(core: RaftCore, id: NodeId, progress: Progress): boolean {
  const prevLogIndex = progress.next - 1;
  const prevLogTerm = core.log.term(prevLogIndex);
  const entries = core.log.slice(progress.next, core.options.maxEntriesPerAppend, core.options.appendBytesMax);
  if (prevLogTerm === null || entries === null) {
    // The entries the follower needs were compacted away: it needs the snapshot.
    startSnapshot(core, id, progress);
    return false;
  }
  // In probe state an empty append still finds out whether the logs match at next - 1.
  const probing = progress.state === 'probe' && progress.match < prevLogIndex;
  if (entries.length === 0 && !probing) return false;
  core.send(id, { type: 'AppendEntriesRequest', term: core.currentTerm, leaderId: core.id, prevLogIndex, prevLogTerm, entries, leaderCommit: core.log.commitIndex });
  let bytes = 0;
  for (const entry of entries) bytes += entryBytes(entry);
  progress.sentEntries(prevLogIndex + entries.length, entries.length, bytes);
  return true;
}

/**
 * Sends an empty AppendEntries to every follower: it asserts leadership, carries the commit
 * index, confirms pending reads, and lets stalled probes and snapshot chunks be retried.
 */
export function sendHeartbeats(core: RaftCore): void {
  for (const [id, progress] of core.progress) {
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
    core.send(id, { type: 'AppendEntriesRequest', term: core.currentTerm, leaderId: core.id, prevLogIndex, prevLogTerm, entries: [], leaderCommit: core.log.commitIndex });
  }
}

function startSnapshot(core: RaftCore, id: NodeId, progress: Progress): void {
  const snapshot = core.latestSnapshot;
  assert(snapshot !== null, 'a compacted log has a snapshot');
  progress.becomeSnapshot(snapshot.lastIncludedIndex);
  core.emit({ kind: 'snapshot-sent', to: id, index: snapshot.lastIncludedIndex, bytes: snapshot.data.byteLength });
  maybeSendSnapshotChunk(core, id, progress);
}

function maybeSendSnapshotChunk(core: RaftCore, id: NodeId, progress: Progress): void {
  if (progress.snapshotChunkSent) return;
  const snapshot = core.latestSnapshot;
  assert(snapshot !== null, 'a follower in snapshot state has a snapshot to receive');
  if (snapshot.lastIncludedIndex !== progress.pendingSnapshot) {
    // A newer snapshot supersedes the transfer in progress.
    startSnapshot(core, id, progress);
    return;
  }
  const offset = progress.snapshotOffset;
  const data = snapshot.data.subarray(offset, offset + core.options.snapshotChunkBytes);
  const done = offset + data.byteLength === snapshot.data.byteLength;
  core.send(id, {
    type: 'InstallSnapshotRequest',
    term: core.currentTerm,
    leaderId: core.id,
    lastIncludedIndex: snapshot.lastIncludedIndex,
    lastIncludedTerm: snapshot.lastIncludedTerm,
    offset,
    data,
    done,
    totalBytes: snapshot.data.byteLength,
    configuration: snapshot.configuration,
  });
  progress.snapshotChunkSent = true;
}

/** Tells `to` to campaign at once (thesis §3.10). */
export function sendTimeoutNow(core: RaftCore, to: NodeId): void {
  core.send(to, { type: 'TimeoutNowRequest', term: core.currentTerm, leaderId: core.id });
  core.emit({ kind: 'transfer', to, outcome: 'timeout-now-sent' });
}

/** Advances the commit index to what a quorum holds, if that entry is of the current term. */
export function maybeCommit(core: RaftCore): void {
  if (core.role !== 'leader') return;
  const index = committedIndex(quorumVoters(core.configs.current()), (id) =>
    id === core.id ? core.log.stableIndex : (core.progress.get(id)?.match ?? 0),
  );
  // Raft §5.4.2: only entries of the current term are committed by counting replicas.
  if (index > core.log.commitIndex && core.log.term(index) === core.currentTerm) {
    core.log.commitTo(index);
    core.onCommitAdvanced();
  }
}

export function handleAppendResponse(core: RaftCore, from: NodeId, seq: number, request: AppendEntriesRequest, response: AppendEntriesResponse): void {
  const progress = core.progress.get(from);
  if (progress === undefined || response.term !== core.currentTerm) return;
  progress.heardFrom();
  core.ackedSeq.set(from, Math.max(core.ackedSeq.get(from) ?? 0, seq));
  core.maybeConfirmReads();
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
  const hintNext = nextFromHint(core, request, response);
  if (progress.maybeDecrTo(request.prevLogIndex, hintNext) && progress.state === 'replicate') progress.becomeProbe();
}

/** Where to probe next after a rejection, from the follower's conflict hint (Raft §5.3). */
function nextFromHint(core: RaftCore, request: AppendEntriesRequest, response: AppendEntriesResponse): LogIndex {
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

export function handleSnapshotResponse(core: RaftCore, from: NodeId, request: InstallSnapshotRequest, response: InstallSnapshotResponse): void {
  const progress = core.progress.get(from);
  if (progress === undefined) return;
  progress.heardFrom();
  if (progress.state !== 'snapshot' || request.lastIncludedIndex !== progress.pendingSnapshot) return;
  progress.snapshotChunkSent = false;
  // The follower holds the whole snapshot: it just installed it, or it already had it.
  if (response.bytesStored === request.totalBytes) {
    progress.maybeUpdate(request.lastIncludedIndex);
    progress.becomeProbe();
    return;
  }
  // Resume from what the follower holds; 0 restarts a transfer it discarded.
  progress.snapshotOffset = Math.min(response.bytesStored, request.totalBytes);
}

/** A request could not be delivered or timed out: slow down and retry at the next heartbeat. */
export function handleUnreachable(core: RaftCore, to: NodeId, request: CoreRequest): void {
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

// ---------------------------------------------------------------------------------------------
// Follower side
// ---------------------------------------------------------------------------------------------

export function handleAppendEntries(core: RaftCore, replyTo: number, request: AppendEntriesRequest): void {
  const outcome = core.log.maybeAppend(request.prevLogIndex, request.prevLogTerm, request.entries);
  if (!outcome.ok) {
    core.reply(replyTo, {
      type: 'AppendEntriesResponse',
      term: core.currentTerm,
      success: false,
      conflictIndex: outcome.conflictIndex,
      conflictTerm: outcome.conflictTerm,
      lastLogIndex: core.log.lastIndex(),
    });
    return;
  }
  const first = outcome.appended[0];
  if (first !== undefined) {
    const truncated = core.configs.truncateFrom(first.index);
    const appended = core.configs.append(outcome.appended);
    if (truncated || appended) core.onConfigurationChanged();
  }
  if (core.log.commitTo(Math.min(request.leaderCommit, outcome.lastNewIndex))) core.onCommitAdvanced();
  core.reply(replyTo, { type: 'AppendEntriesResponse', term: core.currentTerm, success: true, conflictIndex: null, conflictTerm: null, lastLogIndex: core.log.lastIndex() });
}

export function handleInstallSnapshot(core: RaftCore, replyTo: number, request: InstallSnapshotRequest): void {
  const reply = (bytesStored: number): void => core.reply(replyTo, { type: 'InstallSnapshotResponse', term: core.currentTerm, bytesStored });
  if (request.lastIncludedIndex <= core.log.commitIndex) {
    // We already hold everything this snapshot covers.
    reply(request.totalBytes);
    return;
  }
  if (request.totalBytes > core.options.snapshotBytesMax) {
    core.emit({ kind: 'warning', message: `refused a snapshot of ${request.totalBytes} bytes (limit ${core.options.snapshotBytesMax})` });
    reply(0);
    return;
  }
  let incoming = core.incoming;
  const same = incoming !== null && incoming.index === request.lastIncludedIndex && incoming.term === request.lastIncludedTerm && incoming.totalBytes === request.totalBytes;
  if (incoming === null || !same) {
    if (request.offset !== 0) {
      reply(0);
      return;
    }
    incoming = { index: request.lastIncludedIndex, term: request.lastIncludedTerm, totalBytes: request.totalBytes, configuration: request.configuration, chunks: [], bytesStored: 0 };
    core.incoming = incoming;
  }
  if (request.offset !== incoming.bytesStored) {
    reply(incoming.bytesStored);
    return;
  }
  if (request.data.byteLength > 0) {
    // Copied: the transport may reuse the buffer the chunk arrived in.
    incoming.chunks.push(request.data.slice());
    incoming.bytesStored += request.data.byteLength;
  }
  assert(incoming.bytesStored <= incoming.totalBytes, 'a snapshot never grows past its size');
  if (!request.done) {
    reply(incoming.bytesStored);
    return;
  }
  core.incoming = null;
  core.restoreFromLeader({
    lastIncludedIndex: incoming.index,
    lastIncludedTerm: incoming.term,
    configuration: incoming.configuration,
    data: concat(incoming.chunks, incoming.totalBytes),
  });
  reply(incoming.totalBytes);
}

function concat(chunks: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const data = new Uint8Array(totalBytes);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  assert(offset === totalBytes, 'the chunks fill the snapshot exactly');
  return data;
}
