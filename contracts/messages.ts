/**
 * The peer RPC messages: requests and responses of six RPCs, the reference's RequestVote,
 * AppendEntries and InstallSnapshot, and coraft's PreVote (Raft thesis §9.6), TimeoutNow
 * (thesis §3.10) and ClientForward (a follower hands a client request to the leader). Every
 * message carries a `type` discriminant so that the RPCs form one tagged union.
 */
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, Term } from './log.js';

/** RequestVote request (Raft Figure 2). `transfer` marks an election started by TimeoutNow. */
export interface RequestVoteRequest {
  readonly type: 'RequestVoteRequest';
  readonly term: Term;
  readonly candidateId: NodeId;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /** True when the candidate campaigns on a leader's TimeoutNow; voters then skip the lease check. */
  readonly transfer: boolean;
}

/** RequestVote response (Raft Figure 2). */
export interface RequestVoteResponse {
  readonly type: 'RequestVoteResponse';
  readonly term: Term;
  readonly voteGranted: boolean;
}

/**
 * PreVote request (thesis §9.6): "would you vote for me in `term`?", asked without changing any
 * state, so that a node that was partitioned away cannot disrupt a healthy cluster.
 */
export interface PreVoteRequest {
  readonly type: 'PreVoteRequest';
  /** The term the candidate would campaign in: its current term + 1. */
  readonly term: Term;
  readonly candidateId: NodeId;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
}

/** PreVote response. `term` is the responder's current term. */
export interface PreVoteResponse {
  readonly type: 'PreVoteResponse';
  readonly term: Term;
  readonly voteGranted: boolean;
}

/** AppendEntries request (Raft Figure 2); an empty `entries` is a heartbeat. */
export interface AppendEntriesRequest {
  readonly type: 'AppendEntriesRequest';
  readonly term: Term;
  readonly leaderId: NodeId;
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly LogEntry[];
  readonly leaderCommit: LogIndex;
}

/**
 * AppendEntries response (Raft Figure 2), with the fast-backtracking hints of Raft §5.3: on a
 * log mismatch, `conflictTerm` is the term of the follower's entry at prevLogIndex (null when
 * the follower's log is shorter) and `conflictIndex` the first index the follower holds of that
 * term (or its last index + 1 when shorter). Both are null on success. `lastLogIndex` is the
 * follower's last log index after handling the request.
 */
export interface AppendEntriesResponse {
  readonly type: 'AppendEntriesResponse';
  readonly term: Term;
  readonly success: boolean;
  readonly conflictIndex: LogIndex | null;
  readonly conflictTerm: Term | null;
  readonly lastLogIndex: LogIndex;
}

/**
 * InstallSnapshot request (Raft Figure 13): one chunk of a snapshot, `data` placed at byte
 * `offset`, `done` on the last chunk. `configuration` is the snapshot's configuration and
 * `totalBytes` its full size, repeated in every chunk so that a receiver can check them.
 */
export interface InstallSnapshotRequest {
  readonly type: 'InstallSnapshotRequest';
  readonly term: Term;
  readonly leaderId: NodeId;
  readonly lastIncludedIndex: LogIndex;
  readonly lastIncludedTerm: Term;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
  readonly totalBytes: number;
  readonly configuration: ClusterConfiguration;
}

/**
 * InstallSnapshot response (Raft Figure 13). `bytesStored` is how many bytes of this snapshot
 * the receiver holds, in order, from offset 0: the offset it wants next. After the last chunk
 * it equals the snapshot's size, or 0 when the receiver discarded the transfer.
 */
export interface InstallSnapshotResponse {
  readonly type: 'InstallSnapshotResponse';
  readonly term: Term;
  readonly bytesStored: number;
}

/** TimeoutNow request (thesis §3.10): the leader tells an up-to-date follower to campaign now. */
export interface TimeoutNowRequest {
  readonly type: 'TimeoutNowRequest';
  readonly term: Term;
  readonly leaderId: NodeId;
}

/** TimeoutNow response. */
export interface TimeoutNowResponse {
  readonly type: 'TimeoutNowResponse';
  readonly term: Term;
}

/** What a forwarded client request asks of the leader. */
export type ForwardKind = 'write' | 'read' | 'admin';

/**
 * A client request forwarded from the node that received it to the leader. `kind` `write`
 * carries a state machine command to replicate; `read` a query to answer linearizably;
 * `admin` an encoded cluster administration command (membership, leadership transfer).
 */
