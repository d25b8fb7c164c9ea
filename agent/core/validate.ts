/**
 * Sanity checks of every input before the core acts on it: the part of "Byzantine failure
 * detection" that Raft can do. A message with impossible numbers, entries whose indexes are
 * not contiguous or whose terms go backwards, or a response that does not fit its request is
 * rejected with a reason (the runtime logs a warning) and changes nothing.
 */
import { configurationProblems, decodeConfiguration, isValidNodeId } from './configuration.js';
import type { CoreInput, CoreOutboundRequest, CoreRequest, InboundResponse } from './ready.js';
import type { LogEntry } from '../../contracts/log.js';
import { RPC_OF_REQUEST } from '../../contracts/messages.js';

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Returns why `input` is malformed, or null when it is well formed. */
export function inputProblem(input: CoreInput): string | null {
  switch (input.kind) {
    case 'request':
      if (!isValidNodeId(input.from)) return 'request from an invalid node id';
      return requestProblem(input.request);
    case 'response': {
      const problem = requestProblem(input.request);
      return problem ?? responseProblem(input);
    }
    case 'unreachable':
      return requestProblem(input.request);
  }
}

/** The bytes of snapshot image a request carries (a request this core sent names their size). */
function chunkBytes(request: Extract<CoreRequest | CoreOutboundRequest, { type: 'InstallSnapshotRequest' }>): number {
  return 'data' in request ? request.data.byteLength : request.dataBytes;
}

function requestProblem(request: CoreRequest | CoreOutboundRequest): string | null {
  if (!isCount(request.term)) return `${request.type}: term is not a non-negative integer`;
  switch (request.type) {
    case 'RequestVoteRequest':
    case 'PreVoteRequest':
      if (!isValidNodeId(request.candidateId)) return `${request.type}: invalid candidateId`;
      if (!isCount(request.lastLogIndex) || !isCount(request.lastLogTerm))
        return `${request.type}: invalid last log position`;
      if (request.lastLogTerm > request.term)
        return `${request.type}: lastLogTerm ${request.lastLogTerm} above term ${request.term}`;
      return null;
    case 'AppendEntriesRequest':
      return appendProblem(
        request.term,
        request.prevLogIndex,
        request.prevLogTerm,
        request.leaderCommit,
        request.entries,
        request.leaderId,
      );
    case 'InstallSnapshotRequest': {
      if (!isValidNodeId(request.leaderId)) return 'InstallSnapshot: invalid leaderId';
      if (
        !isCount(request.lastIncludedIndex) ||
        !isCount(request.lastIncludedTerm) ||
        !isCount(request.offset) ||
        !isCount(request.totalBytes)
      ) {
        return 'InstallSnapshot: invalid numbers';
      }
      if (request.lastIncludedIndex === 0) return 'InstallSnapshot: snapshot of an empty log';
      if (request.lastIncludedTerm > request.term) return 'InstallSnapshot: lastIncludedTerm above term';
      const end = request.offset + chunkBytes(request);
      if (end > request.totalBytes) return 'InstallSnapshot: chunk beyond totalBytes';
      if (request.done !== (end === request.totalBytes))
        return 'InstallSnapshot: done must be set exactly on the chunk that ends the snapshot';
      const problems = configurationProblems(request.configuration);
      return problems.length === 0 ? null : `InstallSnapshot: bad configuration: ${problems.join('; ')}`;
    }
    case 'TimeoutNowRequest':
      return isValidNodeId(request.leaderId) ? null : 'TimeoutNow: invalid leaderId';
  }
}

function appendProblem(
  term: number,
  prevLogIndex: number,
  prevLogTerm: number,
  leaderCommit: number,
  entries: readonly LogEntry[],
  leaderId: string,
): string | null {
  if (!isValidNodeId(leaderId)) return 'AppendEntries: invalid leaderId';
  if (!isCount(prevLogIndex) || !isCount(prevLogTerm) || !isCount(leaderCommit))
    return 'AppendEntries: invalid numbers';
  if (prevLogTerm > term) return `AppendEntries: prevLogTerm ${prevLogTerm} above term ${term}`;
  if (prevLogIndex === 0 && prevLogTerm !== 0) return 'AppendEntries: index 0 has term 0';
  let expectedIndex = prevLogIndex + 1;
  let lastTerm = prevLogTerm;
  for (const entry of entries) {
    if (entry.index !== expectedIndex) return `AppendEntries: entry index ${entry.index}, expected ${expectedIndex}`;
    if (!isCount(entry.term) || entry.term < lastTerm) return `AppendEntries: entry ${entry.index} term goes backwards`;
    if (entry.term > term)
      return `AppendEntries: entry ${entry.index} term ${entry.term} above the leader's term ${term}`;
    if (entry.term === 0) return `AppendEntries: entry ${entry.index} has term 0`;
    if (entry.type !== 'command' && entry.type !== 'noop' && entry.type !== 'config')
      return `AppendEntries: entry ${entry.index} has an unknown type`;
    if (!(entry.command instanceof Uint8Array)) return `AppendEntries: entry ${entry.index} command is not bytes`;
    if (entry.type === 'config' && decodeConfiguration(entry.command) === null)
      return `AppendEntries: entry ${entry.index} holds a malformed configuration`;
    expectedIndex += 1;
    lastTerm = entry.term;
  }
  return null;
}

function responseProblem(input: InboundResponse): string | null {
  const { request, response } = input;
  if (RPC_OF_REQUEST[request.type].responseType !== response.type)
    return `${response.type} does not answer ${request.type}`;
  if (!isCount(response.term)) return `${response.type}: term is not a non-negative integer`;
  switch (response.type) {
    case 'RequestVoteResponse':
    case 'PreVoteResponse':
    case 'TimeoutNowResponse':
      return null;
    case 'AppendEntriesResponse': {
      if (!isCount(response.lastLogIndex)) return 'AppendEntriesResponse: invalid lastLogIndex';
      if (request.type !== 'AppendEntriesRequest') return 'AppendEntriesResponse answers another request type';
      if (response.success) {
        if (response.term !== request.term) return 'AppendEntriesResponse: success in another term';
        if (response.lastLogIndex < request.prevLogIndex + request.entries.length)
          return 'AppendEntriesResponse: success but log shorter than the entries sent';
        return null;
      }
      if (response.conflictIndex !== null && !isCount(response.conflictIndex))
        return 'AppendEntriesResponse: invalid conflictIndex';
      if (response.conflictTerm !== null && !isCount(response.conflictTerm))
        return 'AppendEntriesResponse: invalid conflictTerm';
      return null;
    }
    case 'InstallSnapshotResponse':
      if (request.type !== 'InstallSnapshotRequest') return 'InstallSnapshotResponse answers another request type';
      if (!isCount(response.bytesStored) || response.bytesStored > request.totalBytes)
        return 'InstallSnapshotResponse: invalid bytesStored';
      return null;
  }
}
