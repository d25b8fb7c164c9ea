/**
 * Recovery of the write-ahead log when the engine opens: read every segment in order, check
 * every frame, and return the records that LMDB does not hold yet (sequence numbers above
 * `appliedSeq`, the checkpoint's) and where the writer resumes.
 *
 * Torn tail or corruption. Frames are written one at a time, each synced before the next is
 * written, into space that was zero or that holds stale frames (a recycled segment, see
 * wal-segments.ts: a deleted segment's file reused as a new one, whose first frame was zeroed
 * before it was renamed into place). A crash can therefore damage only the last frame: after it
 * every byte is zero or stale, and a damaged frame is a torn tail, the normal trace of a crash
 * in the middle of a write (never acknowledged). It is zeroed up to the first stale frame and
 * the log resumes there. A stale frame is told by its sequence numbers: it was checkpointed
 * before its file was recycled, so its records are below every record written since; a frame
 * that does not continue the one before it in its segment ends that segment's frames. Past the
 * last frame of a segment the writer left for the next, a recycled file also keeps the remains
 * of stale frames that need not start on a frame boundary: they are ignored when the next
 * segment continues the records (sealedBefore). Damage anywhere else (a bad frame or stray bytes
 * followed by a valid frame that is not stale in the same segment, or in a later segment that
 * does not continue the records, a gap in the sequence numbers or in the segment numbers, a log that
 * starts after or ends before the checkpoint) cannot come from a crash: it is STORAGE_CORRUPT,
 * naming the segment and offset, and the engine refuses to open rather than lose acknowledged
 * writes silently.
 */
import { openSync, closeSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PersistenceError } from '../../contracts/errors.js';
import type { PersistBatch } from '../../contracts/persistence.js';
import { assert } from '../../contracts/assert.js';
import { toPersistenceError } from '../lmdb/lmdb-errors.js';
import { FRAME_HEADER_BYTES, FRAME_MAGIC, decodeBatchRecords, readFrame } from './wal-frame.js';
import type { FrameRead, TornTail } from './wal-frame.js';
import { SegmentFile } from './wal-segment-file.js';
import { parseSegmentName, segmentName } from './wal-segments.js';
import type { SegmentInfo, WriterStart } from './wal-segments.js';

/** One record recovered from the log. */
export interface RecoveredRecord {
  readonly seq: number;
  readonly batch: PersistBatch;
}

/** What the log holds past the checkpoint, and where writing resumes. */
export interface RecoveredWal {
  /** The active segment and offset, or null when no segment is left (a new one is created). */
  readonly start: WriterStart | null;
  /** Records with sequence numbers above the checkpoint's, in order. */
  readonly records: readonly RecoveredRecord[];
  /** The last sequence number in the log, or `appliedSeq` when the log holds none. */
  readonly lastSeq: number;
  /** Bytes of a torn last frame that were zeroed, 0 when there was none. */
  readonly tornBytes: number;
}

interface ScannedSegment {
  readonly number: number;
  readonly bytes: number;
  readonly frames: readonly {
    readonly firstSeq: number;
    readonly count: number;
    readonly offset: number;
    readonly decode: () => PersistBatch[];
  }[];
  /** Offset after the last valid frame. */
  readonly end: number;
  /** Offset just past the last non-zero byte after `end` and before the first stale frame, or null: none. */
  readonly dirtyEnd: number | null;
  readonly reason: string;
}

function corrupt(message: string): PersistenceError {
  return new PersistenceError('STORAGE_CORRUPT', message);
}

const CHUNK_BYTES = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK_BYTES);
/**
 * Bytes searched for a frame magic at a time after a segment's frames (scanTail): far less than
 * the file's window (1 MiB, wal-segment-file.ts). A search that asked for a whole window from each
 * stale frame on made the window read again from there, 1 MiB per stale frame (a recycled segment
 * after a clean stop: 80 stale frames, 80 MiB read to scan 7 MB).
 */
const SEARCH_BYTES = 64 * 1024;

