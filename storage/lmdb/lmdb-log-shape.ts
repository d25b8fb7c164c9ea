/**
 * Shape records: the log's terms, command sizes and configuration entries, kept beside its
 * records so that an open reads them instead of every stored record (issue 17: a restart on data).
 *
 * The open used to read and check every record of the `log` database for them: after a minute of
 * 64 clients writing 4 KiB values, 5,500 records and 80 ms of a 470 ms restart (bench/restart-data.ts).
 *
 * The `log-shape` database holds, under the 8-byte key of its first index (lmdb-records.ts
 * entryKey), one record per run of entries written together: their count, their term runs, the
 * offsets of configuration entries and each entry's command size, with a CRC-32. Every write
 * that puts or deletes log records maintains it in the same LMDB transaction
 * ({@link appendShape}, {@link deleteShapes}), so that the records tile the stored log exactly:
 * the first starts at its first entry, each next one right after the one before, the last ends at
 * its last entry. A deletion rewrites the records it cuts (their parts before and after the deleted
 * range, the latter under its new first index).
 *
 * {@link readLogShapes} trusts them only when they tile the log as LMDB holds it now (its first and
 * last keys, its count of entries), each passes its CRC-32, and the first and last entries' stored
 * terms are the shape's; otherwise the caller scans every record as before and writes the shapes
 * again ({@link rewriteShapes}). A record is still checked whole (its CRC-32) whenever it is read
 * back (decodeEntry). The data directory's format version says that its shapes are maintained
 * (wal-store.ts WAL_FORMAT_VERSION 3): a build that does not know them refuses the directory
 * rather than leave them stale.
 */
import { PersistenceError } from '../../contracts/errors.js';
import type { EntryType, LogEntry, LogIndex, Term } from '../../contracts/log.js';
import { crc32 } from '../crc32.js';
import type { StoredLog } from '../../contracts/persistence.js';
import type { StoredLogBuilder } from '../stored-log.js';
import { decodeEntry, entryKey, entryRecordHeader, parseEntryKey } from './lmdb-records.js';
import { fastValue } from './lmdb-log-read.js';
import type { LogReader } from './lmdb-log-read.js';

/** The shape of a run of consecutive entries. */
export interface ShapeRecord {
  readonly firstIndex: LogIndex;
  /** Term runs: from the entry at `offset` (0 = firstIndex) on, entries have `term`; offsets increase from 0. */
  readonly termRuns: readonly { readonly offset: number; readonly term: Term }[];
  /** Offsets of the configuration entries, increasing. */
  readonly configOffsets: readonly number[];
  /** Command bytes of each entry. */
  readonly commandBytes: Uint32Array;
}

/** A key range of lmdb-js's getKeys. */
export interface KeyRange {
  readonly start?: Uint8Array;
  readonly end?: Uint8Array;
  readonly reverse?: boolean;
  readonly limit?: number;
}

/** What maintaining the shapes needs of the `log-shape` database (lmdb-js, inside a write transaction). */
export interface ShapeStore {
  getKeys(range: KeyRange): Iterable<unknown>;
  getBinaryFast(key: Uint8Array): Uint8Array | undefined;
  putSync(key: Uint8Array, value: Uint8Array): unknown;
  removeSync(key: Uint8Array): boolean;
}

/** The log database as reading a shape needs it: its keys, values and count of entries. */
export interface ShapeLogReader extends LogReader {
  getKeys(range: KeyRange): Iterable<unknown>;
  getStats(): unknown;
}

const SHAPE_VERSION = 1;
const HEADER_BYTES = 16;
const RUN_BYTES = 12;

function corrupt(message: string): PersistenceError {
  return new PersistenceError('STORAGE_CORRUPT', message);
}

/** The number of entries a shape covers. */
export const shapeCount = (shape: ShapeRecord): number => shape.commandBytes.length;

/** The shape of `entries` (contiguous, at least one). */
export function shapeOfEntries(entries: readonly LogEntry[]): ShapeRecord {
  const first = entries[0];
  if (first === undefined) throw new RangeError('a shape covers at least one entry');
  const builder = new ShapeAccumulator(first.index);
  for (const entry of entries) builder.add(entry.term, entry.type, entry.command.byteLength);
  return builder.shape();
}

/** Gathers a shape entry by entry. */
export class ShapeAccumulator {
  private readonly termRuns: { offset: number; term: Term }[] = [];
  private readonly configOffsets: number[] = [];
  private readonly sizes: number[] = [];

  constructor(readonly firstIndex: LogIndex) {}

