/**
 * The snapshot image of the KV state machine: one CBOR array, with no maps, so that equal
 * states give byte-identical snapshots on every replica:
 *
 *   ['coraft-kv', 1, lastApplied, clockMs,
 *    [[key, value, revision], ...],                 // sorted by key, UTF-16 code unit order
 *    [[clientId, lastSeq, lastUsedMs, response], ...]]  // least recently used first
 *
 * Decoding checks the whole structure (a snapshot arrives from another node), including key
 * order, revision ranges and session order, and throws SerializationError (CODEC_MALFORMED).
 */
import { Encoder } from 'cbor-x';
import { SerializationError } from '../errors.js';
import type { SessionEntry } from './sessions.js';
import type { KvVersioned } from './types.js';
import { asByteString, decodeCbor, malformed, readArray, readBytes, readInteger, readString } from './fields.js';

/** The tag and version that open every snapshot. */
export const KV_SNAPSHOT_FORMAT = 'coraft-kv';
/** The version of the snapshot layout. */
export const KV_SNAPSHOT_VERSION = 1;

/** Everything a snapshot holds. */
export interface KvSnapshotImage {
  /** The index of the last entry applied. */
  readonly lastApplied: number;
  /** The log clock, ms. */
  readonly clockMs: number;
  /** Every key, sorted. */
  readonly entries: readonly (readonly [string, KvVersioned])[];
  /** Every session, least recently used first. */
  readonly sessions: readonly SessionEntry[];
}

const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });

/** Encodes a snapshot image; `entries` must already be sorted by key. */
export function encodeKvSnapshot(image: KvSnapshotImage): Uint8Array {
  return encoder.encode([
    KV_SNAPSHOT_FORMAT,
    KV_SNAPSHOT_VERSION,
    image.lastApplied,
    image.clockMs,
    image.entries.map(([key, versioned]) => [key, asByteString(versioned.value), versioned.revision]),
    image.sessions.map((s) => [s.clientId, s.lastSeq, s.lastUsedMs, asByteString(s.response)]),
  ]);
}

function readEntries(value: unknown, lastApplied: number): (readonly [string, KvVersioned])[] {
  const items = readArray(value, 'snapshot entries', Number.MAX_SAFE_INTEGER);
  const entries: (readonly [string, KvVersioned])[] = [];
  let previousKey: string | null = null;
  for (const item of items) {
    const fields = readArray(item, 'snapshot entry', 3);
    if (fields.length !== 3) throw malformed('snapshot entry must have 3 items');
    const key = readString(fields[0], 'snapshot entry key');
    if (key.length === 0) throw malformed('snapshot entry key must not be empty');
    if (previousKey !== null && !(previousKey < key)) throw malformed('snapshot entries must be sorted by key without duplicates');
    const versioned: KvVersioned = {
      value: readBytes(fields[1], 'snapshot entry value'),
      revision: readInteger(fields[2], 'snapshot entry revision', 1, lastApplied),
    };
    entries.push([key, versioned]);
    previousKey = key;
  }
  return entries;
}

function readSessions(value: unknown, clockMs: number): SessionEntry[] {
  const items = readArray(value, 'snapshot sessions', Number.MAX_SAFE_INTEGER);
  const sessions: SessionEntry[] = [];
  const seen = new Set<string>();
  let lastUsedMin = 0;
  for (const item of items) {
    const fields = readArray(item, 'snapshot session', 4);
    if (fields.length !== 4) throw malformed('snapshot session must have 4 items');
    const clientId = readString(fields[0], 'snapshot session client id');
    if (clientId.length === 0 || seen.has(clientId)) throw malformed('snapshot session client ids must be non-empty and unique');
    const lastUsedMs = readInteger(fields[2], 'snapshot session last use', lastUsedMin, clockMs);
    sessions.push({
      clientId,
      lastSeq: readInteger(fields[1], 'snapshot session sequence', 1),
      lastUsedMs,
      response: new Uint8Array(readBytes(fields[3], 'snapshot session response')),
    });
    seen.add(clientId);
    lastUsedMin = lastUsedMs;
  }
  return sessions;
}

/** Decodes and checks a snapshot image; throws SerializationError (CODEC_MALFORMED). */
export function decodeKvSnapshot(bytes: Uint8Array): KvSnapshotImage {
  const top = readArray(decodeCbor(bytes, 'snapshot'), 'snapshot', 6);
  if (top.length !== 6) throw malformed('snapshot must have 6 items');
  if (top[0] !== KV_SNAPSHOT_FORMAT) throw malformed(`snapshot must start with '${KV_SNAPSHOT_FORMAT}'`);
  if (top[1] !== KV_SNAPSHOT_VERSION) {
    throw new SerializationError('CODEC_VERSION', `snapshot version ${String(top[1])} is not supported; expected ${KV_SNAPSHOT_VERSION}`);
  }
  const lastApplied = readInteger(top[2], 'snapshot last applied index', 0);
  const clockMs = readInteger(top[3], 'snapshot clock', 0);
  return { lastApplied, clockMs, entries: readEntries(top[4], lastApplied), sessions: readSessions(top[5], clockMs) };
}