/** Offset just past the last non-zero byte of `file` at or after `from` and before `to`, or null. */
function nonZeroEnd(file: SegmentFile, from: number, to: number): number | null {
  for (let chunkEnd = to; chunkEnd > from; chunkEnd -= CHUNK_BYTES) {
    const chunkStart = Math.max(from, chunkEnd - CHUNK_BYTES);
    const chunk = file.view(chunkStart, chunkEnd, true);
    if (chunk.equals(ZEROS.subarray(0, chunk.length))) continue;
    for (let at = chunk.length - 1; at >= 0; at -= 1) if (chunk[at] !== 0) return chunkStart + at + 1;
  }
  return null;
}

/**
 * What readFrame gives for the frame at `offset` of the whole file, read through the file's
 * window: the header first, then the frame as long as its header says (its payload a view valid
 * until the next read of `file`).
 */
function readFrameAt(file: SegmentFile, offset: number): FrameRead {
  const head = file.view(offset, Math.min(file.size, offset + FRAME_HEADER_BYTES));
  // A header that is cut short, zero or without the magic is all readFrame looks at.
  if (head.length < FRAME_HEADER_BYTES || head.readUInt32BE(0) !== FRAME_MAGIC) return readFrame(head, 0);
  const frameEnd = Math.min(file.size, offset + FRAME_HEADER_BYTES + head.readUInt32BE(4));
  const read = readFrame(file.view(offset, frameEnd), 0);
  return read.kind === 'frame' ? { ...read, nextOffset: offset + read.nextOffset } : read;
}

type SegmentFrame = ScannedSegment['frames'][number];

/**
 * What follows the last frame of a segment (at `end`): the offset past its last non-zero byte
 * before the first stale frame (null: zeros only), where every frame found there ends below
 * `bound` (stale). A frame that does not is written after damaged bytes: STORAGE_CORRUPT.
 */
function scanTail(file: SegmentFile, end: number, bound: number, where: string, reason: string): number | null {
  const dirtyEnd = nonZeroEnd(file, end, file.size);
  if (dirtyEnd === null) return null;
  let staleAt: number | null = null;
  for (let at = end; at + 8 <= dirtyEnd;) {
    // Every 8th offset from `end` that holds the magic, found a window at a time.
    const chunk = file.view(at, Math.min(dirtyEnd, at + SEARCH_BYTES));
    let found = -1;
    for (let i = 0; i + 8 <= chunk.length; i += 8) {
      if (chunk.readUInt32BE(i) === FRAME_MAGIC) {
        found = at + i;
        break;
      }
    }
    if (found < 0) {
      at += chunk.length - (chunk.length % 8);
      if (chunk.length < 8) break;
      continue;
    }
    const read = readFrameAt(file, found);
    if (read.kind !== 'frame') {
      at = found + 8;
      continue;
    }
    if (read.firstSeq + read.count - 1 >= bound)
      throw corrupt(
        `${where}: the frame at offset ${end} is damaged (${reason}) but a valid frame follows at offset ${found}`,
      );
    staleAt ??= found;
    at = read.nextOffset;
  }
  return nonZeroEnd(file, end, staleAt ?? dirtyEnd);
}

/**
 * Reads segment `number`: its frames from offset 0 while each continues the one before, then
 * what follows (scanTail). `next` is the record the log continues with, null before the first
 * frame of the log; frames after the segment's own that end below it, or below `appliedSeq` + 1
 * when the log has none yet, are stale. The payload of a frame with records above `appliedSeq`
 * (to replay) is copied out of the file's window; the others are never decoded.
 */
function scanSegment(dir: string, number: number, next: number | null, appliedSeq: number): ScannedSegment {
  const name = segmentName(number);
  const file = SegmentFile.open(join(dir, name));
  try {
    const frames: SegmentFrame[] = [];
    let offset = 0;
    let reason = 'end of segment';
    let after: number | null = null;
    while (offset < file.size) {
      const read = readFrameAt(file, offset);
      if (read.kind !== 'frame') {
        reason = read.kind === 'zero' ? 'zero header' : read.reason;
        break;
      }
      // A frame that does not continue the one before it is left from the file's life as an older segment.
      if (after !== null && read.firstSeq !== after) {
        reason = `record ${read.firstSeq} does not follow record ${after - 1}`;
        break;
      }
      const at = offset;
      const payload = read.firstSeq + read.count - 1 > appliedSeq ? Buffer.from(read.payload) : null;
      frames.push({
        firstSeq: read.firstSeq,
        count: read.count,
        offset: at,
        decode: () => {
          assert(payload !== null, 'only frames with records above the checkpoint are decoded');
          return decodeBatchRecords(payload, read.count, `${name} offset ${at}`);
        },
      });
      after = read.firstSeq + read.count;
      offset = read.nextOffset;
    }
    const bound = after ?? next ?? appliedSeq + 1;
    const dirtyEnd = scanTail(file, offset, bound, join(dir, name), reason);
    return { number, bytes: file.size, frames, end: offset, dirtyEnd, reason };
  } finally {
    file.close();
  }
}

