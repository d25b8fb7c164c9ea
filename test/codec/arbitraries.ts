// fast-check arbitraries for every peer RPC message and its parts, for any test that needs
// valid messages (codecs, transports, storage, the simulator). Values cover the edges: empty
// lists and byte strings, zero and Number.MAX_SAFE_INTEGER, node ids of exactly 64 UTF-16 code
// units, astral-plane and combining characters, and byte fields exactly at their bound.
// Byte fields are plain Uint8Arrays, sometimes views at an offset into a larger buffer.
import fc from 'fast-check';
import type { ClusterConfiguration, ClusterMember, EntryType, LogEntry, NodeId } from '../../contracts/log.js';
import {
  type AppendEntriesRequest,
  type MessageOfType,
  type RpcMessage,
  type RpcMessageType,
  RPC_MESSAGE_TYPES,
} from '../../contracts/messages.js';
import type { CodecLimits } from '../../contracts/serializer.js';

/** How large generated values may get. Codec tests configure their serializers with the same numbers. */
export interface ArbitraryBounds {
  /** Most entries in an AppendEntries. */
  readonly entriesMax: number;
  /** Most bytes in an entry command or a forwarded payload. */
  readonly entryBytesMax: number;
  /** Most bytes in a snapshot chunk. */
  readonly chunkBytesMax: number;
  /** Most bytes in a ClientForwardResponse result. */
  readonly resultBytesMax: number;
  /** Most node ids in one list of a configuration. */
  readonly nodesMax: number;
}

/** Bounds small enough for thousands of runs per second, large enough to reach every case. */
export const DEFAULT_ARBITRARY_BOUNDS: ArbitraryBounds = {
  entriesMax: 12,
  entryBytesMax: 256,
  chunkBytesMax: 1024,
  resultBytesMax: 512,
  nodesMax: 7,
};

/**
 * Codec limits equal to `bounds`, so that a generated value may sit exactly at a limit and
 * still be valid.
 */
export function codecLimitsFor(bounds: ArbitraryBounds = DEFAULT_ARBITRARY_BOUNDS): CodecLimits {
  return {
    entriesPerMessageMax: bounds.entriesMax,
    entryBytesMax: bounds.entryBytesMax,
    chunkBytesMax: bounds.chunkBytesMax,
    messageBytesMax: 256 * 1024,
  };
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** fc.record with ordinary objects (fast-check's default is null-prototype objects, which messages never are). */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

/** Non-negative safe integers, biased to 0, 1, small values and the maximum. */
export const uintArbitrary: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, 2 ** 32 - 1, 2 ** 32, MAX_SAFE),
  fc.nat({ max: 1000 }),
  fc.maxSafeNat(),
);

/** Keeps at most `max` UTF-16 code units of `text` without splitting a surrogate pair. */
function clampUnits(text: string, max: number): string {
  let out = '';
  for (const char of text) {
    if (out.length + char.length > max) break;
    out += char;
  }
  return out;
}

/** Text of `min` to `max` UTF-16 code units from any plane, with control characters replaced unless allowed. */
export function textArbitrary(min: number, max: number, allowControls: boolean): fc.Arbitrary<string> {
  const sanitize = (text: string): string => {
    const clean = clampUnits(allowControls ? text : text.replace(/\p{Cc}/gu, '·'), max);
    return clean.length >= min ? clean : clean.padEnd(min, 'n');
  };
  return fc.oneof(
    fc.string({ unit: 'binary', minLength: min, maxLength: max }).map(sanitize),
    fc.string({ unit: 'grapheme', minLength: min, maxLength: max }).map(sanitize),
    fc.string({ unit: 'grapheme-ascii', minLength: min, maxLength: Math.min(max, 16) }).map(sanitize),
  );
}

/** Node ids: 1 to 64 code units, no control characters; includes the maximal and unicode-heavy ones. */
export const nodeIdArbitrary: fc.Arbitrary<NodeId> = fc.oneof(
  fc.constantFrom('a', 'node-1', 'x'.repeat(64), '😀'.repeat(32), 'é'.repeat(64), 'e\u0301'.repeat(32), '𝔫𝔬𝔡𝔢'),
  textArbitrary(1, 64, false),
);

/** Member addresses: empty (simulation), host:port forms, and arbitrary text up to 255 code units. */
export const addressArbitrary: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', '127.0.0.1:5684', '[::1]:5684', 'gateway-7.example:5684', 'a'.repeat(255)),
  textArbitrary(0, 255, false),
);

/** Byte strings of up to `max` bytes, biased to empty and exactly `max`, some as views at an offset. */
export function bytesArbitrary(max: number): fc.Arbitrary<Uint8Array> {
  const plain = fc.oneof(
    fc.constant(new Uint8Array(0)),
    fc.uint8Array({ minLength: max, maxLength: max }),
    fc.uint8Array({ maxLength: max }),
  );
  return fc.tuple(plain, fc.nat({ max: 7 })).map(([bytes, offset]) => {
    if (offset === 0) return bytes;
    const backing = new Uint8Array(bytes.byteLength + offset + 3).fill(0xee);
    backing.set(bytes, offset);
    return backing.subarray(offset, offset + bytes.byteLength);
  });
}

/** Every entry type. */
export const entryTypeArbitrary: fc.Arbitrary<EntryType> = fc.constantFrom('command', 'noop', 'config');