export interface ClientForwardRequest {
  readonly type: 'ClientForwardRequest';
  /** The forwarding node. */
  readonly sourceId: NodeId;
  readonly kind: ForwardKind;
  readonly payload: Uint8Array;
  /** How long the leader may work on it, in milliseconds. */
  readonly timeoutMs: number;
}

/**
 * The leader's answer to a forwarded request. `code` is '' on success, else a `RaftErrorCode`
 * (for example RAFT_NOT_LEADER, with `leaderHint` naming the leader if known).
 */
export interface ClientForwardResponse {
  readonly type: 'ClientForwardResponse';
  readonly code: string;
  readonly message: string;
  readonly leaderHint: NodeId | null;
  readonly result: Uint8Array;
}

/** Every request message. */
export type RequestMessage =
  | RequestVoteRequest
  | PreVoteRequest
  | AppendEntriesRequest
  | InstallSnapshotRequest
  | TimeoutNowRequest
  | ClientForwardRequest;

/** Every response message. */
export type ResponseMessage =
  | RequestVoteResponse
  | PreVoteResponse
  | AppendEntriesResponse
  | InstallSnapshotResponse
  | TimeoutNowResponse
  | ClientForwardResponse;

/** Every message that crosses the peer network. */
export type RpcMessage = RequestMessage | ResponseMessage;

/** The `type` tag of every message. */
export type RpcMessageType = RpcMessage['type'];

/** The message with tag `T`. */
export type MessageOfType<T extends RpcMessageType> = Extract<RpcMessage, { type: T }>;

/** Which response answers which request. */
export interface ResponseTypeOf {
  readonly RequestVoteRequest: RequestVoteResponse;
  readonly PreVoteRequest: PreVoteResponse;
  readonly AppendEntriesRequest: AppendEntriesResponse;
  readonly InstallSnapshotRequest: InstallSnapshotResponse;
  readonly TimeoutNowRequest: TimeoutNowResponse;
  readonly ClientForwardRequest: ClientForwardResponse;
}

/** The response type that answers request `R`. */
export type ResponseFor<R extends RequestMessage> = ResponseTypeOf[R['type']];

/** The RPC names, one CoAP/HTTP resource each. */
export type RpcName = 'RequestVote' | 'PreVote' | 'AppendEntries' | 'InstallSnapshot' | 'TimeoutNow' | 'ClientForward';

/** The RPC of each request type, and its response type. */
export const RPC_OF_REQUEST: Readonly<
  Record<RequestMessage['type'], { readonly rpc: RpcName; readonly responseType: ResponseMessage['type'] }>
> = {
  RequestVoteRequest: { rpc: 'RequestVote', responseType: 'RequestVoteResponse' },
  PreVoteRequest: { rpc: 'PreVote', responseType: 'PreVoteResponse' },
  AppendEntriesRequest: { rpc: 'AppendEntries', responseType: 'AppendEntriesResponse' },
  InstallSnapshotRequest: { rpc: 'InstallSnapshot', responseType: 'InstallSnapshotResponse' },
  TimeoutNowRequest: { rpc: 'TimeoutNow', responseType: 'TimeoutNowResponse' },
  ClientForwardRequest: { rpc: 'ClientForward', responseType: 'ClientForwardResponse' },
};

/** Every message type tag, requests first. */
export const RPC_MESSAGE_TYPES: readonly RpcMessageType[] = [
  'RequestVoteRequest',
  'PreVoteRequest',
  'AppendEntriesRequest',
  'InstallSnapshotRequest',
  'TimeoutNowRequest',
  'ClientForwardRequest',
  'RequestVoteResponse',
  'PreVoteResponse',
  'AppendEntriesResponse',
  'InstallSnapshotResponse',
  'TimeoutNowResponse',
  'ClientForwardResponse',
];

/** True when `message` is a request. */
export function isRequest(message: RpcMessage): message is RequestMessage {
  return message.type.endsWith('Request');
}

/** The node a request claims to come from. */
export function claimedSender(request: RequestMessage): NodeId {
  switch (request.type) {
    case 'RequestVoteRequest':
    case 'PreVoteRequest':
      return request.candidateId;
    case 'AppendEntriesRequest':
    case 'InstallSnapshotRequest':
    case 'TimeoutNowRequest':
      return request.leaderId;
    case 'ClientForwardRequest':
      return request.sourceId;
  }
}
