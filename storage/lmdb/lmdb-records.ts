/**
 * The on-disk records of the LMDB engine and their encodings. Everything read back is parsed
 * from bytes as untrusted input: a record that does not parse is STORAGE_CORRUPT.
 *
 * Log entries live in the `log` database under 8-byte big-endian index keys, so LMDB's byte
 * order is index order. An entry's value is a 24-byte header and the command:
 *
 *     0  u8   record version (1)
 *     1  u8   entry type: 1 command, 2 noop, 3 config
 *     2  u16  reserved, 0
 *     4  u32  CRC-32 of bytes 0..3 and 8..end
 *     8  u64  term
 *     16 u64  index (must equal the key's)
 *     24 ...  command
 *
 * The `meta` database holds small JSON records (format version, hard state, snapshot
 * metadata) and the snapshot image as raw bytes with its length and CRC-32 in the metadata.
 * Commands and snapshot images are returned as plain Uint8Array copies (never Buffer, never a
 * view of LMDB's memory), so `deepStrictEqual` with a Uint8Array that was written holds.
 */
import { crc32, crc32Through } from '../crc32.js';
import { PersistenceError } from '../../contracts/errors.js';
import {
  NODE_ID_LENGTH_MAX,
  type ClusterConfiguration,
  type ClusterMember,
  type EntryType,
  type HardState,
  type LogEntry,
  type LogIndex,
  type SnapshotMeta,
  type Term,
} from '../../contracts/log.js';
import { assert, assertIndex } from '../../contracts/assert.js';

/** The format version this code writes; a data directory with a higher one is STORAGE_VERSION. */
export const FORMAT_VERSION = 1;
/** The name in the format record, so that a foreign LMDB environment is not mistaken for ours. */
export const FORMAT_NAME = 'coraft-lmdb';
/** Keys of the `meta` database. */
export const META_KEYS = {
  format: 'format',
  hardState: 'hard-state',
  snapshotMeta: 'snapshot-meta',
  snapshotData: 'snapshot-data',
} as const;

/** Bytes of an entry record before its command. */
export const ENTRY_HEADER_BYTES = 24;
const ENTRY_RECORD_VERSION = 1;
const TWO_TO_32 = 2 ** 32;
/** The high 32 bits of a safe integer are below 2^21. */
const SAFE_HIGH_LIMIT = 2 ** 21;
const TYPE_CODES: Readonly<Record<EntryType, number>> = { command: 1, noop: 2, config: 3 };
const TYPES_BY_CODE: readonly (EntryType | undefined)[] = [undefined, 'command', 'noop', 'config'];

function corrupt(message: string): PersistenceError {
  return new PersistenceError('STORAGE_CORRUPT', message);
}

function writeU64(target: Buffer, offset: number, value: number): void {
  target.writeUInt32BE(Math.floor(value / TWO_TO_32), offset);
  target.writeUInt32BE(value >>> 0, offset + 4);
}