  add(term: Term, type: EntryType, commandBytes: number): void {
    const offset = this.sizes.length;
    if (this.termRuns[this.termRuns.length - 1]?.term !== term) this.termRuns.push({ offset, term });
    if (type === 'config') this.configOffsets.push(offset);
    this.sizes.push(commandBytes);
  }

  get count(): number {
    return this.sizes.length;
  }

  shape(): ShapeRecord {
    return {
      firstIndex: this.firstIndex,
      termRuns: this.termRuns,
      configOffsets: this.configOffsets,
      commandBytes: Uint32Array.from(this.sizes),
    };
  }
}

/** The shape records of `log` (a scan's StoredLog), `perRecord` entries each but the last. */
export function shapesOfStoredLog(log: StoredLog, perRecord: number): ShapeRecord[] {
  const count = log.commandBytes.length;
  if (count === 0) return [];
  const whole: ShapeRecord = {
    firstIndex: log.firstIndex,
    termRuns: log.termRuns.map((run) => ({ offset: run.from - log.firstIndex, term: run.term })),
    configOffsets: log.configurations.map((entry) => entry.index - log.firstIndex),
    commandBytes: log.commandBytes,
  };
  const shapes: ShapeRecord[] = [];
  for (let from = 0; from < count; from += perRecord)
    shapes.push(sliceShape(whole, from, Math.min(count, from + perRecord) - 1));
  return shapes;
}

/** The record of `shape`; see the module comment. */
export function encodeShape(shape: ShapeRecord): Buffer {
  const count = shapeCount(shape);
  const bytes = HEADER_BYTES + shape.termRuns.length * RUN_BYTES + (shape.configOffsets.length + count + 1) * 4;
  const out = Buffer.alloc(bytes);
  out[0] = SHAPE_VERSION;
  out.writeUInt32BE(count, 4);
  out.writeUInt32BE(shape.termRuns.length, 8);
  out.writeUInt32BE(shape.configOffsets.length, 12);
  let at = HEADER_BYTES;
  for (const run of shape.termRuns) {
    out.writeUInt32BE(run.offset, at);
    out.writeDoubleBE(run.term, at + 4);
    at += RUN_BYTES;
  }
  for (const offset of shape.configOffsets) at = out.writeUInt32BE(offset, at);
  for (const size of shape.commandBytes) at = out.writeUInt32BE(size, at);
  out.writeUInt32BE(crc32(out.subarray(0, at)), at);
  return out;
}

/** The shape stored under the key of `firstIndex`, or null when the record is not a well-formed shape. */
export function decodeShape(firstIndex: LogIndex, value: Uint8Array): ShapeRecord | null {
  if (value.byteLength < HEADER_BYTES + 4 || value[0] !== SHAPE_VERSION) return null;
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const count = bytes.readUInt32BE(4);
  const runs = bytes.readUInt32BE(8);
  const configs = bytes.readUInt32BE(12);
  const end = HEADER_BYTES + runs * RUN_BYTES + (configs + count) * 4;
  if (count === 0 || runs === 0 || end + 4 !== bytes.byteLength) return null;
  if (bytes.readUInt32BE(end) !== crc32(bytes.subarray(0, end))) return null;
  const termRuns: { offset: number; term: Term }[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < runs; i += 1, at += RUN_BYTES) {
    const offset = bytes.readUInt32BE(at);
    const term = bytes.readDoubleBE(at + 4);
    const previous = termRuns[i - 1];
    const ordered = previous === undefined ? offset === 0 : offset > previous.offset && term > previous.term;
    if (!ordered || offset >= count || !Number.isSafeInteger(term) || term < 0) return null;
    termRuns.push({ offset, term });
  }
  const configOffsets: number[] = [];
  for (let i = 0; i < configs; i += 1, at += 4) {
    const offset = bytes.readUInt32BE(at);
    if (offset >= count || offset <= (configOffsets[i - 1] ?? -1)) return null;
    configOffsets.push(offset);
  }
  const commandBytes = new Uint32Array(count);
  for (let i = 0; i < count; i += 1, at += 4) commandBytes[i] = bytes.readUInt32BE(at);
  return { firstIndex, termRuns, configOffsets, commandBytes };
}

/** The term of the entry at `offset` of `shape`. */
export function termAt(shape: ShapeRecord, offset: number): Term {
  let term = shape.termRuns[0]?.term ?? 0;
  for (const run of shape.termRuns) {
    if (run.offset > offset) break;
    term = run.term;
  }
  return term;
}

