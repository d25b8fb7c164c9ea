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
import type { Snapshot } from '../../contracts/log.js';
import type { AppendEntriesRequest, InstallSnapshotRequest } from '../../contracts/messages.js';
import { entriesForWitness } from './witness.js';
import { snapshotRef } from './ready.js';

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
    // A new transfer drops the one in progress first, so that two images are never held.
    core.incoming = null;
    const data = allocateImage(core, request.totalBytes);
    if (data === null) {
      reply(0);
      return;
    }
    incoming = {
      index: request.lastIncludedIndex,
      term: request.lastIncludedTerm,
      totalBytes: request.totalBytes,
      configuration: request.configuration,
      data,
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
  // Copied: the transport may reuse the buffer the chunk arrived in.
  incoming.data.set(request.data, incoming.bytesStored);
  incoming.bytesStored += request.data.byteLength;
  if (!request.done) {
    reply(incoming.bytesStored);
    return;
  }
  assert(incoming.bytesStored === incoming.totalBytes, 'the chunks fill the snapshot exactly');
  core.incoming = null;
  restoreFromLeader(core, {
    lastIncludedIndex: incoming.index,
    lastIncludedTerm: incoming.term,
    configuration: incoming.configuration,
    data: incoming.data,
  });
  reply(incoming.totalBytes);
}

/**
 * The buffer an incoming image is copied into, or null (with a warning) when the system cannot
 * give that much memory (a 32-bit gateway), so the transfer is refused rather than the node lost.
 */
function allocateImage(core: CoreState, totalBytes: number): Uint8Array | null {
  try {
    return new Uint8Array(totalBytes);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    core.emit({ kind: 'warning', message: `refused a snapshot of ${totalBytes} bytes: ${error.message}` });
    return null;
  }
}

/** Installs a snapshot received from the leader and hands it to the runtime to restore. */
function restoreFromLeader(core: CoreState, snapshot: Snapshot): void {
  core.log.restoreSnapshot(snapshot.lastIncludedIndex, snapshot.lastIncludedTerm);
  // The image goes out in the next Ready only; once persisted it is read back from disk.
  core.latestSnapshot = snapshotRef(snapshot, snapshot.data.byteLength);
  core.pendingRestore = snapshot;
  core.configs.restore({ index: snapshot.lastIncludedIndex, config: snapshot.configuration }, core.log.lastIndex());
  core.onConfigurationChanged();
}