/** Scans every segment in order, each knowing the record the log continues with after the ones before. */
function scanSegments(dir: string, numbers: readonly number[], appliedSeq: number): ScannedSegment[] {
  let next: number | null = null;
  return numbers.map((number) => {
    const segment = scanSegment(dir, number, next, appliedSeq);
    const last = segment.frames[segment.frames.length - 1];
    if (last !== undefined) next = last.firstSeq + last.count;
    return segment;
  });
}

/** The segment numbers in `dir`, in order, after deleting segments left half-created (with `repair`). */
function listSegments(dir: string, repair: boolean): number[] {
  const numbers: number[] = [];
  for (const name of readdirSync(dir)) {
    if (repair && name.endsWith('.log.tmp') && parseSegmentName(name.slice(0, -4)) !== null)
      unlinkSync(join(dir, name));
    const number = parseSegmentName(name);
    if (number !== null) numbers.push(number);
  }
  return numbers.sort((a, b) => a - b);
}

/**
 * Segments are numbered in creation order and deleted oldest first, so the numbers left are
 * consecutive; a gap is a segment lost to something other than the engine (even when the segment
 * after it holds no frame yet, so that the records would otherwise just seem to end there).
 */
function checkConsecutive(dir: string, numbers: readonly number[]): void {
  for (let i = 1; i < numbers.length; i += 1) {
    const previous = numbers[i - 1] ?? 0;
    const number = numbers[i] ?? 0;
    if (number !== previous + 1) {
      throw corrupt(
        `${dir}: log segment ${segmentName(previous + 1)} is missing between ${segmentName(previous)} and ` +
          `${segmentName(number)}`,
      );
    }
  }
}

/**
 * Zeroes the damaged bytes after the active segment's last frame, without a sync of its own (an
 * fdatasync on every start after a clean stop too: the remains of a stale frame that the last
 * frames cut short are such bytes; ~8 ms of a restart). Until the zeros reach the disk, a crash
 * leaves the bytes that were there, or some of them, which this recovery met and handles again;
 * and every frame written from `end` on is synced by the writer, so what a crash can leave is
 * frames, then bytes of those kinds, then stale frames (test/storage/wal/wal-recover.test.ts).
 */
