/**
 * Encodings of the trust layer: the log entry that carries a signed admin command, the result
 * an admin entry applies to, and the snapshot image of the trust state. CBOR arrays and maps
 * read strictly (agent/kv/fields.ts); equal states encode to equal bytes.
 *
 *   admin entry:   {op: 'admin', envelope: bytes, time: ms}
 *   trust image:   ['coraft-trust', 1, clockMs, adminKeyPem | null, [known...], [revoked...],
 *                   [[holder, peer, generation, wrapped], ...], [[nonce, expiresAtMs], ...]
 *                   (, [[revoked id, generation], ...] when a revoked id held a generation above 1)]
 *   node state:    ['coraft-state', 1, kvSnapshotBytes, trustImageBytes]
 */
import { Encoder } from 'cbor-x';
import { cborHead, encodeCbor, kvSnapshotBytesBound, writeKvSnapshot, type KvSnapshotParts } from '../kv/index.js';
import { BytesPiece, ImageChunks, KvSnapshotPiece, MEASURE_ENTRIES_PER_STEP, kvSnapshotParts } from '../kv/index.js';
import type { KvSnapshotSource } from '../kv/index.js';
import type { SnapshotEncoder } from '../../contracts/state-machine.js';
import type { StoredImage } from '../../contracts/persistence.js';
import { assert } from '../../contracts/assert.js';
import { isValidNodeId } from '../core/configuration.js';
import { SerializationError } from '../../contracts/errors.js';
import {
  Fields,
  asByteString,
  decodeCbor,
  laterVersionHint,
  malformed,
  readArray,
  readBytes,
  readInteger,
  readString,
} from '../kv/fields.js';
import { KNOWN_MAX, LINKS_MAX, NONCES_MAX, REVOKED_MAX, type LinkRecord, type TrustImage } from './trust-state.js';
import { GENERATION_MAX } from './crypto.js';
import type { NodeId } from '../../contracts/log.js';

const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });

/** The tag of a trust image. */
export const TRUST_IMAGE_FORMAT = 'coraft-trust';
/** The tag of a node state snapshot (KV plus trust). */
export const NODE_STATE_FORMAT = 'coraft-state';

/** A signed admin command as a log entry's command. */
export interface AdminEntry {
  readonly envelope: Uint8Array;
  /** The proposer's clock, ms: moves the log clock like a KV command's time. */
  readonly timeMs: number;
}

/** Encodes an admin entry. */
export function encodeAdminEntry(entry: AdminEntry): Uint8Array {
  return encodeCbor(encoder, { op: 'admin', envelope: asByteString(entry.envelope), time: entry.timeMs });
}

/**
 * The admin entry a command encodes, or null when it is not one (any other command, including
 * bytes that are not CBOR). A map with op 'admin' but other fields throws CODEC_MALFORMED.
 */
export function decodeAdminEntry(command: Uint8Array): AdminEntry | null {
  let value: unknown;
  try {
    value = decodeCbor(command, 'entry');
  } catch (error) {
    if (error instanceof SerializationError) return null;
    throw error;
  }
  if (typeof value !== 'object' || value === null || Reflect.get(value, 'op') !== 'admin') return null;
  const fields = Fields.of(value, 'admin entry', ['op', 'envelope', 'time']);
  return { envelope: fields.bytes('envelope'), timeMs: fields.integer('time', 0) };
}

