/**
 * The layout of wire format version 1, shared by the three codecs: the version number, the
 * numeric codes of message types and enumerations (used by CBOR and Protocol Buffers), and the
 * order of every message's fields (the positions in a CBOR array and the field numbers in
 * coraft.proto). Changing any of this changes the wire format and needs a new version.
 */
import type { EntryType } from '../contracts/log.js';
import type { MessageOfType, RpcMessageType, ForwardKind } from '../contracts/messages.js';

/**
 * The wire format version written by every encoder and the only one its decoders accept. A
 * decoder that meets another version throws SerializationError CODEC_VERSION, so a later
 * release can change the format and tell an older peer apart instead of misreading it.
 */
export const WIRE_VERSION = 1;

/** The kinds of a forwarded client request (ClientForwardRequest.kind), defined by the core. */
export type { ForwardKind };

/** Message type codes: one pair per RPC, the request odd and its response even. 0 is invalid. */
export const MESSAGE_TYPE_CODE: { readonly [T in RpcMessageType]: number } = Object.freeze({
  RequestVoteRequest: 1,
  RequestVoteResponse: 2,
  PreVoteRequest: 3,
  PreVoteResponse: 4,
  AppendEntriesRequest: 5,
  AppendEntriesResponse: 6,
  InstallSnapshotRequest: 7,
  InstallSnapshotResponse: 8,
  TimeoutNowRequest: 9,
  TimeoutNowResponse: 10,
  ClientForwardRequest: 11,
  ClientForwardResponse: 12,
});

/** Entry type codes (LogEntry.type). 0 is invalid, as proto3 enums need an unset value. */
export const ENTRY_TYPE_CODE: { readonly [T in EntryType]: number } = Object.freeze({ command: 1, noop: 2, config: 3 });

/** Forward kind codes (ClientForwardRequest.kind). 0 is invalid. */
export const FORWARD_KIND_CODE: { readonly [K in ForwardKind]: number } = Object.freeze({
  write: 1,
  read: 2,
  admin: 3,
});

/** The fields of a message other than its `type` tag. */
export type BodyField<T extends RpcMessageType> = Exclude<keyof MessageOfType<T>, 'type'>;

/**
 * The fields of every message in wire order. In CBOR a message is the array
 * `[WIRE_VERSION, MESSAGE_TYPE_CODE[type], ...fields in this order]`; in coraft.proto the
 * field at position i has field number i + 1.
 */
export const FIELD_ORDER: { readonly [T in RpcMessageType]: readonly BodyField<T>[] } = Object.freeze({
  RequestVoteRequest: ['term', 'candidateId', 'lastLogIndex', 'lastLogTerm', 'transfer'],
  RequestVoteResponse: ['term', 'voteGranted'],
  PreVoteRequest: ['term', 'candidateId', 'lastLogIndex', 'lastLogTerm'],
  PreVoteResponse: ['term', 'voteGranted'],
  AppendEntriesRequest: ['term', 'leaderId', 'prevLogIndex', 'prevLogTerm', 'entries', 'leaderCommit'],
  AppendEntriesResponse: ['term', 'success', 'conflictIndex', 'conflictTerm', 'lastLogIndex'],
  InstallSnapshotRequest: [
    'term',
    'leaderId',
    'lastIncludedIndex',
    'lastIncludedTerm',
    'offset',
    'data',
    'done',
    'totalBytes',
    'configuration',
  ],
  InstallSnapshotResponse: ['term', 'bytesStored'],
  TimeoutNowRequest: ['term', 'leaderId'],
  TimeoutNowResponse: ['term'],
  ClientForwardRequest: ['sourceId', 'kind', 'payload', 'timeoutMs'],
  ClientForwardResponse: ['code', 'message', 'leaderHint', 'result'],
});

/** LogEntry fields in wire order: a CBOR entry is `[term, index, typeCode, command]`. */
export const ENTRY_FIELD_ORDER = Object.freeze(['term', 'index', 'type', 'command'] as const);
/**
 * ClusterConfiguration fields in wire order (`oldVoters` is null or an array). `witnesses` is
 * the one optional trailing field: a CBOR configuration without witnesses is the 4-item array it
 * always was, one with witnesses adds a fifth item (a non-empty list).
 */
export const CONFIGURATION_FIELD_ORDER = Object.freeze([
  'voters',
  'learners',
  'oldVoters',
  'members',
  'witnesses',
] as const);
/** How many fields at the end of CONFIGURATION_FIELD_ORDER a configuration may leave out. */
export const CONFIGURATION_OPTIONAL_TRAILING = 1;
/** ClusterMember fields in wire order: a CBOR member is `[id, address]`. */
export const MEMBER_FIELD_ORDER = Object.freeze(['id', 'address'] as const);

/** Every message type, in code order. */
export const MESSAGE_TYPES_BY_CODE: readonly RpcMessageType[] = Object.freeze([
  'RequestVoteRequest',
  'RequestVoteResponse',
  'PreVoteRequest',
  'PreVoteResponse',
  'AppendEntriesRequest',
  'AppendEntriesResponse',
  'InstallSnapshotRequest',
  'InstallSnapshotResponse',
  'TimeoutNowRequest',
  'TimeoutNowResponse',
  'ClientForwardRequest',
  'ClientForwardResponse',
] satisfies RpcMessageType[]);

/** Every entry type, in code order. */
export const ENTRY_TYPES: readonly EntryType[] = Object.freeze(['command', 'noop', 'config'] satisfies EntryType[]);
/** Every forward kind, in code order. */
export const FORWARD_KINDS: readonly ForwardKind[] = Object.freeze(['write', 'read', 'admin'] satisfies ForwardKind[]);
