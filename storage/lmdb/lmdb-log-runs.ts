/**
 * Runs of log entries in LMDB: a record of the `log` database that holds several consecutive
 * entries under the index of the first, and the reads and deletions that treat every record,
 * one entry (version 1, lmdb-records.ts) or a run (version 2), as the span of indexes it holds.
 *
 * Why. An entry record of a 4 KiB value is 4.2 KB, which LMDB stores on two 4 KiB overflow pages:
 * about two bytes written per byte of entry, on top of the write-ahead log's own copy. A run of up
 * to LOG_RUN_BYTES_MAX fills its pages but for the last one (about 1.03 bytes per byte at 4 KiB
 * values), and takes one B-tree insertion instead of one per entry. The write-ahead-log engine's
 * checkpoint writes runs; the LMDB engine still writes one entry per record, and both read both.
 *
 * A run record, big-endian integers:
 *
 *     0  u8   record version (2)
 *     1  u8   reserved, 0
 *     2  u16  reserved, 0
 *     4  u32  CRC-32 of bytes 0..3 and 8..end
 *     8  u64  index of the first entry (must equal the key's)
 *     16 u32  entry count n, at least 1
 *     20 u32  reserved, 0
 *     24 n x 16 bytes, one per entry: u8 type, u8 0, u16 0, u32 command length, u64 term
 *     24 + 16n  the commands, one after the other
 *
 * Invariant: the records of the `log` database hold disjoint spans of indexes, so the record that
 * holds index i is the one with the greatest key <= i, and deleting a span that begins or ends
 * inside a run writes the run's kept part again (under its own first index).
 */
import type { Database } from 'lmdb';
import { crc32 } from '../crc32.js';
import { InvariantError, PersistenceError } from '../../contracts/errors.js';
import type { LogEntry, LogIndex, Term } from '../../contracts/log.js';
import { assert } from '../../contracts/assert.js';
import {
  TYPES_BY_CODE,
  TYPE_CODES,
  corrupt,
  decodeEntry,
  entryKey,
  parseEntryKey,
  readU64,
  writeU64,
} from './lmdb-records.js';

/** The `log` database. */
export type LogDatabase = Database<Uint8Array, Uint8Array>;

/**
 * The most bytes of a run record the checkpoint makes (a single larger entry goes alone): with
 * LMDB's 16-byte page header, sixteen 4 KiB overflow pages.
 */
export const LOG_RUN_BYTES_MAX = 64 * 1024 - 32;

const RUN_RECORD_VERSION = 2;
const ENTRY_RECORD_VERSION = 1;
const RUN_HEADER_BYTES = 24;
const RUN_ENTRY_BYTES = 16;

/** The bytes `entry` adds to a run record. */
export function runEntryBytes(entry: LogEntry): number {
  return RUN_ENTRY_BYTES + entry.command.byteLength;
}

/** Encodes consecutive `entries` (at least one) as one run record. */
export function encodeRun(entries: readonly LogEntry[]): Buffer {
  const first = entries[0];
  assert(first !== undefined, 'a run holds at least one entry');
  let bytes = RUN_HEADER_BYTES;
  for (const [i, entry] of entries.entries()) {
    assert(entry.index === first.index + i, `run entry ${entry.index} follows ${first.index + i - 1}`);
    bytes += runEntryBytes(entry);
  }
  const value = Buffer.allocUnsafe(bytes);
  value.writeUInt32BE(RUN_RECORD_VERSION << 24, 0);
  writeU64(value, 8, first.index);
  value.writeUInt32BE(entries.length, 16);
  value.writeUInt32BE(0, 20);
  let header = RUN_HEADER_BYTES;
  let at = RUN_HEADER_BYTES + RUN_ENTRY_BYTES * entries.length;
  for (const entry of entries) {
    value.writeUInt32BE(TYPE_CODES[entry.type] << 24, header);
    value.writeUInt32BE(entry.command.byteLength, header + 4);
    writeU64(value, header + 8, entry.term);
    value.set(entry.command, at);
    header += RUN_ENTRY_BYTES;
    at += entry.command.byteLength;
  }
  assert(at === bytes, 'the run record is filled exactly');
  value.writeUInt32BE(crc32(value.subarray(8), crc32(value.subarray(0, 4))), 4);
  return value;
}

/** A run record checked against its checksum and its key: where each entry's parts are. */
interface ParsedRun {
  readonly value: Uint8Array;
  readonly first: LogIndex;
  readonly count: number;
}

