/**
 * Log replication (Raft §5.3) and snapshot transfer (Raft §7), the follower's side: a follower
 * appends the leader's entries when its log matches at the previous index (and answers with a
 * conflict hint when it does not), follows the leader's commit index, and receives a snapshot
 * chunk by chunk, resumable from the offset it reports. The term check and the leader check
 * of every such request are done by step.ts before these handlers run.
 */
import { assert } from '../../contracts/assert.js';
import { onCommitAdvanced } from './commit.js';
import type { CoreState } from './state.js';
import type { AppendEntriesRequest, InstallSnapshotRequest } from '../../contracts/messages.js';
import type { LogIndex, Term } from '../../contracts/log.js';
import { entriesForWitness } from './witness.js';
import { snapshotRef } from './ready.js';
import type { SnapshotRef } from './ready.js';

/** Handles AppendEntries from the leader of the current term (Raft Figure 2, receiver rules 2-5). */
export function handleAppendEntries(core: CoreState, replyTo: number, request: AppendEntriesRequest): void {
  // A witness keeps terms and indexes only, whatever the leader sent (witness.ts).
  const entries = core.isSelfWitness() ? entriesForWitness(core.witnessView, request.entries) : request.entries;
  const outcome = core.log.maybeAppend(request.prevLogIndex, request.prevLogTerm, entries);
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
  if (core.log.commitTo(Math.min(request.leaderCommit, outcome.lastNewIndex))) onCommitAdvanced(core);
  core.reply(replyTo, {
    type: 'AppendEntriesResponse',
    term: core.currentTerm,
    success: true,
    conflictIndex: null,
    conflictTerm: null,
    lastLogIndex: core.log.lastIndex(),
  });
}

/** Handles one InstallSnapshot chunk from the leader of the current term (Raft Figure 13). */
export function handleInstallSnapshot(core: CoreState, replyTo: number, request: InstallSnapshotRequest): void {
  const reply = (bytesStored: number): void =>
    core.reply(replyTo, { type: 'InstallSnapshotResponse', term: core.currentTerm, bytesStored });
  if (request.lastIncludedIndex <= core.log.commitIndex) {
    // We already hold everything this snapshot covers.
    reply(request.totalBytes);
    return;
  }
  if (request.totalBytes > core.options.snapshotBytesMax) {
    core.emit({
      kind: 'warning',
      message: `refused a snapshot of ${request.totalBytes} bytes (limit ${core.options.snapshotBytesMax})`,
    });
    reply(0);
    return;
  }
  let incoming = core.incoming;
  const same =
    incoming !== null &&
    incoming.index === request.lastIncludedIndex &&
    incoming.term === request.lastIncludedTerm &&
    incoming.totalBytes === request.totalBytes;
  if (incoming === null || !same) {
    if (request.offset !== 0) {
      reply(0);
      return;
    }
    incoming = {
      index: request.lastIncludedIndex,
      term: request.lastIncludedTerm,
      totalBytes: request.totalBytes,
      configuration: request.configuration,
      bytesStored: 0,
    };
    core.incoming = incoming;
  }
  if (request.offset !== incoming.bytesStored) {
    reply(incoming.bytesStored);
    return;
  }
  // The validation (validate.ts) keeps a chunk within totalBytes.
  assert(incoming.bytesStored + request.data.byteLength <= incoming.totalBytes, 'a snapshot never grows past its size');
  const snapshot = {
    lastIncludedIndex: incoming.index,
    lastIncludedTerm: incoming.term,
    configuration: incoming.configuration,
  };
  // Copied: the transport may reuse the buffer the chunk arrived in. The runtime streams it to storage.
  core.receivedChunks.push({
    snapshot,
    totalBytes: incoming.totalBytes,
    offset: incoming.bytesStored,
    data: request.data.slice(),
    done: request.done,
  });
  incoming.bytesStored += request.data.byteLength;
  if (!request.done) {
    reply(incoming.bytesStored);
    return;
  }
  assert(incoming.bytesStored === incoming.totalBytes, 'the chunks fill the snapshot exactly');
  core.incoming = null;
  restoreFromLeader(core, snapshotRef(snapshot, incoming.totalBytes));
  reply(incoming.totalBytes);
}

/** Installs a snapshot received from the leader and hands it to the runtime to store and restore. */
function restoreFromLeader(core: CoreState, snapshot: SnapshotRef): void {
  core.log.restoreSnapshot(snapshot.lastIncludedIndex, snapshot.lastIncludedTerm);
  core.latestSnapshot = snapshot;
  core.pendingRestore = snapshot;
  core.configs.restore({ index: snapshot.lastIncludedIndex, config: snapshot.configuration }, core.log.lastIndex());
  core.onConfigurationChanged();
}

/**
 * True while the core will still hand out chunks of the snapshot at `index` of `term` received
 * from the leader, or the snapshot itself: it is being received, or chunks or the whole of it wait
 * for the next Ready.
 */
export function isReceivingSnapshot(core: CoreState, index: LogIndex, term: Term): boolean {
  const is = (at: LogIndex, of: Term): boolean => at === index && of === term;
  const { incoming, pendingRestore } = core;
  return (
    (incoming !== null && is(incoming.index, incoming.term)) ||
    (pendingRestore !== null && is(pendingRestore.lastIncludedIndex, pendingRestore.lastIncludedTerm)) ||
    core.receivedChunks.some((c) => is(c.snapshot.lastIncludedIndex, c.snapshot.lastIncludedTerm))
  );
}
