/**
 * The snapshot image of the KV state machine: one CBOR array, with no maps, so that equal
 * states give byte-identical snapshots on every replica:
 *
 *   ['coraft-kv', 5, lastApplied, clockMs,
 *    [[key, value, revision, lease], ...],          // sorted by key, UTF-16 code unit order; lease 0: none
 *    [[clientId, floor, lastUsedMs,                 // sessions, least recently used first
 *      [[seq, response], ...]], ...],               // kept responses, by increasing seq
 *    [[requestId, clientId, seq, usedMs], ...],     // request ids, oldest first
 *    storeRevision,                                 // the log index of the last change
 *    historyCompacted,                              // the history window holds every change above it
 *    [[revision, key, value | null], ...],          // the window, in revision order (null: a delete)
 *    quotaBytes,                                    // the cluster's quota (quota.ts); 0: none
 *    quotaAlarm,                                    // the NOSPACE alarm of the quota (boolean)
 *    [[id, ttlMs, refreshIndex], ...]]              // the leases (leases.ts), by increasing id
 *
 * Version 5 is written only for a state with a lease. Version 4 (no leases: 12 items, entries of
 * 3 items) is written for a state with no lease but a quota or an alarm, and version 3 (neither:
 * 10 items) for a state with neither, so that a cluster that uses neither leases nor a quota can
 * be upgraded member by member (a member of an earlier version refuses a later version with
 * CODEC_VERSION). The choice depends on the state alone, so equal states still give equal bytes.
 * Versions 3 and 4 are read as no leases, version 3 as no quota and no alarm.
 * Version 2 (no store revision nor history: 7 items) is still read, its store revision taken as lastApplied
 * (an upper bound of the last change, so a revision a client saw is never above it; until the
 * next change such a node may answer a higher store revision than a replica that applied the
 * log itself) and its history window empty, compacted at that revision.
 * Version 1 (one response per session: `[clientId, lastSeq, lastUsedMs, response]`) is still
 * read, as a session whose floor is lastSeq and which keeps that one response (and no request
 * ids: version 1 has 6 items), so a node
 * restores the snapshots an older version wrote (versions 1 and 2 are no longer written), which an
 * older node refuses with CODEC_VERSION.
 *
 * Decoding checks the whole structure (a snapshot arrives from another node), including key
 * order, revision ranges, session order and floors, and throws SerializationError
 * (CODEC_MALFORMED).
 */
import { Encoder } from 'cbor-x';
import { cborHead, encodeCbor } from './cbor-output.js';
import { assert } from '../../contracts/assert.js';
import type { RetainedResponse, SessionEntry } from './sessions.js';
import { REQUEST_ID_BYTES, keyOf } from './request-ids.js';
import type { RequestIdEntry } from './request-ids.js';
import type { KvChange } from './history.js';
import type { KvLease } from './leases.js';
import type { KvStored } from './store.js';
import type { KvVersioned } from './types.js';
import { QUOTA_BYTES_MAX } from './quota.js';
import {
  encodeTailItems,
  historyItem,
  plainItem,
  requestIdsItem,
  requestIdsPlain,
  tailBytesBound,
} from './snapshot-tail.js';
import type { KvSnapshotFields, KvSnapshotTail } from './snapshot-tail.js';
import type { KvSnapshotImage } from './snapshot-image.js';
import {
  asByteString,
  decodeCbor,
  malformed,
  readArray,
  readBytes,
  readFormatVersion,
  readInteger,
  readString,
} from './fields.js';
import { readKvSnapshotFast } from './snapshot-read.js';

/** The tag and version that open every snapshot. */
export const KV_SNAPSHOT_FORMAT = 'coraft-kv';
/** The version of the snapshot layout this code writes. */
export const KV_SNAPSHOT_VERSION = 5;
/** The oldest version this code reads. */
const KV_SNAPSHOT_VERSION_OLDEST = 1;

