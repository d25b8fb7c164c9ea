/**
 * The message builders: for every message type, the one definition of its fields and their
 * kinds, shared by the three codecs through FieldReader. Each builder returns a fresh plain
 * object with exactly the fields of its interface in contracts/messages.ts (the return type
 * annotations make the compiler check that), so decoded messages compare equal to the
 * originals with `deepStrictEqual`.
 */
import type { ClusterConfiguration, ClusterMember } from '../contracts/log.js';
import type { MessageOfType, RpcMessage, RpcMessageType } from '../contracts/messages.js';
import { ADDRESS_RULE, ERROR_CODE_RULE, ERROR_MESSAGE_RULE } from './checks.js';
import type { FieldReader } from './field-reader.js';

/** Reads one member of a configuration. */
export function readMember(r: FieldReader): ClusterMember {
  return { id: r.nodeId('id'), address: r.text('address', ADDRESS_RULE) };
}

/** Reads a cluster configuration; `witnesses` is present only when it names someone. */
export function readConfiguration(r: FieldReader): ClusterConfiguration {
  const config: ClusterConfiguration = {
    voters: r.nodeIds('voters'),
    learners: r.nodeIds('learners'),
    oldVoters: r.nodeIdsOrNull('oldVoters'),
    members: r.records('members', readMember),
  };
  const witnesses = r.nodeIdsOrAbsent('witnesses');
  return witnesses === undefined ? config : { ...config, witnesses };
}

type Builders = { readonly [T in RpcMessageType]: (r: FieldReader) => MessageOfType<T> };

const BUILDERS: Builders = {
  RequestVoteRequest: (r) => ({
    type: 'RequestVoteRequest',
    term: r.uint('term'),
    candidateId: r.nodeId('candidateId'),
    lastLogIndex: r.uint('lastLogIndex'),
    lastLogTerm: r.uint('lastLogTerm'),
    transfer: r.bool('transfer'),
  }),
  RequestVoteResponse: (r) => ({
    type: 'RequestVoteResponse',
    term: r.uint('term'),
    voteGranted: r.bool('voteGranted'),
  }),
  PreVoteRequest: (r) => ({
    type: 'PreVoteRequest',
    term: r.uint('term'),
    candidateId: r.nodeId('candidateId'),
    lastLogIndex: r.uint('lastLogIndex'),
    lastLogTerm: r.uint('lastLogTerm'),
  }),
  PreVoteResponse: (r) => ({ type: 'PreVoteResponse', term: r.uint('term'), voteGranted: r.bool('voteGranted') }),
  AppendEntriesRequest: (r) => ({
    type: 'AppendEntriesRequest',
    term: r.uint('term'),
    leaderId: r.nodeId('leaderId'),
    prevLogIndex: r.uint('prevLogIndex'),
    prevLogTerm: r.uint('prevLogTerm'),
    entries: r.entries('entries'),
    leaderCommit: r.uint('leaderCommit'),
  }),
  AppendEntriesResponse: (r) => ({
    type: 'AppendEntriesResponse',
    term: r.uint('term'),
    success: r.bool('success'),
    conflictIndex: r.uintOrNull('conflictIndex'),
    conflictTerm: r.uintOrNull('conflictTerm'),
    lastLogIndex: r.uint('lastLogIndex'),
  }),
  InstallSnapshotRequest: (r) => ({
    type: 'InstallSnapshotRequest',
    term: r.uint('term'),
    leaderId: r.nodeId('leaderId'),
    lastIncludedIndex: r.uint('lastIncludedIndex'),
    lastIncludedTerm: r.uint('lastIncludedTerm'),
    offset: r.uint('offset'),
    data: r.bytes('data', 'chunkBytesMax'),
    done: r.bool('done'),
    totalBytes: r.uint('totalBytes'),
    configuration: r.record('configuration', readConfiguration),
  }),
  InstallSnapshotResponse: (r) => ({
    type: 'InstallSnapshotResponse',
    term: r.uint('term'),
    bytesStored: r.uint('bytesStored'),
  }),
  TimeoutNowRequest: (r) => ({ type: 'TimeoutNowRequest', term: r.uint('term'), leaderId: r.nodeId('leaderId') }),
  TimeoutNowResponse: (r) => ({ type: 'TimeoutNowResponse', term: r.uint('term') }),
  ClientForwardRequest: (r) => ({
    type: 'ClientForwardRequest',
    sourceId: r.nodeId('sourceId'),
    kind: r.forwardKind('kind'),
    // A forwarded write becomes a log entry, so its payload obeys the entry limit.
    payload: r.bytes('payload', 'entryBytesMax'),
    timeoutMs: r.uint('timeoutMs'),
  }),
  ClientForwardResponse: (r) => ({
    type: 'ClientForwardResponse',
    code: r.text('code', ERROR_CODE_RULE),
    message: r.text('message', ERROR_MESSAGE_RULE),
    leaderHint: r.nodeIdOrNull('leaderHint'),
    // A result may be a whole value read from the store: only the message size bounds it.
    result: r.bytes('result', 'messageBytesMax'),
  }),
};

/** Reads a message of type `type` through `reader`; throws SerializationError on any bad field. */
export function readMessage<T extends RpcMessageType>(type: T, reader: FieldReader): MessageOfType<T> {
  const build: (r: FieldReader) => MessageOfType<T> = BUILDERS[type];
  return build(reader);
}

/** True when `message` has type `type` (the type guard behind decodeAs). */
export function hasType<T extends RpcMessageType>(message: RpcMessage, type: T): message is MessageOfType<T> {
  return message.type === type;
}
