/**
 * What goes into the core and what comes out of it. Input arrives through `step(input)`;
 * output leaves as a `Ready` value that the runtime handles in a fixed order (after
 * etcd-io/raft's Ready/Advance; agent/runtime/node.ts states it in full): a leader's requests
 * under an unchanged term and vote may leave first, while the entries are written (Raft thesis
 * §10.2.1); the chunks of a snapshot being received are written; then one atomic, synced batch is
 * persisted (with the received snapshot, when one is whole); then every other message leaves, so no
 * vote, no answer and nothing under a new term leaves before the state it rests on is durable;
 * then the snapshot is restored and the committed entries applied; then `advance(ready)`.
 */
import type {
  ClusterConfiguration,
  HardState,
  LogEntry,
  LogIndex,
  NodeId,
  SnapshotHeader,
  SnapshotMeta,
  Term,
} from '../../contracts/log.js';
import type {
  AppendEntriesRequest,
  InstallSnapshotRequest,
  PreVoteRequest,
  RequestVoteRequest,
  ResponseFor,
  ResponseMessage,
  TimeoutNowRequest,
} from '../../contracts/messages.js';

/** The requests the core handles: every RPC but ClientForward, which the runtime owns. */
export type CoreRequest =
  RequestVoteRequest | PreVoteRequest | AppendEntriesRequest | InstallSnapshotRequest | TimeoutNowRequest;

/**
 * A snapshot this node persisted: its metadata and the size of its image, not the image (the
 * header storage gives, contracts/log.ts). Once a snapshot is on disk nothing in memory keeps its
 * bytes (issue 17): the runtime reads them back in chunks when it sends InstallSnapshot
 * (PersistenceEngine.readSnapshotChunk) and in place when it restores (storedImage).
 */
export type SnapshotRef = SnapshotHeader;

/** The SnapshotRef of `meta` with an image of `dataBytes`: a new object that holds no image. */
export function snapshotRef(meta: SnapshotMeta, dataBytes: number): SnapshotRef {
  return {
    lastIncludedIndex: meta.lastIncludedIndex,
    lastIncludedTerm: meta.lastIncludedTerm,
    configuration: meta.configuration,
    dataBytes,
  };
}

/**
 * An InstallSnapshot chunk as the core sends it: where its bytes lie in the persisted image
 * (`dataBytes` at `offset` of snapshot `lastIncludedIndex`), not the bytes. The runtime reads
 * them from storage and sends the InstallSnapshotRequest; a response or failure comes back with
 * this request.
 */
export interface SnapshotChunkRequest extends Omit<InstallSnapshotRequest, 'data'> {
  /** The chunk's size, bytes (0 for a witness, which is sent no image). */
  readonly dataBytes: number;
}

/** The requests the core sends: CoreRequests, with InstallSnapshot as a {@link SnapshotChunkRequest}. */
export type CoreOutboundRequest =
  RequestVoteRequest | PreVoteRequest | AppendEntriesRequest | SnapshotChunkRequest | TimeoutNowRequest;

/** A request that arrived from a peer; the core answers it exactly once, through `replyTo`. */
export interface InboundRequest {
  readonly kind: 'request';
  /** The peer the transport says sent it (authenticated where the transport authenticates). */
  readonly from: NodeId;
  /** The runtime's token for the pending reply. */
  readonly replyTo: number;
  readonly request: CoreRequest;
}

/** The responses to CoreRequests. */
export type CoreResponse = ResponseFor<CoreRequest>;

/**
 * The response to a request this core sent, with the request it answers. The types of the two
 * are not tied here; the core checks that the response answers the request.
 */
export interface InboundResponse {
  readonly kind: 'response';
  readonly from: NodeId;
  /** The sequence number the core gave the request. */
  readonly seq: number;
  readonly request: CoreOutboundRequest;
  readonly response: CoreResponse;
}

/** A request this core sent failed: the peer did not answer in time or could not be reached. */
export interface Unreachable {
  readonly kind: 'unreachable';
  readonly to: NodeId;
  readonly seq: number;
  readonly request: CoreOutboundRequest;
}

/** Every input of `step`. */
export type CoreInput = InboundRequest | InboundResponse | Unreachable;

/** The outcome of `step`: a rejected input is a protocol violation the runtime logs. */
export type StepResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** A request to send to a peer. */
export interface OutboundRequest {
  readonly kind: 'request';
  readonly to: NodeId;
  /** Increases with every request the core makes; comes back with the response. */
  readonly seq: number;
  readonly request: CoreOutboundRequest;
}

