// RPC messages and a handler shared by the transport tests.
import type { AppendEntriesRequest, InstallSnapshotRequest, RequestMessage } from '../../contracts/messages.js';
import type { InboundContext, RpcHandler } from '../../contracts/network.js';

/** An AppendEntries after `prevLogIndex` with one entry of `entryBytes` bytes (none when 0). */
export function append(prevLogIndex: number, entryBytes = 0): AppendEntriesRequest {
  const entries =
    entryBytes > 0
      ? [
          {
            term: 1,
            index: prevLogIndex + 1,
            type: 'command' as const,
            command: new Uint8Array(entryBytes).fill(prevLogIndex & 0xff),
          },
        ]
      : [];
  return {
    type: 'AppendEntriesRequest',
    term: 1,
    leaderId: 'a',
    prevLogIndex,
    prevLogTerm: 1,
    entries,
    leaderCommit: 0,
  };
}

/** One chunk of a snapshot of `totalBytes` bytes. */
export function snapshotChunk(offset: number, data: Uint8Array, totalBytes: number): InstallSnapshotRequest {
  return {
    type: 'InstallSnapshotRequest',
    term: 1,
    leaderId: 'a',
    lastIncludedIndex: 9,
    lastIncludedTerm: 1,
    offset,
    data,
    done: offset + data.length === totalBytes,
    totalBytes,
    configuration: { voters: ['a', 'b'], learners: [], oldVoters: null, members: [] },
  };
}

/**
 * Answers AppendEntries with lastLogIndex = prevLogIndex + entry count, InstallSnapshot with
 * bytesStored = offset + chunk size, ClientForward with a result of `timeoutMs` bytes of 7
 * (a way to ask for a large response), and anything else with TimeoutNowResponse. Records
 * each context in `seen` and waits `delayMs(request)` ms first.
 */
export function echoHandler(
  delayMs: (request: RequestMessage) => number = () => 0,
  seen: InboundContext[] = [],
): RpcHandler {
  return async (request, context) => {
    seen.push(context);
    const wait = delayMs(request);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (request.type === 'AppendEntriesRequest') {
      return {
        type: 'AppendEntriesResponse',
        term: 1,
        success: true,
        conflictIndex: null,
        conflictTerm: null,
        lastLogIndex: request.prevLogIndex + request.entries.length,
      };
    }
    if (request.type === 'InstallSnapshotRequest')
      return { type: 'InstallSnapshotResponse', term: 1, bytesStored: request.offset + request.data.length };
    if (request.type === 'ClientForwardRequest') {
      return {
        type: 'ClientForwardResponse',
        code: '',
        message: '',
        leaderHint: null,
        result: new Uint8Array(request.timeoutMs).fill(7),
      };
    }
    return { type: 'TimeoutNowResponse', term: 1 };
  };
}