/** The big-endian u32 at `offset` (within `source`), read without a DataView (one per read cost more than the read). */
function readU32(source: Uint8Array, offset: number): number {
  const b0 = source[offset] ?? 0;
  const b1 = source[offset + 1] ?? 0;
  const b2 = source[offset + 2] ?? 0;
  const b3 = source[offset + 3] ?? 0;
  return ((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0;
}

function readU64(source: Uint8Array, offset: number, what: string): number {
  assert(offset + 8 <= source.byteLength, 'a u64 lies within its record');
  const high = readU32(source, offset);
  if (high >= SAFE_HIGH_LIMIT) throw corrupt(`${what} is beyond the safe integer range`);
  return high * TWO_TO_32 + readU32(source, offset + 4);
}

/** The key of the entry at `index`: 8 bytes, big-endian. */
export function entryKey(index: LogIndex): Buffer {
  assertIndex(index, 'entry key index');
  const key = Buffer.allocUnsafe(8);
  writeU64(key, 0, index);
  return key;
}

/**
 * Writes the key of the entry at `index` into `key` (8 bytes) and returns it: for a put, whose key
 * lmdb-js copies into its own write buffer before the put returns, one buffer serves every entry.
 */
export function writeEntryKey(key: Buffer, index: LogIndex): Buffer {
  assertIndex(index, 'entry key index');
  assert(key.byteLength === 8, 'an entry key is 8 bytes');
  writeU64(key, 0, index);
  return key;
}

/** Parses an entry key read back from the `log` database. */
export function parseEntryKey(key: unknown): LogIndex {
  if (!(key instanceof Uint8Array) || key.byteLength !== 8) throw corrupt(`log key is not 8 bytes: ${describe(key)}`);
  return readU64(key, 0, 'log key');
}

/**
 * The checksummed header bytes of the entry being encoded or checked (bytes 0..3 and 8..23 of its
 * record, 20 bytes), gathered so that the checksum needs no view of the record: CRC-32 of these,
 * then of the command. Encoding and decoding are synchronous, so one scratch serves the process.
 */
const checksummedHeader = Buffer.alloc(ENTRY_HEADER_BYTES - 4);

/** Bytes of `entry`'s value record. */
export function entryRecordBytes(entry: LogEntry): number {
  return ENTRY_HEADER_BYTES + entry.command.byteLength;
}

/** Encodes an entry as its value record. */
export function encodeEntry(entry: LogEntry): Buffer {
  return encodeEntryInto(entry, Buffer.allocUnsafe(entryRecordBytes(entry)));
}

/**
 * Encodes an entry as its value record into the start of `target` (at least entryRecordBytes long)
 * and returns the record: a view of `target`, valid until `target` is written again.
 */
export function encodeEntryInto(entry: LogEntry, target: Buffer): Buffer {
  const command = entry.command;
  const bytes = entryRecordBytes(entry);
  assert(target.length >= bytes, 'the target holds the entry record');
  const value = target.length === bytes ? target : target.subarray(0, bytes);
  value[0] = ENTRY_RECORD_VERSION;
  value[1] = TYPE_CODES[entry.type];
  value[2] = 0;
  value[3] = 0;
  writeU64(value, 8, entry.term);
  writeU64(value, 16, entry.index);
  value.set(command, ENTRY_HEADER_BYTES);
  value.writeUInt32BE(crc32Through(command, headerChecksum(value)), 4);
  return value;
}

/** CRC-32 of bytes 0..3 and 8..23 of the entry record `value`: the checksum goes on over its command. */
function headerChecksum(value: Uint8Array): number {
  // Byte by byte: 20 stores cost less than the two views a copy with set() would need.
  const header = checksummedHeader;
  for (let i = 0; i < 4; i += 1) header[i] = value[i] ?? 0;
  for (let i = 8; i < ENTRY_HEADER_BYTES; i += 1) header[i - 4] = value[i] ?? 0;
  return crc32(header);
}

/** An entry record that passed its checks: its term and type, and the record itself (not a copy). */
export interface CheckedEntryRecord {
  readonly term: Term;
  readonly type: EntryType;
  readonly record: Uint8Array;
}

/**
 * Checks the value stored under the key of `keyIndex` (record version, type, checksum: from the bytes, never a kept
 * CRC-32, lmdb-js reuses its read buffer; index); its term and type, its command not copied (the projection at open).
 */
export function checkEntryRecord(keyIndex: LogIndex, value: unknown): CheckedEntryRecord {
  const { record, type } = checkedRecordType(keyIndex, value);
  if (readU32(record, 4) !== crc32(record.subarray(ENTRY_HEADER_BYTES), headerChecksum(record)))
    throw corrupt(`entry ${keyIndex} fails its checksum`);
  return { term: checkedRecordTerm(keyIndex, record), type, record };
}

/** The value stored under the key of `keyIndex` as an entry record, with its version and type checked. */
function checkedRecordType(keyIndex: LogIndex, value: unknown): Pick<CheckedEntryRecord, 'record' | 'type'> {
  if (!(value instanceof Uint8Array) || value.byteLength < ENTRY_HEADER_BYTES)
    throw corrupt(`entry ${keyIndex} is not an entry record: ${describe(value)}`);
  if (value[0] !== ENTRY_RECORD_VERSION) throw corrupt(`entry ${keyIndex} has record version ${String(value[0])}`);
  const type = TYPES_BY_CODE[value[1] ?? 0];
  if (type === undefined) throw corrupt(`entry ${keyIndex} has unknown type code ${String(value[1])}`);
  return { record: value, type };
}

/** The term of entry record `record`, whose index is checked to be `keyIndex`, the key it is stored under. */
function checkedRecordTerm(keyIndex: LogIndex, record: Uint8Array): Term {
  const term = readU64(record, 8, `entry ${keyIndex} term`);
  const index = readU64(record, 16, `entry ${keyIndex} index`);
  if (index !== keyIndex) throw corrupt(`entry stored under key ${keyIndex} has index ${index}`);
  return term;
}

/** What {@link entryRecordHeader} reads of an entry record. */
export interface EntryRecordHeader {
  readonly term: Term;
  readonly type: EntryType;
  readonly commandBytes: number;
}

/**
 * The term, type and command size of the value stored under `keyIndex`, its header checked but not its checksum (open
 * checked every record whole, decodeEntry checks it on read back): what a restart's StoredLog needs (stored-log.ts).
 */
export function entryRecordHeader(keyIndex: LogIndex, value: unknown): EntryRecordHeader {
  const { record, type } = checkedRecordType(keyIndex, value);
  return { term: checkedRecordTerm(keyIndex, record), type, commandBytes: record.byteLength - ENTRY_HEADER_BYTES };
}

/** Decodes the value stored under the key of `keyIndex`, checking its checksum and index. */
export function decodeEntry(keyIndex: LogIndex, value: unknown): LogEntry {
  const { term, type, record } = checkEntryRecord(keyIndex, value);
  // A copy, so that the command is a plain Uint8Array that outlives LMDB's buffers.
  const command = new Uint8Array(record.byteLength - ENTRY_HEADER_BYTES);
  command.set(record.subarray(ENTRY_HEADER_BYTES));
  return { term, index: keyIndex, type, command };
}

/** The bytes an entry takes in LMDB, key included, before page overhead. */
export function entryStoredBytes(entry: LogEntry): number {
  return 8 + ENTRY_HEADER_BYTES + entry.command.byteLength;
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  return typeof value;
}

function jsonRecord(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function parseJsonRecord(bytes: unknown, what: string): Record<string, unknown> {
  if (!(bytes instanceof Uint8Array)) throw corrupt(`${what} record is not bytes: ${describe(bytes)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    throw new PersistenceError('STORAGE_CORRUPT', `${what} record is not JSON`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw corrupt(`${what} record is not an object`);
  return Object.fromEntries(Object.entries(parsed));
}

function parseIndexField(record: Record<string, unknown>, field: string, what: string): number {
  const value = record[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw corrupt(`${what}.${field} is not a non-negative integer`);
  return value;
}

function parseNodeId(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > NODE_ID_LENGTH_MAX)
    throw corrupt(`${what} is not a node id`);
  return value;
}

function parseNodeIds(value: unknown, what: string): string[] {
  if (!Array.isArray(value)) throw corrupt(`${what} is not a list`);
  return value.map((id: unknown, i) => parseNodeId(id, `${what}[${i}]`));
}

/** Encodes the format record of `version` (this engine's by default). */
export function encodeFormat(version: number = FORMAT_VERSION): Buffer {
  return jsonRecord({ format: FORMAT_NAME, version });
}

/** Parses a format record and returns its version (any positive integer; the caller compares). */
export function parseFormat(bytes: unknown): number {
  const record = parseJsonRecord(bytes, 'format');
  if (record['format'] !== FORMAT_NAME)
    throw corrupt(`format record names ${String(record['format'])}, not ${FORMAT_NAME}`);
  const version = parseIndexField(record, 'version', 'format');
  if (version < 1) throw corrupt(`format version ${version} is not positive`);
  return version;
}

/** Encodes the hard state record. */
export function encodeHardState(hardState: HardState): Buffer {
  return jsonRecord({ currentTerm: hardState.currentTerm, votedFor: hardState.votedFor });
}

/** Parses the hard state record. */
export function parseHardState(bytes: unknown): HardState {
  const record = parseJsonRecord(bytes, 'hard state');
  const currentTerm = parseIndexField(record, 'currentTerm', 'hard state');
  const votedFor = record['votedFor'] === null ? null : parseNodeId(record['votedFor'], 'hard state votedFor');
  return { currentTerm, votedFor };
}

/**
 * Which of the two sets of image records (lmdb-snapshot.ts) an image is in: a snapshot being
 * written streams into the one the stored snapshot does not use, and its commit switches the
 * metadata to it.
 */
export type SnapshotSlot = 0 | 1;

/**
 * Snapshot metadata as stored: the contract's SnapshotMeta plus the image's length and CRC-32,
 * and how the image is stored (lmdb-snapshot.ts): in records of `dataRecordBytes` each in slot
 * `dataSlot`, or in one record (`dataRecordBytes` null; what this engine wrote before images were
 * stored in records).
 */
export interface StoredSnapshotMeta extends SnapshotMeta {
  readonly dataBytes: number;
  readonly dataCrc32: number;
  readonly dataRecordBytes: number | null;
  /** 0 when the record has no `dataSlot` (as written before there were two). */
  readonly dataSlot: SnapshotSlot;
}

/** What the metadata record says of an image: its size, its CRC-32 and its slot. */
export interface StoredImage {
  readonly dataBytes: number;
  readonly dataCrc32: number;
  readonly dataSlot: SnapshotSlot;
}

/** Encodes the snapshot metadata record for `image` stored in records of `dataRecordBytes`. */
export function encodeSnapshotMeta(meta: SnapshotMeta, image: StoredImage, dataRecordBytes: number): Buffer {
  const configuration = meta.configuration;
  return jsonRecord({
    lastIncludedIndex: meta.lastIncludedIndex,
    lastIncludedTerm: meta.lastIncludedTerm,
    configuration: {
      voters: configuration.voters,
      learners: configuration.learners,
      oldVoters: configuration.oldVoters,
      members: configuration.members.map((m) => ({ id: m.id, address: m.address })),
      // Written only when there is a witness, so records without one keep their old form.
      ...(configuration.witnesses === undefined ? {} : { witnesses: configuration.witnesses }),
    },
    dataBytes: image.dataBytes,
    dataCrc32: image.dataCrc32,
    dataRecordBytes,
    dataSlot: image.dataSlot,
  });
}

function parseConfiguration(value: unknown): ClusterConfiguration {
  if (typeof value !== 'object' || value === null) throw corrupt('snapshot configuration is not an object');
  const record: Record<string, unknown> = Object.fromEntries(Object.entries(value));
  const membersValue = record['members'];
  if (!Array.isArray(membersValue)) throw corrupt('snapshot configuration members is not a list');
  const members: ClusterMember[] = membersValue.map((member: unknown, i) => {
    if (typeof member !== 'object' || member === null)
      throw corrupt(`snapshot configuration members[${i}] is not an object`);
    const fields: Record<string, unknown> = Object.fromEntries(Object.entries(member));
    const address = fields['address'];
    if (typeof address !== 'string') throw corrupt(`snapshot configuration members[${i}].address is not a string`);
    return { id: parseNodeId(fields['id'], `snapshot configuration members[${i}].id`), address };
  });
  const config: ClusterConfiguration = {
    voters: parseNodeIds(record['voters'], 'snapshot configuration voters'),
    learners: parseNodeIds(record['learners'], 'snapshot configuration learners'),
    oldVoters:
      record['oldVoters'] === null ? null : parseNodeIds(record['oldVoters'], 'snapshot configuration oldVoters'),
    members,
  };
  if (record['witnesses'] === undefined) return config;
  const witnesses = parseNodeIds(record['witnesses'], 'snapshot configuration witnesses');
  if (witnesses.length === 0) throw corrupt('snapshot configuration witnesses is an empty list');
  return { ...config, witnesses };
}

/** Parses the snapshot metadata record. */
export function parseSnapshotMeta(bytes: unknown): StoredSnapshotMeta {
  const record = parseJsonRecord(bytes, 'snapshot metadata');
  const dataCrc32 = parseIndexField(record, 'dataCrc32', 'snapshot metadata');
  if (dataCrc32 >= TWO_TO_32) throw corrupt('snapshot metadata dataCrc32 is not a 32-bit value');
  const dataRecordBytes =
    record['dataRecordBytes'] === undefined ? null : parseIndexField(record, 'dataRecordBytes', 'snapshot metadata');
  if (dataRecordBytes === 0) throw corrupt('snapshot metadata dataRecordBytes is 0');
  const slot = record['dataSlot'] ?? 0;
  if (slot !== 0 && slot !== 1) throw corrupt('snapshot metadata dataSlot is neither 0 nor 1');
  return {
    dataRecordBytes,
    dataSlot: slot,
    lastIncludedIndex: parseIndexField(record, 'lastIncludedIndex', 'snapshot metadata'),
    lastIncludedTerm: parseIndexField(record, 'lastIncludedTerm', 'snapshot metadata'),
    configuration: parseConfiguration(record['configuration']),
    dataBytes: parseIndexField(record, 'dataBytes', 'snapshot metadata'),
    dataCrc32,
  };
}

/** Checks an image read back in one record (the earlier layout) against its metadata; throws STORAGE_CORRUPT. */
export function checkSnapshotBytes(meta: StoredSnapshotMeta, bytes: unknown): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw corrupt(`snapshot ${meta.lastIncludedIndex} has no image`);
  if (bytes.byteLength !== meta.dataBytes) {
    throw corrupt(
      `snapshot ${meta.lastIncludedIndex} image is ${bytes.byteLength} bytes, its metadata says ${meta.dataBytes}`,
    );
  }
  if (crc32(bytes) !== meta.dataCrc32) throw corrupt(`snapshot ${meta.lastIncludedIndex} image fails its checksum`);
}

/** Checks a snapshot image read back against its metadata and returns a plain Uint8Array copy. */
export function checkSnapshotData(meta: StoredSnapshotMeta, bytes: unknown): Uint8Array {
  checkSnapshotBytes(meta, bytes);
  const data = new Uint8Array(bytes.byteLength);
  data.set(bytes);
  return data;
}