/** The answer to an inbound request. */
export interface OutboundResponse {
  readonly kind: 'response';
  readonly replyTo: number;
  readonly response: Exclude<ResponseMessage, { type: 'ClientForwardResponse' }>;
}

export type Outbound = OutboundRequest | OutboundResponse;

/**
 * A chunk of a snapshot the leader is sending this node, accepted in order: the runtime writes its
 * bytes at `offset` of the image of `snapshot` (a SnapshotWriter begun at offset 0 and committed
 * when the Ready's `snapshot` names it), before the answer that acknowledges it leaves.
 */
export interface ReceivedChunk {
  readonly snapshot: SnapshotMeta;
  /** The image's size, bytes. */
  readonly totalBytes: number;
  readonly offset: number;
  /** A copy the runtime owns (the transport may reuse the buffer the chunk arrived in). */
  readonly data: Uint8Array;
  /** The last chunk: the Ready's `snapshot` is this snapshot. */
  readonly done: boolean;
}

/** A read registered with `readIndex`: servable once the state machine has applied `index`. */
export interface ReadState {
  readonly token: number;
  /** The read index, or null when the read was aborted (leadership lost or moved). */
  readonly index: LogIndex | null;
}

/** The role of the core: a pre-candidate asks for pre-votes before it campaigns (thesis §9.6). */
export type Role = 'follower' | 'precandidate' | 'candidate' | 'leader';

/** Volatile state that is not persisted, reported when it changes. */
export interface SoftState {
  readonly role: Role;
  readonly term: Term;
  readonly leaderId: NodeId | null;
}

/** How an InstallSnapshot transfer the leader started ended. */
export type SnapshotSendOutcome = 'installed' | 'superseded' | 'abandoned';

/** Something worth a log line: a role change with its reason, a configuration change, a warning. */
export type CoreEvent =
  | { readonly kind: 'role'; readonly from: Role; readonly to: Role; readonly term: Term; readonly reason: string }
  | { readonly kind: 'leader'; readonly term: Term; readonly leaderId: NodeId | null }
  | { readonly kind: 'config'; readonly index: LogIndex; readonly configuration: ClusterConfiguration }
  | { readonly kind: 'transfer'; readonly to: NodeId; readonly outcome: 'started' | 'aborted' | 'timeout-now-sent' }
  | { readonly kind: 'snapshot-sent'; readonly to: NodeId; readonly index: LogIndex; readonly bytes: number }
  | {
      readonly kind: 'snapshot-done';
      readonly to: NodeId;
      readonly index: LogIndex;
      /**
       * installed: the follower holds the whole snapshot; superseded: a newer snapshot replaced it
       * (and is being sent); abandoned: this node stopped leading, or the follower left the configuration.
       */
      readonly outcome: SnapshotSendOutcome;
    }
  | { readonly kind: 'warning'; readonly message: string };

/** Everything the runtime must do for one round. */
export interface Ready {
  /** Term and vote to persist, when they changed. */
  readonly hardState: HardState | null;
  /** Chunks of a snapshot being received, in order, to write before the write of this Ready. */
  readonly snapshotChunks: readonly ReceivedChunk[];
  /**
   * A snapshot received whole from the leader, whose last chunk is in `snapshotChunks`: commit its
   * image with this Ready's batch, then restore the state machine from the stored image.
   */
  readonly snapshot: SnapshotRef | null;
  /** Delete stored entries from this index on before appending `entries`. */
  readonly truncateFrom: LogIndex | null;
  /** Entries to persist. */
  readonly entries: readonly LogEntry[];
  /** Stored entries before this index may be deleted (compaction). */
  readonly compactBefore: LogIndex | null;
  /** Committed entries to apply, in order, after persisting. */
  readonly committed: readonly LogEntry[];
  /** Messages to send, only after persisting. */
  readonly messages: readonly Outbound[];
  readonly readStates: readonly ReadState[];
  /** The new soft state when it changed. */
  readonly softState: SoftState | null;
  readonly events: readonly CoreEvent[];
}

/** The outcome of a proposal. */
export type ProposeResult =
  | { readonly ok: true; readonly index: LogIndex; readonly term: Term }
  | { readonly ok: false; readonly reason: 'not-leader'; readonly leaderHint: NodeId | null }
  | {
      readonly ok: false;
      readonly reason: 'transferring' | 'uncommitted-limit' | 'change-in-progress' | 'invalid-change';
      readonly message: string;
    };

/** The outcome of a read or transfer request. */
export type RequestResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'not-leader' | 'busy' | 'invalid'; readonly message: string };