/** The part of `shape` from offset `from` to offset `to` (inclusive), as a shape of its own. */
export function sliceShape(shape: ShapeRecord, from: number, to: number): ShapeRecord {
  const termRuns: { offset: number; term: Term }[] = [{ offset: 0, term: termAt(shape, from) }];
  for (const run of shape.termRuns)
    if (run.offset > from && run.offset <= to) termRuns.push({ offset: run.offset - from, term: run.term });
  return {
    firstIndex: shape.firstIndex + from,
    termRuns,
    configOffsets: shape.configOffsets.filter((o) => o >= from && o <= to).map((o) => o - from),
    commandBytes: shape.commandBytes.slice(from, to + 1),
  };
}

/**
 * An append merges into the last record while both hold at most this many entries (at one client
 * the log checkpoints an entry or two at a time). A merge decodes and encodes the record: at 1024
 * that took 5-10 % of each member's CPU at one client (ab-coraft); at 128 an open reads at worst a
 * record per 128 entries (about 1,500 for 50 MB of 256-byte entries).
 */
export const SHAPE_MERGE_ENTRIES = 128;

/** Puts `shape` as a record of its own. */
function putShape(shapes: ShapeStore, shape: ShapeRecord): void {
  shapes.putSync(entryKey(shape.firstIndex), encodeShape(shape));
}

/** `a` then `b` (which starts right after it) as one shape. */
export function concatShapes(a: ShapeRecord, b: ShapeRecord): ShapeRecord {
  const offset = shapeCount(a);
  const termRuns = [...a.termRuns];
  for (const run of b.termRuns)
    if (run.offset > 0 || termRuns[termRuns.length - 1]?.term !== run.term)
      termRuns.push({ offset: run.offset + offset, term: run.term });
  const commandBytes = new Uint32Array(offset + shapeCount(b));
  commandBytes.set(a.commandBytes);
  commandBytes.set(b.commandBytes, offset);
  return {
    firstIndex: a.firstIndex,
    termRuns,
    configOffsets: [...a.configOffsets, ...b.configOffsets.map((o) => o + offset)],
    commandBytes,
  };
}

/**
 * Per store, where the last append put its record: the next looks there first, by key, no cursor (a
 * reverse cursor was half of an append's cost). It is used only if it ends right before the append.
 */
const lastWritten = new WeakMap<ShapeStore, LogIndex>();

/**
 * Puts the shape of entries just appended after the last stored one (inside the write transaction
 * that appends them), merged into the last record when both are small (SHAPE_MERGE_ENTRIES).
 */
export function appendShape(
  shapes: ShapeStore,
  shape: ShapeRecord,
  path: string,
  mergeEntries: number = SHAPE_MERGE_ENTRIES,
): void {
  const last = recordEndingBefore(shapes, shape.firstIndex, path);
  const merged =
    last !== null && shapeCount(last) + shapeCount(shape) <= mergeEntries ? concatShapes(last, shape) : shape;
  putShape(shapes, merged);
  lastWritten.set(shapes, merged.firstIndex);
}

/** The record that ends right before `index`, where entries are appended (so the last one), or null. */
function recordEndingBefore(shapes: ShapeStore, index: LogIndex, path: string): ShapeRecord | null {
  const cached = lastWritten.get(shapes);
  if (cached !== undefined && cached < index) {
    const value = fastValue(shapes.getBinaryFast(entryKey(cached)));
    const shape = value === undefined ? null : decodeShape(cached, value);
    if (shape !== null && shape.firstIndex + shapeCount(shape) === index) return shape;
  }
  for (const key of shapes.getKeys({ reverse: true, limit: 1 })) {
    if (!(key instanceof Uint8Array)) break;
    const last = shapeAt(shapes, key, path);
    return last.firstIndex + shapeCount(last) === index ? last : null;
  }
  return null;
}

/** The shape under `key` (a key read from `shapes`); an unreadable one is STORAGE_CORRUPT. */
function shapeAt(shapes: Pick<ShapeStore, 'getBinaryFast'>, key: Uint8Array, path: string): ShapeRecord {
  const first = parseEntryKey(key);
  const value = fastValue(shapes.getBinaryFast(key));
  const shape = value === undefined ? null : decodeShape(first, value);
  if (shape === null) throw corrupt(`${path}: the log shape record at ${first} is damaged`);
  return shape;
}

/**
 * Removes the entries `from..to` from the shapes (inside the write transaction that deletes their
 * records): records within the range go, records that it cuts keep their parts outside it.
 */