function zeroTail(dir: string, segment: ScannedSegment, dirtyEnd: number): void {
  const fd = openSync(join(dir, segmentName(segment.number)), 'r+');
  try {
    const zeros = Buffer.alloc(dirtyEnd - segment.end);
    writeSync(fd, zeros, 0, zeros.length, segment.end);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads the log in `dir`; see the file comment. Throws STORAGE_CORRUPT or STORAGE_IO. With `repair`
 * false nothing is written (coraft recover's dry run): the torn tail is measured, not zeroed, and
 * no file is deleted.
 */
export function recoverWal(
  dir: string,
  appliedSeq: number,
  repair = true,
  onTorn?: (torn: TornTail) => void,
): RecoveredWal {
  let numbers: number[];
  try {
    numbers = listSegments(dir, repair);
  } catch (error) {
    throw toPersistenceError(error, `cannot read the log in ${dir}`);
  }
  checkConsecutive(dir, numbers);
  let scanned: ScannedSegment[];
  try {
    scanned = scanSegments(dir, numbers, appliedSeq);
  } catch (error) {
    throw toPersistenceError(error, `cannot read the log in ${dir}`);
  }
  // The active segment: the last one holding a frame or damaged bytes.
  let activeAt = -1;
  for (const [i, segment] of scanned.entries())
    if (segment.frames.length > 0 || segment.dirtyEnd !== null) activeAt = i;
  for (const [i, segment] of scanned.entries()) {
    if (segment.dirtyEnd !== null && i < activeAt && !sealedBefore(scanned, i, activeAt)) {
      throw corrupt(
        `${join(dir, segmentName(segment.number))}: the frame at offset ${segment.end} is damaged ` +
          `(${segment.reason}) but later segments hold frames`,
      );
    }
  }
  const records = collectRecords(dir, scanned.slice(0, activeAt + 1), appliedSeq);
  const active = scanned[activeAt];
  let tornBytes = 0;
  try {
    if (active !== undefined && active.dirtyEnd !== null) {
      tornBytes = active.dirtyEnd - active.end;
      if (repair) zeroTail(dir, active, active.dirtyEnd);
      const file = join(dir, segmentName(active.number));
      if (repair) onTorn?.({ file, offset: active.end, bytes: tornBytes, reason: active.reason });
    }
    // Segments past the active one hold only zeros (created ahead of use).
    if (repair) for (const segment of scanned.slice(activeAt + 1)) unlinkSync(join(dir, segmentName(segment.number)));
  } catch (error) {
    throw toPersistenceError(error, `cannot repair the log in ${dir}`);
  }
  if (active === undefined) return { start: null, records: records.records, lastSeq: appliedSeq, tornBytes };
  const segments: SegmentInfo[] = scanned.slice(0, activeAt + 1).map((segment) => {
    const last = segment.frames[segment.frames.length - 1];
    return { number: segment.number, lastSeq: last === undefined ? null : last.firstSeq + last.count - 1 };
  });
  return {
    start: { segments, activeOffset: active.end, activeBytes: active.bytes },
    records: records.records,
    lastSeq: records.lastSeq,
    tornBytes,
  };
}

/**
 * True when segment `i` (before the active one) was left by the writer for the next: it holds
 * frames, and the next segment's first frame continues its last, or the next is the active one
 * with no whole frame (its first frame torn). The bytes past such a segment's last frame are not
 * the log's: a frame that did not fit went to the next segment, and a recycled file keeps the
 * remains of its earlier life's frames there, which need not start on a frame boundary. Damage
 * to its last frame would lose records, which the next segment's first frame then does not
 * continue (and damage before its last frame is followed by a frame of the log: scanTail).
 */
function sealedBefore(scanned: readonly ScannedSegment[], i: number, activeAt: number): boolean {
  const segment = scanned[i];
  const last = segment?.frames[segment.frames.length - 1];
  const next = scanned[i + 1];
  if (last === undefined || next === undefined) return false;
  const first = next.frames[0];
  if (first === undefined) return i + 1 === activeAt;
  return first.firstSeq === last.firstSeq + last.count;
}

function collectRecords(
  dir: string,
  scanned: readonly ScannedSegment[],
  appliedSeq: number,
): { records: RecoveredRecord[]; lastSeq: number } {
  const records: RecoveredRecord[] = [];
  let expected: number | null = null;
  for (const segment of scanned) {
    for (const frame of segment.frames) {
      const where = `${join(dir, segmentName(segment.number))} offset ${frame.offset}`;
      if (expected === null && frame.firstSeq > appliedSeq + 1) {
        throw corrupt(
          `${where}: the log starts at record ${frame.firstSeq} but the store holds records up to ${appliedSeq} ` +
            `only: records are missing`,
        );
      }
      if (expected !== null && frame.firstSeq !== expected)
        throw corrupt(`${where}: frame starts at record ${frame.firstSeq}, expected ${expected}`);
      expected = frame.firstSeq + frame.count;
      if (expected - 1 <= appliedSeq) continue;
      const batches = frame.decode();
      assert(batches.length === frame.count, 'a frame decodes to its record count');
      for (const [i, batch] of batches.entries())
        if (frame.firstSeq + i > appliedSeq) records.push({ seq: frame.firstSeq + i, batch });
    }
  }
  const lastSeq = expected === null ? appliedSeq : expected - 1;
  if (lastSeq < appliedSeq)
    throw corrupt(
      `${dir}: the log ends at record ${lastSeq} but the store holds records up to ${appliedSeq}: log segments are ` +
        `missing`,
    );
  return { records, lastSeq };
}