export type { KvSnapshotImage } from './snapshot-image.js';

const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });

/**
 * The key entries of an image as parallel columns (key i holds values[i] and is attached to lease
 * leases[i], 0: none), sorted by key: a frozen view of the store that a backup encodes a batch at
 * a time (agent/backup/).
 */
export interface KvEntryColumns {
  readonly keys: readonly string[];
  readonly values: readonly KvVersioned[];
  readonly leases: readonly number[];
}

/**
 * An image whose entries and request ids are columns (a view of the store, a copy of the request
 * id table); every other field as in {@link KvSnapshotImage}.
 */
export type KvSnapshotSource = KvSnapshotTail & { readonly entries: KvEntryColumns };

/** The version an image is written in: 5 with a lease, else 4 with a quota or an alarm, else 3. */
function versionOf(image: KvSnapshotFields): number {
  if (image.leases.length > 0) return KV_SNAPSHOT_VERSION;
  return image.quotaBytes === 0 && !image.quotaAlarm ? 3 : 4;
}

/** The top-level items before the entries. */
function headItems(image: KvSnapshotFields): unknown[] {
  return [KV_SNAPSHOT_FORMAT, versionOf(image), image.lastApplied, image.clockMs];
}

/**
 * The top-level items after the entries: everything else the image holds, in layout order. A new
 * field of the image goes here (or in headItems), so that it travels in backups too.
 */
function tailItems(image: KvSnapshotFields, requestIds: unknown): unknown[] {
  const version = versionOf(image);
  const quota = version === 3 ? [] : [image.quotaBytes, image.quotaAlarm];
  const leases =
    version === KV_SNAPSHOT_VERSION ? [image.leases.map((lease) => [lease.id, lease.ttlMs, lease.refreshIndex])] : [];
  return [
    image.sessions.map((s) => [
      s.clientId,
      s.floor,
      s.lastUsedMs,
      s.responses.map((kept) => [kept.seq, asByteString(kept.response)]),
    ]),
    requestIds,
    image.storeRevision,
    image.historyCompacted,
    historyItem(image.history),
    ...quota,
    ...leases,
  ];
}

/** One entry's item: with its lease when the image has leases (version 5). */
function entryItem(key: string, stored: Omit<KvStored, 'lease'>, lease: number, leased: boolean): unknown[] {
  const entry = [key, asByteString(stored.value), stored.revision];
  return leased ? [...entry, lease] : entry;
}

/** The empty state at `lastApplied` (what a snapshot taken before any command holds). */
export function emptyKvSnapshotImage(lastApplied: number): KvSnapshotImage {
  return {
    lastApplied,
    clockMs: 0,
    entries: [],
    sessions: [],
    requestIds: [],
    storeRevision: 0,
    historyCompacted: 0,
    history: [],
    quotaBytes: 0,
    quotaAlarm: false,
    leases: [],
  };
}

/** Encodes a snapshot image; `entries` must already be sorted by key. */
export function encodeKvSnapshot(image: KvSnapshotImage): Uint8Array {
  const leased = image.leases.length > 0;
  return encodeCbor(encoder, [
    ...headItems(image),
    image.entries.map(([key, stored]) => entryItem(key, stored, stored.lease, leased)),
    ...tailItems(image, requestIdsPlain(image.requestIds)).map(plainItem),
  ]);
}

/**
 * A snapshot image cut into three parts whose concatenation, `prefix`, each entry's
 * {@link encodeKvEntry} in column order, then `suffix`, is byte for byte what
 * {@link encodeKvSnapshot} gives for the same image. The prefix and the suffix (every bounded
 * part: sessions, request ids, history, leases) are encoded now; the entries, the unbounded
 * part, are left to the caller to encode a batch at a time from the columns.
 */
export interface KvSnapshotParts {
  readonly prefix: Uint8Array;
  readonly entries: KvEntryColumns;
  /** Whether each entry carries its lease (the image has leases). */
  readonly leased: boolean;
  readonly suffix: Uint8Array;
}