function parseRun(keyIndex: LogIndex, value: Uint8Array): ParsedRun {
  const what = `log run at ${keyIndex}`;
  if (value.byteLength < RUN_HEADER_BYTES + RUN_ENTRY_BYTES) throw corrupt(`${what} is ${value.byteLength} bytes`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (view.getUint32(4) !== crc32(value.subarray(8), crc32(value.subarray(0, 4))))
    throw corrupt(`${what} fails its checksum`);
  const first = readU64(value, 8, `${what} first index`);
  if (first !== keyIndex) throw corrupt(`log run stored under key ${keyIndex} starts at ${first}`);
  const count = view.getUint32(16);
  const commandsAt = RUN_HEADER_BYTES + RUN_ENTRY_BYTES * count;
  if (count === 0 || commandsAt > value.byteLength) throw corrupt(`${what} claims ${count} entries`);
  if (!Number.isSafeInteger(first + count)) throw corrupt(`${what} ends beyond the safe integer range`);
  let at = commandsAt;
  for (let i = 0; i < count; i += 1) {
    const header = RUN_HEADER_BYTES + RUN_ENTRY_BYTES * i;
    if (TYPES_BY_CODE[value[header] ?? 0] === undefined)
      throw corrupt(`${what}: entry ${first + i} has unknown type code ${String(value[header])}`);
    readU64(value, header + 8, `${what}: entry ${first + i} term`);
    at += view.getUint32(header + 4);
  }
  if (at !== value.byteLength) throw corrupt(`${what} holds ${value.byteLength} bytes, its entries ${at}`);
  return { value, first, count };
}

function runTerm(run: ParsedRun, i: number): Term {
  return readU64(run.value, RUN_HEADER_BYTES + RUN_ENTRY_BYTES * i + 8, 'run entry term');
}

/** The entries of a parsed run with from <= index <= to, their commands copied out. */
function runEntries(run: ParsedRun, from: LogIndex, to: LogIndex): LogEntry[] {
  const { value, first, count } = run;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const entries: LogEntry[] = [];
  let at = RUN_HEADER_BYTES + RUN_ENTRY_BYTES * count;
  for (let i = 0; i < count && first + i <= to; i += 1) {
    const header = RUN_HEADER_BYTES + RUN_ENTRY_BYTES * i;
    const length = view.getUint32(header + 4);
    if (first + i >= from) {
      // A copy, so that the command is a plain Uint8Array that outlives LMDB's buffers.
      const command = new Uint8Array(length);
      command.set(value.subarray(at, at + length));
      const type = TYPES_BY_CODE[value[header] ?? 0] ?? 'command';
      entries.push({ term: runTerm(run, i), index: first + i, type, command });
    }
    at += length;
  }
  return entries;
}

function isRun(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.byteLength > 0 && value[0] === RUN_RECORD_VERSION;
}

/**
 * Decodes the record stored under the key of `keyIndex` (one entry or a run), checking it, and
 * returns its entries with from <= index <= to (all of them by default).
 */
export function decodeLogRecord(
  keyIndex: LogIndex,
  value: unknown,
  from: LogIndex = keyIndex,
  to: LogIndex = Number.MAX_SAFE_INTEGER,
): LogEntry[] {
  if (isRun(value)) return runEntries(parseRun(keyIndex, value), from, to);
  if (value instanceof Uint8Array && value.byteLength > 0 && value[0] !== ENTRY_RECORD_VERSION)
    throw corrupt(`log record ${keyIndex} has record version ${String(value[0])}`);
  if (keyIndex < from || keyIndex > to) {
    decodeEntry(keyIndex, value);
    return [];
  }
  return [decodeEntry(keyIndex, value)];
}

/** The terms of the entries of the record under the key of `keyIndex`, checked, by index from the key on. */
export function logRecordTerms(keyIndex: LogIndex, value: unknown): Term[] {
  if (!isRun(value)) return decodeLogRecord(keyIndex, value).map((entry) => entry.term);
  const run = parseRun(keyIndex, value);
  const terms: Term[] = [];
  for (let i = 0; i < run.count; i += 1) terms.push(runTerm(run, i));
  return terms;
}

/** The key of the record that holds `index` if it is stored: the greatest key <= index; null when there is none. */
function floorKey(log: LogDatabase, index: LogIndex): LogIndex | null {
  for (const key of log.getKeys({ start: entryKey(index), reverse: true, limit: 1 })) return parseEntryKey(key);
  return null;
}

/**
 * The stored entries with from <= index <= to, checked to be contiguous (a gap is
 * STORAGE_CORRUPT, naming `path`).
 */
export function readLogRange(log: LogDatabase, from: LogIndex, to: LogIndex, path: string): LogEntry[] {
  const entries: LogEntry[] = [];
  if (from > to) return entries;
  const start = entryKey(floorKey(log, from) ?? from);
  const range = to >= Number.MAX_SAFE_INTEGER ? { start } : { start, end: entryKey(to + 1) };
  for (const { key, value } of log.getRange(range)) {
    for (const entry of decodeLogRecord(parseEntryKey(key), value, from, to)) {
      const previous = entries[entries.length - 1];
      if (previous !== undefined && entry.index !== previous.index + 1) {
        throw new PersistenceError(
          'STORAGE_CORRUPT',
          `${path}: log has a gap: entry ${entry.index} follows entry ${previous.index}`,
        );
      }
      entries.push(entry);
    }
  }
  return entries;
}

function readRecord(log: LogDatabase, key: LogIndex): LogEntry[] {
  const value: unknown = log.get(entryKey(key));
  if (value === undefined) throw new InvariantError(`log record ${key} vanished inside its transaction`);
  return decodeLogRecord(key, value);
}

/**
 * Deletes the stored entries with from <= index <= to, inside a write transaction; a record that
 * holds entries on either side keeps them (a run is written again). Every entry of the span must
 * be stored: an InvariantError otherwise, which aborts the transaction.
 */
export function deleteLogRange(log: LogDatabase, from: LogIndex, to: LogIndex): void {
  assert(from <= to, `deletion ${from}..${to} is not empty`);
  const first = floorKey(log, from);
  if (first === null) throw new InvariantError(`entry ${from} planned for deletion is not stored`);
  const keys = [first];
  if (to > from)
    for (const key of log.getKeys({ start: entryKey(from + 1), end: entryKey(to + 1) })) keys.push(parseEntryKey(key));
  const last = keys[keys.length - 1] ?? first;
  // Only the first and the last record can hold entries outside the span: read those two.
  const head = readRecord(log, first);
  const tail = last === first ? head : readRecord(log, last);
  const firstEnd = first + head.length - 1;
  const lastEnd = last + tail.length - 1;
  if (firstEnd < from || lastEnd < to)
    throw new InvariantError(`entries ${from}..${to} planned for deletion are not all stored`);
  const before = head.filter((entry) => entry.index < from);
  const after = tail.filter((entry) => entry.index > to);
  for (const key of keys)
    if (!log.removeSync(entryKey(key)))
      throw new InvariantError(`log record ${key} planned for deletion is not stored`);
  if (before.length > 0) log.putSync(entryKey(first), encodeRun(before));
  if (after.length > 0) log.putSync(entryKey(to + 1), encodeRun(after));
}

/**
 * Lays out appended entries as run records of at most `runBytesMax` bytes (a larger entry alone),
 * each under the index of its first entry.
 */
export class RunPacker {
  private run: LogEntry[] = [];
  private runBytes = RUN_HEADER_BYTES;
  private keys: Buffer[] = [];
  private values: Buffer[] = [];

  constructor(private readonly runBytesMax: number) {
    assert(runBytesMax > RUN_HEADER_BYTES + RUN_ENTRY_BYTES, 'a run holds at least one entry');
  }

  /** Adds the next entry; one that does not follow the last added starts a new run. */
  add(entry: LogEntry): void {
    const bytes = runEntryBytes(entry);
    const last = this.run[this.run.length - 1];
    if (last !== undefined && (entry.index !== last.index + 1 || this.runBytes + bytes > this.runBytesMax))
      this.closeRun();
    this.run.push(entry);
    this.runBytes += bytes;
  }

  /** The records made since the last call (the open run closed), in key order; null when none. */
  take(): { readonly keys: Buffer[]; readonly values: Buffer[] } | null {
    this.closeRun();
    if (this.keys.length === 0) return null;
    const made = { keys: this.keys, values: this.values };
    this.keys = [];
    this.values = [];
    return made;
  }

  private closeRun(): void {
    const first = this.run[0];
    if (first === undefined) return;
    this.keys.push(entryKey(first.index));
    this.values.push(encodeRun(this.run));
    this.run = [];
    this.runBytes = RUN_HEADER_BYTES;
  }
}