/** What applying an admin entry answered: done (with the ids whose credentials changed) or refused. */
export type AdminApplyResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Encodes an admin apply result (the bytes the proposer's request resolves with). */
export function encodeAdminApplyResult(result: AdminApplyResult): Uint8Array {
  return encodeCbor(encoder, result.ok ? { ok: true } : { ok: false, reason: result.reason });
}

/** Decodes an admin apply result. */
export function decodeAdminApplyResult(bytes: Uint8Array): AdminApplyResult {
  const value = decodeCbor(bytes, 'admin result');
  if (typeof value === 'object' && value !== null && Reflect.get(value, 'ok') === true) return { ok: true };
  const fields = Fields.of(value, 'admin result', ['ok', 'reason']);
  return { ok: false, reason: fields.string('reason') };
}

function idList(value: unknown, what: string, max: number): string[] {
  return readArray(value, what, max).map((item) => {
    const id = readString(item, what);
    if (!isValidNodeId(id)) throw malformed(`${what}: invalid node id`);
    return id;
  });
}

/** Encodes a trust image. */
export function encodeTrustImage(image: TrustImage): Uint8Array {
  return encodeCbor(encoder, [
    TRUST_IMAGE_FORMAT,
    1,
    image.clockMs,
    image.adminKeyPem,
    image.known,
    image.revoked,
    image.links.map((l) => [l.holder, l.peer, l.generation, asByteString(l.wrapped)]),
    image.nonces.map(([nonce, expires]) => [nonce, expires]),
    // Left out when empty, so that a state without one encodes as it did before it existed.
    ...(image.revokedGenerations.length === 0 ? [] : [image.revokedGenerations.map(([id, g]) => [id, g])]),
  ]);
}

function readLink(item: unknown): LinkRecord {
  const parts = readArray(item, 'trust link', 4);
  if (parts.length !== 4) throw malformed('trust link must have 4 items');
  const [holder, peer] = idList(parts.slice(0, 2), 'trust link ends', 2);
  if (holder === undefined || peer === undefined) throw malformed('trust link ends');
  return {
    holder,
    peer,
    generation: readString(parts[2], 'trust link generation'),
    wrapped: new Uint8Array(readBytes(parts[3], 'trust link key')),
  };
}

function readRevokedGeneration(item: unknown): readonly [NodeId, number] {
  const parts = readArray(item, 'trust revoked generation', 2);
  const [id] = idList(parts.slice(0, 1), 'trust revoked generation id', 1);
  if (parts.length !== 2 || id === undefined) throw malformed('trust revoked generation must be [id, generation]');
  return [id, readInteger(parts[1], 'trust revoked generation', 2, GENERATION_MAX)];
}

/**
 * Throws CODEC_VERSION when `top`, an array opened by `format`, is of a later version than 1 (the
 * only one this build reads): read before its count of items, which a later version may change.
 */
function refuseLaterVersion(top: readonly unknown[], format: string, what: string): void {
  if (top[0] !== format || typeof top[1] !== 'number' || top[1] <= 1) return;
  throw new SerializationError(
    'CODEC_VERSION',
    `${what} version ${top[1]} is not supported; expected 1${laterVersionHint(top[1], 1)}`,
  );
}

/** Decodes and checks a trust image; throws SerializationError (CODEC_MALFORMED, CODEC_VERSION). */
export function decodeTrustImage(bytes: Uint8Array): TrustImage {
  const top = readArray(decodeCbor(bytes, 'trust image'), 'trust image', Number.MAX_SAFE_INTEGER);
  refuseLaterVersion(top, TRUST_IMAGE_FORMAT, 'trust image');
  if (top.length < 8 || top.length > 9 || top[0] !== TRUST_IMAGE_FORMAT || top[1] !== 1)
    throw malformed(`trust image must be ['${TRUST_IMAGE_FORMAT}', 1, ...8 or 9 items]`);
  const adminKeyPem = top[3] === null ? null : readString(top[3], 'trust admin key');
  const nonces = readArray(top[7], 'trust nonces', NONCES_MAX).map((item): readonly [string, number] => {
    const pair = readArray(item, 'trust nonce', 2);
    return [readString(pair[0], 'trust nonce'), readInteger(pair[1], 'trust nonce expiry', 0)];
  });
  return {
    clockMs: readInteger(top[2], 'trust clock', 0),
    adminKeyPem,
    known: idList(top[4], 'trust known members', KNOWN_MAX),
    revoked: idList(top[5], 'trust revoked ids', REVOKED_MAX),
    revokedGenerations:
      top.length === 8 ? [] : readArray(top[8], 'trust revoked generations', REVOKED_MAX).map(readRevokedGeneration),
    links: readArray(top[6], 'trust links', LINKS_MAX).map(readLink),
    nonces,
  };
}

/** What comes before the KV image in a node state: the array head, the format, the version, the image's head. */
function nodeStateHeads(kvBytes: number): Uint8Array[] {
  return [cborHead(4, 4), encodeCbor(encoder, NODE_STATE_FORMAT), encodeCbor(encoder, 1), cborHead(2, kvBytes)];
}

/**
 * Encodes a node state snapshot: `['coraft-state', 1, kv, trust]`, the KV image given whole or as
 * the pieces it is the concatenation of (kvSnapshotPieces). The bytes are framed, not encoded
 * again, in one allocation: encoding a 64 MiB image as a byte string made cbor-x grow its output
 * buffer to 256 MiB (issue 17). The same bytes as cbor-x's encoding of that array (tested).
 */
export function encodeNodeState(kv: Uint8Array | readonly Uint8Array[], trust: Uint8Array): Buffer {
  const kvPieces = kv instanceof Uint8Array ? [kv] : kv;
  const kvBytes = kvPieces.reduce((sum, piece) => sum + piece.byteLength, 0);
  const parts = [...nodeStateHeads(kvBytes), ...kvPieces, cborHead(2, trust.byteLength), trust];
  return Buffer.concat(
    parts,
    parts.reduce((sum, part) => sum + part.byteLength, 0),
  );
}

/**
 * Splits a node state snapshot; null when `bytes` is not one (a snapshot of the KV state
 * alone, written before the trust layer existed).
 */
export function decodeNodeState(bytes: Uint8Array): { readonly kv: Uint8Array; readonly trust: Uint8Array } | null {
  const top = decodeCbor(bytes, 'snapshot');
  if (!Array.isArray(top) || top[0] !== NODE_STATE_FORMAT) return null;
  refuseLaterVersion(top, NODE_STATE_FORMAT, 'node state');
  const items = readArray(top, 'node state', 4);
  if (items.length !== 4 || items[1] !== 1)
    throw malformed(`node state must be ['${NODE_STATE_FORMAT}', 1, kv, trust]`);
  return { kv: readBytes(items[2], 'node state kv'), trust: readBytes(items[3], 'node state trust') };
}

/** The argument of the CBOR head of major type `major` at `at` of `bytes` and the head's size, or null. */
function headAt(
  bytes: Uint8Array,
  at: number,
  major: number,
): { readonly argument: number; readonly bytes: number } | null {
  const initial = bytes[at];
  if (initial === undefined || initial >> 5 !== major) return null;
  const info = initial & 31;
  if (info < 24) return { argument: info, bytes: 1 };
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
  if (size === 0 || at + 1 + size > bytes.length) return null;
  let argument = 0;
  for (let i = 1; i <= size; i += 1) argument = argument * 256 + (bytes[at + i] ?? 0);
  return { argument, bytes: 1 + size };
}

/** The bytes [offset, offset + bytes) of `image`, a copy. */
function readRange(image: StoredImage, offset: number, bytes: number): Uint8Array {
  const range = new Uint8Array(bytes);
  image.copyTo(offset, range);
  return range;
}

/**
 * decodeNodeState of a stored image (StoredImage), without reading it whole: the KV image as a
 * range of the stored one, read in place as KvStateMachine.restoreFrom reads it, and the trust
 * image (small) as a copy. Null when the image is not a node state framed as
 * {@link encodeNodeState} frames one (its heads in their shortest form): the caller reads it whole.
 */
export function splitStoredNodeState(
  image: StoredImage,
): { readonly kv: StoredImage; readonly trust: Uint8Array } | null {
  const opening = nodeStateHeads(0).slice(0, 3);
  const fixed = opening.reduce((sum, head) => sum + head.byteLength, 0);
  const prefix = readRange(image, 0, Math.min(fixed + HEAD_BYTES_MAX, image.byteLength));
  const kvHead = headAt(prefix, fixed, 2);
  if (kvHead === null) return null;
  const kvStart = fixed + kvHead.bytes;
  const kvEnd = kvStart + kvHead.argument;
  const expected = Buffer.concat(nodeStateHeads(kvHead.argument));
  if (kvEnd > image.byteLength || !expected.equals(prefix.subarray(0, kvStart))) return null;
  const trustHeadBytes = readRange(image, kvEnd, Math.min(HEAD_BYTES_MAX, image.byteLength - kvEnd));
  const trustHead = headAt(trustHeadBytes, 0, 2);
  if (trustHead === null || kvEnd + trustHead.bytes + trustHead.argument !== image.byteLength) return null;
  if (!Buffer.from(cborHead(2, trustHead.argument)).equals(trustHeadBytes.subarray(0, trustHead.bytes))) return null;
  return {
    kv: {
      byteLength: kvHead.argument,
      copyTo: (offset, target) => {
        assert(offset + target.byteLength <= kvHead.argument, 'a read lies within the KV image');
        image.copyTo(kvStart + offset, target);
      },
    },
    trust: readRange(image, kvEnd + trustHead.bytes, trustHead.argument),
  };
}

/** CBOR's longest head, bytes (RFC 8949 §3): the room left before the KV image for its byte-string head. */
const HEAD_BYTES_MAX = 9;

/**
 * encodeNodeState of the KV image `parts` (the same bytes as of kvSnapshotPieces(parts)), written
 * into one buffer as it is encoded (kv/snapshot-bytes.ts), so the store's bytes are not held twice.
 * The heads before the image are written once its length is known, right in front of it.
 */
export function encodeNodeStateParts(parts: KvSnapshotParts, trust: Uint8Array): Uint8Array {
  const room = 16 + HEAD_BYTES_MAX; // the array head, the format and the version fit in 16 bytes
  const trustHead = cborHead(2, trust.byteLength);
  const out = Buffer.allocUnsafeSlow(room + kvSnapshotBytesBound(parts) + trustHead.byteLength + trust.byteLength);
  const kvEnd = writeKvSnapshot(parts, out, room);
  let start = room;
  for (const piece of nodeStateHeads(kvEnd - room).reverse()) {
    start -= piece.byteLength;
    out.set(piece, start);
  }
  out.set(trustHead, kvEnd);
  out.set(trust, kvEnd + trustHead.byteLength);
  return out.subarray(start, kvEnd + trustHead.byteLength + trust.byteLength);
}

/**
 * The node state of a captured KV state and trust image, a chunk at a time (kv/snapshot-stream.ts):
 * the same bytes as {@link encodeNodeStateParts} of its parts. The first step encodes the KV parts
 * (sessions, history, leases), the next ones measure the KV image, whose length its byte-string
 * head gives, a bounded number of entries each; none of it is done at the capture.
 */
export class NodeStateChunks implements SnapshotEncoder {
  private kv: KvSnapshotPiece | null = null;
  private image: ImageChunks | null = null;
  private total: number | null = null;

  constructor(
    private readonly source: KvSnapshotSource,
    private readonly trust: Uint8Array,
  ) {}

  totalBytes(): number | null {
    return this.total;
  }

  next(chunkBytes: number): Uint8Array | null {
    if (this.image !== null) return this.image.next(chunkBytes);
    if (this.kv === null) {
      this.kv = new KvSnapshotPiece(kvSnapshotParts(this.source));
      return new Uint8Array(0);
    }
    if (!this.kv.measure(MEASURE_ENTRIES_PER_STEP)) return new Uint8Array(0);
    const heads = Buffer.concat(nodeStateHeads(this.kv.totalBytes));
    const trust = Buffer.concat([cborHead(2, this.trust.byteLength), this.trust]);
    this.image = new ImageChunks([new BytesPiece(heads), this.kv, new BytesPiece(trust)]);
    this.total = heads.byteLength + this.kv.totalBytes + trust.byteLength;
    return this.image.next(chunkBytes);
  }
}
