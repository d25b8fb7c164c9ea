// How the interaction tests print the core's values: one line per entry, message and event,
// short and stable, so that a script's expected output reads like a trace (after etcd-io/raft's
// rafttest formatting, in our own words and fields).
import type { CoreEvent, CoreOutboundRequest, CoreRequest, CoreResponse, Ready } from '../../../agent/core/ready.js';
import type { ClusterConfiguration, LogEntry, NodeId, Snapshot } from '../../../contracts/log.js';
import { decodeConfiguration } from '../../../agent/core/configuration.js';

const decoder = new TextDecoder();

/**
 * `voters=(1,2,3)`, then ` learners=(4)` and ` old=(1,2)` (the outgoing half of a joint configuration) when present.
 */
export function describeConfig(config: ClusterConfiguration): string {
  let text = `voters=(${config.voters.join(',')})`;
  if (config.learners.length > 0) text += ` learners=(${config.learners.join(',')})`;
  if (config.oldVoters !== null) text += ` old=(${config.oldVoters.join(',')})`;
  return text;
}

/** `term/index type`, with the command as a quoted string or the decoded configuration. */
export function describeEntry(entry: LogEntry): string {
  const head = `${entry.term}/${entry.index}`;
  switch (entry.type) {
    case 'noop':
      return `${head} noop`;
    case 'command':
      return `${head} ${JSON.stringify(decoder.decode(entry.command))}`;
    case 'config': {
      const config = decodeConfiguration(entry.command);
      return `${head} config ${config === null ? '(malformed)' : describeConfig(config)}`;
    }
  }
}

/** One request, without its endpoints. */
export function describeRequest(request: CoreRequest | CoreOutboundRequest): string {
  switch (request.type) {
    case 'PreVoteRequest':
      return `PreVote term=${request.term} last=${request.lastLogTerm}/${request.lastLogIndex}`;
    case 'RequestVoteRequest':
      return (
        `RequestVote term=${request.term} ` +
        `last=${request.lastLogTerm}/${request.lastLogIndex}${request.transfer ? ' transfer' : ''}`
      );
    case 'AppendEntriesRequest': {
      const entries = request.entries.length === 0 ? '' : ` entries=[${request.entries.map(describeEntry).join(', ')}]`;
      return (
        `AppendEntries term=${request.term} prev=${request.prevLogTerm}/${request.prevLogIndex} ` +
        `commit=${request.leaderCommit}${entries}`
      );
    }
    case 'InstallSnapshotRequest': {
      const end = request.offset + ('data' in request ? request.data.byteLength : request.dataBytes);
      const config = request.offset === 0 ? ` ${describeConfig(request.configuration)}` : '';
      return (
        `InstallSnapshot term=${request.term} snap=${request.lastIncludedTerm}/${request.lastIncludedIndex} ` +
        `bytes=${request.offset}-${end}/${request.totalBytes}${request.done ? ' done' : ''}${config}`
      );
    }
    case 'TimeoutNowRequest':
      return `TimeoutNow term=${request.term}`;
  }
}

/** One response, without its endpoints. */
export function describeResponse(response: CoreResponse): string {
  switch (response.type) {
    case 'PreVoteResponse':
    case 'RequestVoteResponse':
      return `${response.type} term=${response.term} ${response.voteGranted ? 'granted' : 'rejected'}`;
    case 'AppendEntriesResponse': {
      const hint = response.success ? '' : ` hint=${response.conflictTerm ?? '-'}/${response.conflictIndex ?? '-'}`;
      return (
        `AppendEntriesResponse term=${response.term} ${response.success ? 'ok' : 'rejected'} ` +
        `last=${response.lastLogIndex}${hint}`
      );
    }
    case 'InstallSnapshotResponse':
      return `InstallSnapshotResponse term=${response.term} stored=${response.bytesStored}`;
    case 'TimeoutNowResponse':
      return `TimeoutNowResponse term=${response.term}`;
  }
}

/** One event of a Ready, in words. */
export function describeEvent(event: CoreEvent): string {
  switch (event.kind) {
    case 'role':
      return `became ${event.to} at term ${event.term} (was ${event.from}): ${event.reason}`;
    case 'leader':
      return `learned leader ${event.leaderId ?? 'none'} of term ${event.term}`;
    case 'config':
      return `configuration ${describeConfig(event.configuration)} from index ${event.index}`;
    case 'transfer':
      return `transfer to ${event.to}: ${event.outcome}`;
    case 'snapshot-sent':
      return `sending snapshot at index ${event.index} (${event.bytes} bytes) to ${event.to}`;
    case 'snapshot-done':
      return `snapshot at index ${event.index} to ${event.to}: ${event.outcome}`;
    case 'warning':
      return `warning: ${event.message}`;
  }
}

/**
 * A Ready as lines, in the order the runtime handles it (events first, as they explain the
 * rest). `messages` are the Ready's messages already described with their endpoints (the
 * caller knows where responses go).
 */
/** `received`: the snapshot the Ready completes, assembled from its chunks (snapshot-chunks.ts). */
export function describeReady(ready: Ready, messages: readonly string[], received: Snapshot | null): string[] {
  const lines: string[] = [];
  const section = (title: string, items: readonly string[]): void => {
    if (items.length === 0) return;
    lines.push(`${title}:`);
    for (const item of items) lines.push(`  ${item}`);
  };
  section('events', ready.events.map(describeEvent));
  if (ready.softState !== null)
    lines.push(
      `soft-state: ${ready.softState.role} term=${ready.softState.term} leader=${ready.softState.leaderId ?? 'none'}`,
    );
  if (ready.hardState !== null)
    lines.push(`hard-state: term=${ready.hardState.currentTerm} vote=${ready.hardState.votedFor ?? 'none'}`);
  const snap = received;
  if (snap !== null)
    lines.push(
      `snapshot: ${snap.lastIncludedTerm}/${snap.lastIncludedIndex} ${describeConfig(snap.configuration)} ` +
        `data=${decoder.decode(snap.data)}`,
    );
  if (ready.truncateFrom !== null) lines.push(`truncate-from: ${ready.truncateFrom}`);
  section('entries', ready.entries.map(describeEntry));
  if (ready.compactBefore !== null) lines.push(`compact-before: ${ready.compactBefore}`);
  section('committed', ready.committed.map(describeEntry));
  section(
    'read-states',
    ready.readStates.map((r) => `token=${r.token} ${r.index === null ? 'aborted' : `index=${r.index}`}`),
  );
  section('messages', messages);
  return lines;
}

/** `from->to description`. */
export function describeMessage(from: NodeId, to: NodeId, description: string): string {
  return `${from}->${to} ${description}`;
}