/** Cuts `source` into {@link KvSnapshotParts}, encoding everything but the entries now. */
export function kvSnapshotParts(source: KvSnapshotSource): KvSnapshotParts {
  const { keys, values, leases } = source.entries;
  if (keys.length !== values.length || keys.length !== leases.length)
    throw malformed('snapshot entry columns must have equal lengths');
  if (keys.length >= 2 ** 32) throw malformed('a snapshot holds fewer than 2^32 entries');
  const head = headItems(source);
  const tail = tailItems(source, requestIdsItem(source.requestIds));
  const prefix = Buffer.concat([
    cborHead(4, head.length + 1 + tail.length),
    ...head.map((item) => encodeCbor(encoder, item)),
    cborHead(4, keys.length),
  ]);
  return {
    prefix: new Uint8Array(prefix),
    entries: source.entries,
    leased: source.leases.length > 0,
    suffix: encodeTailItems(tail, tailBytesBound(source, tail)),
  };
}

/**
 * The pieces (prefix, each entry, suffix) whose concatenation is {@link encodeKvSnapshot}'s bytes:
 * a snapshot then costs the pieces and one copy, where one encode call grew cbor-x's output
 * buffer to four times the image (issue 17).
 */
export function kvSnapshotPieces(parts: KvSnapshotParts): Uint8Array[] {
  const count = parts.entries.keys.length;
  const pieces: Uint8Array[] = [parts.prefix];
  for (let i = 0; i < count; i += 1) pieces.push(encodeKvEntry(parts, i));
  pieces.push(parts.suffix);
  assert(pieces.length === count + 2, 'a piece per entry between the prefix and the suffix');
  return pieces;
}

/** Entry `i` of the columns as it stands in the entries array of a snapshot. */
export function encodeKvEntry(parts: KvSnapshotParts, i: number): Uint8Array {
  const { keys, values, leases } = parts.entries;
  const key = keys[i];
  const versioned = values[i];
  if (key === undefined || versioned === undefined) throw malformed(`no entry ${i} in the snapshot columns`);
  return encodeCbor(encoder, entryItem(key, versioned, leases[i] ?? 0, parts.leased));
}

function readEntries(value: unknown, lastApplied: number, leased: boolean): (readonly [string, KvStored])[] {
  const items = readArray(value, 'snapshot entries', Number.MAX_SAFE_INTEGER);
  const entries: (readonly [string, KvStored])[] = [];
  let previousKey: string | null = null;
  const length = leased ? 4 : 3;
  for (const item of items) {
    const fields = readArray(item, 'snapshot entry', length);
    if (fields.length !== length) throw malformed(`snapshot entry must have ${length} items`);
    const key = readString(fields[0], 'snapshot entry key');
    if (key.length === 0) throw malformed('snapshot entry key must not be empty');
    if (previousKey !== null && !(previousKey < key))
      throw malformed('snapshot entries must be sorted by key without duplicates');
    const versioned: KvStored = {
      value: readBytes(fields[1], 'snapshot entry value'),
      revision: readInteger(fields[2], 'snapshot entry revision', 1, lastApplied),
      lease: leased ? readInteger(fields[3], 'snapshot entry lease', 0, lastApplied) : 0,
    };
    entries.push([key, versioned]);
    previousKey = key;
  }
  return entries;
}

/** A version 1 session: its one response becomes the one kept, at its floor. */
function readSessionV1(fields: readonly unknown[], clientId: string, lastUsedMs: number): SessionEntry {
  const lastSeq = readInteger(fields[1], 'snapshot session sequence', 1);
  return {
    clientId,
    floor: lastSeq,
    lastUsedMs,
    responses: [{ seq: lastSeq, response: new Uint8Array(readBytes(fields[3], 'snapshot session response')) }],
  };
}