export function deleteShapes(shapes: ShapeStore, from: LogIndex, to: LogIndex, path: string): void {
  const cut: ShapeRecord[] = [];
  // The record that starts before `from` and may reach into the range.
  for (const key of shapes.getKeys({ start: entryKey(from), reverse: true, limit: 1 })) {
    if (!(key instanceof Uint8Array)) continue;
    const shape = shapeAt(shapes, key, path);
    if (shape.firstIndex < from && shape.firstIndex + shapeCount(shape) > from) cut.push(shape);
  }
  for (const key of [...shapes.getKeys({ start: entryKey(from), end: entryKey(to + 1) })]) {
    if (!(key instanceof Uint8Array)) continue;
    cut.push(shapeAt(shapes, key, path));
  }
  for (const shape of cut) {
    const last = shape.firstIndex + shapeCount(shape) - 1;
    shapes.removeSync(entryKey(shape.firstIndex));
    if (shape.firstIndex < from) putShape(shapes, sliceShape(shape, 0, from - 1 - shape.firstIndex));
    if (last > to) putShape(shapes, sliceShape(shape, to + 1 - shape.firstIndex, last - shape.firstIndex));
  }
}

/** Deletes every shape record and writes `shapes` (a scan's, at open). */
export function rewriteShapes(store: ShapeStore, shapes: readonly ShapeRecord[]): void {
  for (const key of [...store.getKeys({})]) if (key instanceof Uint8Array) store.removeSync(key);
  for (const shape of shapes) putShape(store, shape);
}

/** The first or last key of `log`, or null when it is empty. */
function endKey(log: ShapeLogReader, reverse: boolean): LogIndex | null {
  for (const key of log.getKeys({ reverse, limit: 1 })) return parseEntryKey(key);
  return null;
}

/** The stored term of entry `index` (its record header). */
function storedTerm(log: ShapeLogReader, index: LogIndex): Term | null {
  const value = fastValue(log.getBinaryFast(entryKey(index)));
  return value === undefined ? null : entryRecordHeader(index, value).term;
}

/** LMDB's count of entries of `log` (mdb_stat, no scan). */
function entryCount(log: ShapeLogReader): number | null {
  const stats = log.getStats();
  const count: unknown = typeof stats === 'object' && stats !== null ? Reflect.get(stats, 'entryCount') : undefined;
  return typeof count === 'number' ? count : null;
}

/**
 * The shapes of the whole stored log, when they tile it as LMDB holds it now and each is intact
 * (see the module comment); null otherwise (the caller scans the records).
 */
export function readLogShapes(
  store: Pick<ShapeStore, 'getKeys' | 'getBinaryFast'>,
  log: ShapeLogReader,
): ShapeRecord[] | null {
  const first = endKey(log, false);
  const last = endKey(log, true);
  const shapes: ShapeRecord[] = [];
  let next = first;
  for (const key of store.getKeys({})) {
    if (!(key instanceof Uint8Array) || key.byteLength !== 8) return null;
    const index = parseEntryKey(key);
    const value = fastValue(store.getBinaryFast(key));
    const shape = value === undefined ? null : decodeShape(index, value);
    if (shape === null || index !== next) return null;
    shapes.push(shape);
    next = index + shapeCount(shape);
  }
  if (first === null || last === null) return shapes.length === 0 ? shapes : null;
  const lastShape = shapes[shapes.length - 1];
  const firstShape = shapes[0];
  if (lastShape === undefined || firstShape === undefined || next !== last + 1) return null;
  if (entryCount(log) !== last - first + 1) return null;
  if (storedTerm(log, first) !== termAt(firstShape, 0)) return null;
  if (storedTerm(log, last) !== termAt(lastShape, shapeCount(lastShape) - 1)) return null;
  return shapes;
}

/**
 * Adds the entries of `shapes` with from <= index <= to to `builder`, the configuration entries
 * whole (read from `log`, checked whole).
 */
export function addShapes(
  shapes: readonly ShapeRecord[],
  log: LogReader,
  range: { readonly from: LogIndex; readonly to: LogIndex },
  builder: StoredLogBuilder,
): void {
  for (const shape of shapes) {
    const count = shapeCount(shape);
    const start = Math.max(0, range.from - shape.firstIndex);
    const end = Math.min(count - 1, range.to - shape.firstIndex);
    let run = 0;
    let config = 0;
    for (let offset = start; offset <= end; offset += 1) {
      while ((shape.termRuns[run + 1]?.offset ?? count) <= offset) run += 1;
      while ((shape.configOffsets[config] ?? count) < offset) config += 1;
      const index = shape.firstIndex + offset;
      const term = shape.termRuns[run]?.term ?? 0;
      const size = shape.commandBytes[offset] ?? 0;
      if (shape.configOffsets[config] === offset) {
        const value = fastValue(log.getBinaryFast(entryKey(index)));
        const entry = decodeEntry(index, value);
        if (entry.term !== term || entry.type !== 'config' || entry.command.byteLength !== size)
          throw corrupt(`entry ${index} is not the configuration entry its log shape says`);
        builder.add(index, term, 'config', size, entry);
      } else {
        builder.add(index, term, 'command', size, null);
      }
    }
  }
}