/** Log entries with commands of up to `entryBytesMax` bytes. */
export function logEntryArbitrary(bounds: ArbitraryBounds = DEFAULT_ARBITRARY_BOUNDS): fc.Arbitrary<LogEntry> {
  return record({
    term: uintArbitrary,
    index: uintArbitrary,
    type: entryTypeArbitrary,
    command: bytesArbitrary(bounds.entryBytesMax),
  });
}

/** Configuration members with edge-case ids and addresses. */
export const memberArbitrary: fc.Arbitrary<ClusterMember> = record({ id: nodeIdArbitrary, address: addressArbitrary });

/** Lists of up to `max` items, biased to empty and exactly `max`. */
export function listArbitrary<T>(item: fc.Arbitrary<T>, max: number): fc.Arbitrary<T[]> {
  return fc.oneof(
    fc.array(item, { maxLength: 0 }),
    fc.array(item, { maxLength: max }),
    fc.array(item, { minLength: max, maxLength: max }),
  );
}

/**
 * Configurations, simple and joint (oldVoters non-null), including empty and full ones, with or
 * without witnesses (absent, or a non-empty list: the one form each has on the wire).
 */
export function configurationArbitrary(
  bounds: ArbitraryBounds = DEFAULT_ARBITRARY_BOUNDS,
): fc.Arbitrary<ClusterConfiguration> {
  const ids = listArbitrary(nodeIdArbitrary, bounds.nodesMax);
  const base = record({
    voters: ids,
    learners: ids,
    oldVoters: fc.option(ids, { nil: null }),
    members: listArbitrary(memberArbitrary, bounds.nodesMax),
  });
  const witnesses = fc.option(fc.array(nodeIdArbitrary, { minLength: 1, maxLength: bounds.nodesMax }), { nil: null });
  return fc
    .tuple(base, witnesses)
    .map(([config, list]): ClusterConfiguration => (list === null ? config : { ...config, witnesses: list }));
}

type MessageArbitraries = { readonly [T in RpcMessageType]: fc.Arbitrary<MessageOfType<T>> };

/** One arbitrary per message type. */
export function messageArbitraries(bounds: ArbitraryBounds = DEFAULT_ARBITRARY_BOUNDS): MessageArbitraries {
  const u = uintArbitrary;
  const id = nodeIdArbitrary;
  const appendEntries: fc.Arbitrary<AppendEntriesRequest> = record({
    type: fc.constant('AppendEntriesRequest'),
    term: u,
    leaderId: id,
    prevLogIndex: u,
    prevLogTerm: u,
    entries: listArbitrary(logEntryArbitrary(bounds), bounds.entriesMax),
    leaderCommit: u,
  });
  return {
    RequestVoteRequest: record({
      type: fc.constant('RequestVoteRequest'),
      term: u,
      candidateId: id,
      lastLogIndex: u,
      lastLogTerm: u,
      transfer: fc.boolean(),
    }),
    RequestVoteResponse: record({ type: fc.constant('RequestVoteResponse'), term: u, voteGranted: fc.boolean() }),
    PreVoteRequest: record({
      type: fc.constant('PreVoteRequest'),
      term: u,
      candidateId: id,
      lastLogIndex: u,
      lastLogTerm: u,
    }),
    PreVoteResponse: record({ type: fc.constant('PreVoteResponse'), term: u, voteGranted: fc.boolean() }),
    AppendEntriesRequest: appendEntries,
    AppendEntriesResponse: record({
      type: fc.constant('AppendEntriesResponse'),
      term: u,
      success: fc.boolean(),
      conflictIndex: fc.option(u, { nil: null }),
      conflictTerm: fc.option(u, { nil: null }),
      lastLogIndex: u,
    }),
    InstallSnapshotRequest: record({
      type: fc.constant('InstallSnapshotRequest'),
      term: u,
      leaderId: id,
      lastIncludedIndex: u,
      lastIncludedTerm: u,
      offset: u,
      data: bytesArbitrary(bounds.chunkBytesMax),
      done: fc.boolean(),
      totalBytes: u,
      configuration: configurationArbitrary(bounds),
    }),
    InstallSnapshotResponse: record({ type: fc.constant('InstallSnapshotResponse'), term: u, bytesStored: u }),
    TimeoutNowRequest: record({ type: fc.constant('TimeoutNowRequest'), term: u, leaderId: id }),
    TimeoutNowResponse: record({ type: fc.constant('TimeoutNowResponse'), term: u }),
    ClientForwardRequest: record({
      type: fc.constant('ClientForwardRequest'),
      sourceId: id,
      kind: fc.constantFrom('write', 'read', 'admin'),
      payload: bytesArbitrary(bounds.entryBytesMax),
      timeoutMs: u,
    }),
    ClientForwardResponse: record({
      type: fc.constant('ClientForwardResponse'),
      code: fc.oneof(
        fc.constantFrom('', 'RAFT_NOT_LEADER', 'RAFT_TIMEOUT', 'X'.repeat(64)),
        fc.stringMatching(/^[A-Z0-9_]{0,64}$/),
      ),
      message: fc.oneof(fc.constant(''), textArbitrary(0, 4096, true), textArbitrary(0, 64, true)),
      leaderHint: fc.option(id, { nil: null }),
      result: bytesArbitrary(bounds.resultBytesMax),
    }),
  };
}

/** Any message, every type equally likely. */
export function rpcMessageArbitrary(bounds: ArbitraryBounds = DEFAULT_ARBITRARY_BOUNDS): fc.Arbitrary<RpcMessage> {
  const byType = messageArbitraries(bounds);
  return fc.constantFrom(...RPC_MESSAGE_TYPES).chain((type): fc.Arbitrary<RpcMessage> => byType[type]);
}