/** A version 2 session: floor and the responses kept, by increasing sequence, none below the floor. */
function readSessionV2(fields: readonly unknown[], clientId: string, lastUsedMs: number): SessionEntry {
  const floor = readInteger(fields[1], 'snapshot session floor', 1);
  const responses: RetainedResponse[] = [];
  let seqMin = floor;
  for (const item of readArray(fields[3], 'snapshot session responses', Number.MAX_SAFE_INTEGER)) {
    const pair = readArray(item, 'snapshot session response', 2);
    if (pair.length !== 2) throw malformed('snapshot session response must have 2 items');
    const seq = readInteger(pair[0], 'snapshot session response sequence', seqMin);
    responses.push({ seq, response: new Uint8Array(readBytes(pair[1], 'snapshot session response')) });
    seqMin = seq + 1;
  }
  return { clientId, floor, lastUsedMs, responses };
}

function readSessions(value: unknown, clockMs: number, version: number): SessionEntry[] {
  const items = readArray(value, 'snapshot sessions', Number.MAX_SAFE_INTEGER);
  const sessions: SessionEntry[] = [];
  const seen = new Set<string>();
  let lastUsedMin = 0;
  for (const item of items) {
    const fields = readArray(item, 'snapshot session', 4);
    if (fields.length !== 4) throw malformed('snapshot session must have 4 items');
    const clientId = readString(fields[0], 'snapshot session client id');
    if (clientId.length === 0 || seen.has(clientId))
      throw malformed('snapshot session client ids must be non-empty and unique');
    const lastUsedMs = readInteger(fields[2], 'snapshot session last use', lastUsedMin, clockMs);
    sessions.push(
      version === 1 ? readSessionV1(fields, clientId, lastUsedMs) : readSessionV2(fields, clientId, lastUsedMs),
    );
    seen.add(clientId);
    lastUsedMin = lastUsedMs;
  }
  return sessions;
}

function readRequestIds(value: unknown, clockMs: number): RequestIdEntry[] {
  const entries: RequestIdEntry[] = [];
  const seen = new Set<string>();
  let usedMin = 0;
  for (const item of readArray(value, 'snapshot request ids', Number.MAX_SAFE_INTEGER)) {
    const fields = readArray(item, 'snapshot request id', 4);
    if (fields.length !== 4) throw malformed('snapshot request id must have 4 items');
    const requestId = new Uint8Array(readBytes(fields[0], 'snapshot request id'));
    const key = requestId.byteLength === REQUEST_ID_BYTES ? keyOf(requestId) : null;
    if (key === null || seen.has(key))
      throw malformed(`snapshot request ids must have ${REQUEST_ID_BYTES} bytes and be unique`);
    const clientId = readString(fields[1], 'snapshot request id client id');
    if (clientId.length === 0) throw malformed('snapshot request id client id must not be empty');
    const usedMs = readInteger(fields[3], 'snapshot request id use', usedMin, clockMs);
    entries.push({ requestId, clientId, seq: readInteger(fields[2], 'snapshot request id sequence', 1), usedMs });
    seen.add(key);
    usedMin = usedMs;
  }
  return entries;
}

function readHistory(value: unknown, compacted: number, storeRevision: number): KvChange[] {
  const changes: KvChange[] = [];
  let revisionMin = compacted + 1;
  for (const item of readArray(value, 'snapshot history', Number.MAX_SAFE_INTEGER)) {
    const fields = readArray(item, 'snapshot history change', 3);
    if (fields.length !== 3) throw malformed('snapshot history change must have 3 items');
    const revision = readInteger(fields[0], 'snapshot history revision', revisionMin, storeRevision);
    const key = readString(fields[1], 'snapshot history key');
    if (key.length === 0) throw malformed('snapshot history key must not be empty');
    const data = fields[2] === null ? null : new Uint8Array(readBytes(fields[2], 'snapshot history value'));
    changes.push({ revision, key, value: data });
    revisionMin = revision;
  }
  return changes;
}

/** The leases, by increasing id, each granted and refreshed at or before lastApplied; every key's lease among them. */
function readLeases(value: unknown, lastApplied: number, entries: readonly (readonly [string, KvStored])[]): KvLease[] {
  const leases: KvLease[] = [];
  let idMin = 1;
  for (const item of readArray(value, 'snapshot leases', Number.MAX_SAFE_INTEGER)) {
    const fields = readArray(item, 'snapshot lease', 3);
    if (fields.length !== 3) throw malformed('snapshot lease must have 3 items');
    const id = readInteger(fields[0], 'snapshot lease id', idMin, lastApplied);
    const ttlMs = readInteger(fields[1], 'snapshot lease ttl', 1);
    leases.push({ id, ttlMs, refreshIndex: readInteger(fields[2], 'snapshot lease refresh index', id, lastApplied) });
    idMin = id + 1;
  }
  const ids = new Set(leases.map((lease) => lease.id));
  for (const [, stored] of entries)
    if (stored.lease !== 0 && !ids.has(stored.lease))
      throw malformed(`snapshot entry names lease ${stored.lease}, not granted`);
  return leases;
}

/**
 * Decodes and checks a snapshot image; throws SerializationError (CODEC_MALFORMED). An image as
 * this code writes it is read in place (snapshot-read.ts); any other goes through cbor-x here.
 */
export function decodeKvSnapshot(bytes: Uint8Array): KvSnapshotImage {
  return readKvSnapshotFast(bytes, KV_SNAPSHOT_FORMAT) ?? decodeKvSnapshotGeneral(bytes);
}

/** decodeKvSnapshot through cbor-x's general decoder: every version, every error message. */
export function decodeKvSnapshotGeneral(bytes: Uint8Array): KvSnapshotImage {
  // The version is read before the count of items, which a later version may raise.
  const top = readArray(decodeCbor(bytes, 'snapshot'), 'snapshot', Number.MAX_SAFE_INTEGER);
  if (top[0] !== KV_SNAPSHOT_FORMAT) throw malformed(`snapshot must start with '${KV_SNAPSHOT_FORMAT}'`);
  const version = readFormatVersion(top[1], 'snapshot', KV_SNAPSHOT_VERSION_OLDEST, KV_SNAPSHOT_VERSION);
  const items = version === 5 ? 13 : version === 4 ? 12 : version === 3 ? 10 : version + 5;
  if (top.length !== items) throw malformed(`a version ${version} snapshot must have ${items} items`);
  const lastApplied = readInteger(top[2], 'snapshot last applied index', 0);
  const clockMs = readInteger(top[3], 'snapshot clock', 0);
  const entries = readEntries(top[4], lastApplied, version >= 5);
  const revisionMin = entries.reduce((max, [, versioned]) => Math.max(max, versioned.revision), 0);
  const storeRevision =
    version < 3 ? lastApplied : readInteger(top[7], 'snapshot store revision', revisionMin, lastApplied);
  const historyCompacted =
    version < 3 ? storeRevision : readInteger(top[8], 'snapshot history start', 0, storeRevision);
  return {
    lastApplied,
    clockMs,
    entries,
    sessions: readSessions(top[5], clockMs, version),
    requestIds: version === 1 ? [] : readRequestIds(top[6], clockMs),
    storeRevision,
    historyCompacted,
    history: version < 3 ? [] : readHistory(top[9], historyCompacted, storeRevision),
    quotaBytes: version < 4 ? 0 : readInteger(top[10], 'snapshot quota', 0, QUOTA_BYTES_MAX),
    quotaAlarm: version < 4 ? false : readBoolean(top[11], 'snapshot quota alarm'),
    leases: version < 5 ? [] : readLeases(top[12], lastApplied, entries),
  };
}

function readBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw malformed(`${what} must be a boolean`);
  return value;
}
