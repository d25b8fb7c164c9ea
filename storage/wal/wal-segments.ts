/**
 * The segment files of the write-ahead log and the writer that appends frames to them.
 *
 * A segment is `wal-<16 hex digits>.log` in the data directory, numbered in the order it was
 * created. Appends go only into space that was zero-filled and synced ahead of them
 * (wal-prealloc.ts): a segment is created with a first small step of zeros under a `.tmp` name
 * and renamed into place, then grows in steps (zeros written on the event loop, synced on
 * libuv's thread pool) while appends continue below the growing end, up to walSegmentBytes.
 * Appends therefore never change the file's size, and fdatasync has no file-size or block-map
 * metadata to flush.
 *
 * A frame never spans two segments: one that does not fit in what is left of the active
 * segment goes to the next one, and the rest of the active one stays as it was.
 *
 * Recycling. A segment wholly below the checkpoint is not deleted when no spare is kept: it is
 * renamed `wal-spare.log`, and the next segment is made of it (its first frame zeroed and
 * synced, then renamed into place; wal-prealloc.ts recycleFile) instead of a new file zero-filled
 * step by step. Under load that zero fill wrote as many bytes as the appends (a 4 KiB write was
 * written twice to the log's device, zeros then data); a recycled file is written once per use.
 * What the file held before stays past the new frames: stale frames, whose sequence numbers are
 * below every record written since (they were checkpointed before the file was recycled), which
 * recovery (wal-recover.ts) tells from the log and from damage. A spare is only ever one this
 * writer kept: one found when the log opens is deleted. The active segment
 * is open with O_DSYNC, so each append is one pwrite that returns once the frame is on disk
 * (the guarantee of write + fdatasync in one system call, measured 5-15% faster here), and the
 * next starts only after it returned, so a crash can tear at most the last frame of the log
 * (see wal-recover.ts).
 */
import {
  closeSync,
  constants,
  ftruncateSync,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
  writev,
  writevSync,
} from 'node:fs';
import { join } from 'node:path';
import { PersistenceError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import { toPersistenceError } from '../lmdb/lmdb-errors.js';
import type { WalSyncMode } from './wal-options.js';
import { FRAME_HEADER_BYTES, FRAME_MAGIC, padded } from './wal-frame.js';
import { AutoSyncPolicy } from './wal-sync-policy.js';
import { GROW_BYTES_MIN, createZeroFile, growFile, grownCapacity, recycleFile } from './wal-prealloc.js';

const NAME_PATTERN = /^wal-([0-9a-f]{16})\.log$/;

/** The file name of the spare segment: a segment below the checkpoint kept to be recycled as the next one. */
export const SPARE_SEGMENT_NAME = 'wal-spare.log';

/** The file name of segment `number`. */
export function segmentName(number: number): string {
  assert(Number.isSafeInteger(number) && number >= 1, `segment number ${number} is a positive integer`);
  return `wal-${number.toString(16).padStart(16, '0')}.log`;
}

/** The segment number a file name carries, or null for any other file. */
export function parseSegmentName(name: string): number | null {
  const match = NAME_PATTERN.exec(name);
  return match?.[1] === undefined ? null : Number.parseInt(match[1], 16);
}

/** A segment and the sequence numbers of the records it holds. */
export interface SegmentInfo {
  readonly number: number;
  /** Last sequence number of a record in the segment, or null while it holds none. */
  lastSeq: number | null;
}

/** Creates segment `number` in `dir` with its first step of zeros, durably, off the event loop. */
export async function createSegment(dir: string, number: number, bytes: number): Promise<void> {
  await createZeroFile(dir, segmentName(number), Math.min(bytes, GROW_BYTES_MIN));
}

/**
 * Bytes to zero at the start of a file to be recycled, from its first RECYCLE_HEADER_BYTES: its
 * first frame when they are a frame header, else the first eight (so that it reads as no frame).
 */
export function firstFrameBytes(header: Buffer): number {
  if (header.length < FRAME_HEADER_BYTES || header.readUInt32BE(0) !== FRAME_MAGIC) return 8;
  return padded(FRAME_HEADER_BYTES + header.readUInt32BE(4));
}

/** A segment prepared ahead of use: its preallocated bytes, or what stopped it. */
type Prepared = { readonly bytes: number } | { readonly error: unknown };

/** Flags of the active segment: every write is durable when it returns. */
const ACTIVE_FLAGS = constants.O_RDWR | constants.O_DSYNC;

function writeInBackground(fd: number, parts: readonly Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    writev(fd, parts, position, (error, written) => {
      if (error === null) resolve(written);
      else reject(error);
    });
  });
}

/** Where the writer resumes: the active segment and the offset after its last frame. */
export interface WriterStart {
  readonly segments: readonly SegmentInfo[];
  readonly activeOffset: number;
  readonly activeBytes: number;
}

/** Appends frames to the active segment, moving to a new one when it is full. */
export class SegmentWriter {
  /** Invariant: segments are in number order; the last one is the active segment. */
  private readonly segments: SegmentInfo[];
  private fd: number;
  private offset: number;
  /** Invariant: the preallocated (zero-filled and synced) size of the active segment; offset <= capacity. */
  private capacity: number;
  /** The growth of the active segment under way: resolves to null once done, or to the error that stopped it. */
  private growing: Promise<unknown> | null = null;
  /** The next segment being created or recycled; never rejects. */
  private next: Promise<Prepared> | null = null;
  /** True while `wal-spare.log` exists (a segment this writer kept to be recycled). */
  private hasSpare: boolean;
  private closed = false;
  /** Inline or on the pool, in `auto` sync mode (wal-sync-policy.ts). */
  private readonly autoSync = new AutoSyncPolicy();

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly syncMode: WalSyncMode,
    start: WriterStart,
  ) {
    assert(start.segments.length > 0, 'the writer starts with an active segment');
    this.segments = start.segments.slice();
    this.fd = openSync(join(dir, segmentName(this.active().number)), ACTIVE_FLAGS);
    this.offset = start.activeOffset;
    this.capacity = start.activeBytes;
    // A spare left by an earlier run is deleted, not used: only a segment this writer saw reach the
    // checkpoint is recycled, so that its stale records are certainly below every record to come.
    rmSync(join(dir, SPARE_SEGMENT_NAME), { force: true });
    this.hasSpare = false;
  }

  /** Opens the writer at `start`, or on a new first segment when `start` has none. */
  static async open(
    dir: string,
    segmentBytes: number,
    syncMode: WalSyncMode,
    start: WriterStart | null,
  ): Promise<SegmentWriter> {
    if (start !== null) return new SegmentWriter(dir, segmentBytes, syncMode, start);
    await createSegment(dir, 1, segmentBytes);
    return new SegmentWriter(dir, segmentBytes, syncMode, {
      segments: [{ number: 1, lastSeq: null }],
      activeOffset: 0,
      activeBytes: Math.min(segmentBytes, GROW_BYTES_MIN),
    });
  }

  private active(): SegmentInfo {
    const last = this.segments[this.segments.length - 1];
    assert(last !== undefined, 'there is an active segment');
    return last;
  }

  /**
   * Writes a frame of `bytes` bytes, given as the pieces `parts` (written in order with one
   * gathered write; records up to `lastSeq`), and resolves once it is synced; `single` says
   * that it holds a single write whose caller does nothing meanwhile (see walSyncMode `auto`).
   */
  async append(parts: readonly Uint8Array[], bytes: number, lastSeq: number, single: boolean): Promise<void> {
    assert(!this.closed, 'append on a closed log');
    assert(bytes <= this.segmentBytes, `frame of ${bytes} bytes fits a segment`);
    assert(parts.reduce((sum, part) => sum + part.length, 0) === bytes, 'the parts of a frame add up to its bytes');
    // A frame never goes past the space made: a new segment starts with its first step of zeros
    // only, and a growth zero-fills from the old capacity, so a frame written past it would be
    // zeroed after it was acknowledged. After a rotation the frame may still need a growth.
    if (this.offset + bytes > this.segmentBytes) await this.rotate();
    if (this.offset + bytes > this.capacity) await this.grow(bytes);
    const at = this.offset;
    const started = performance.now();
    const inline = this.syncInline(single);
    let written: number;
    try {
      written = inline ? writevSync(this.fd, parts, at) : await writeInBackground(this.fd, parts, at);
    } catch (error) {
      throw toPersistenceError(
        error,
        `append to ${join(this.dir, segmentName(this.active().number))} at offset ${at} failed`,
        this.dir,
      );
    }
    this.autoSync.record(inline, performance.now() - started);
    // A short write leaves part of a frame on disk: the log cannot go on past it, so the
    // engine fails, and recovery treats the part as a torn tail.
    if (written !== bytes)
      throw new PersistenceError(
        'STORAGE_IO',
        `append to ${segmentName(this.active().number)} wrote ${written} of ${bytes} bytes`,
      );
    this.offset = at + bytes;
    this.active().lastSeq = lastSeq;
    this.maybePrepareAhead();
  }

  /** Starts growing the active segment, or creating the next one, once the write position passes half its space. */
  private maybePrepareAhead(): void {
    if (this.offset * 2 <= this.capacity) return;
    if (this.capacity < this.segmentBytes) {
      // Never rejects; after a failure the append that needs the space grows again and fails if that fails.
      if (this.growing === null) void this.startGrowth(grownCapacity(this.capacity, this.offset, 0, this.segmentBytes));
    } else if (this.next === null) {
      this.next = this.prepare(this.active().number + 1);
    }
  }

  /** Grows the active segment until `needBytes` more fit past the write position. */
  private async grow(needBytes: number): Promise<void> {
    while (this.offset + needBytes > this.capacity) {
      const growth =
        this.growing ?? this.startGrowth(grownCapacity(this.capacity, this.offset, needBytes, this.segmentBytes));
      const failure = await growth;
      if (failure !== null)
        throw toPersistenceError(failure, `growing log segment ${segmentName(this.active().number)} failed`, this.dir);
    }
  }

  private startGrowth(target: number): Promise<unknown> {
    assert(target > this.capacity, `segment growth to ${target} is beyond ${this.capacity}`);
    const number = this.active().number;
    const growth = growFile(join(this.dir, segmentName(number)), this.capacity, target).then(
      () => {
        if (this.active().number === number) this.capacity = Math.max(this.capacity, target);
        return null;
      },
      (error: unknown) => error ?? new Error('segment growth failed'),
    );
    this.growing = growth;
    void growth.then(() => {
      if (this.growing === growth) this.growing = null;
    });
    return growth;
  }

  private syncInline(single: boolean): boolean {
    switch (this.syncMode) {
      case 'inline':
        return true;
      case 'background':
        return false;
      case 'auto':
        return this.autoSync.inline(single);
    }
  }

  /** Makes segment `number`: of the spare when there is one, else a new file with its first step of zeros. */
  private prepare(number: number): Promise<Prepared> {
    const made = this.hasSpare
      ? this.recycle(number)
      : createSegment(this.dir, number, this.segmentBytes).then(() => Math.min(this.segmentBytes, GROW_BYTES_MIN));
    return made.then(
      (bytes) => ({ bytes: Math.min(this.segmentBytes, bytes) }),
      (error: unknown) => ({ error: error ?? new Error('segment creation failed') }),
    );
  }

  /** Makes segment `number` of the spare: renamed to its `.tmp` name (recovery deletes one), then recycled. */
  private async recycle(number: number): Promise<number> {
    const temporary = `${segmentName(number)}.tmp`;
    this.hasSpare = false;
    renameSync(join(this.dir, SPARE_SEGMENT_NAME), join(this.dir, temporary));
    return recycleFile(this.dir, temporary, segmentName(number), firstFrameBytes);
  }

  private async rotate(): Promise<void> {
    // A growth of the segment being left behind matters to no one, but must not outlive it.
    if (this.growing !== null) await this.growing;
    const number = this.active().number + 1;
    const next = this.next ?? this.prepare(number);
    this.next = null;
    const prepared = await next;
    if ('error' in prepared)
      throw toPersistenceError(
        prepared.error,
        `creating log segment ${segmentName(number)} in ${this.dir} failed`,
        this.dir,
      );
    const fd = openSync(join(this.dir, segmentName(number)), ACTIVE_FLAGS);
    closeSync(this.fd);
    this.fd = fd;
    this.segments.push({ number, lastSeq: null });
    this.offset = 0;
    this.capacity = prepared.bytes;
  }

  /**
   * Deletes every segment but the active one whose records are all at or below `seq`; the first
   * of them is kept as the spare when there is none.
   */
  deleteThrough(seq: number): number {
    let deleted = 0;
    while (this.segments.length > 1) {
      const oldest = this.segments[0];
      if (oldest === undefined || (oldest.lastSeq !== null && oldest.lastSeq > seq)) break;
      // An unlink or rename lost to a power cut only brings back records the checkpoint already holds.
      const path = join(this.dir, segmentName(oldest.number));
      if (this.hasSpare) unlinkSync(path);
      else renameSync(path, join(this.dir, SPARE_SEGMENT_NAME));
      this.hasSpare = true;
      this.segments.shift();
      deleted += 1;
    }
    return deleted;
  }

  /**
   * Closes the active segment, after any segment being created is complete, and leaves the log
   * ending at its last frame (the engine closes the writer once no append is in flight): the active
   * segment is cut at the write position, and the next segment, made ahead of use, is deleted. Past
   * the write position a recycled segment holds the remains of its earlier life's frames, and the
   * next segment only those: recovery reads and checks every one of them to tell them from the log
   * (16 MiB for the next segment alone, wal-recover.ts scanTail) and then deletes the next segment
   * anyway. The writer knows they hold no frame of the log, so a clean stop removes them and the
   * next start has nothing to scan there (issue 17: restart on data). Neither change is synced: a
   * crash before they reach the disk leaves the files as they were, which recovery reads as before.
   * The space cut off is zero-filled again when the log grows into it (wal-prealloc.ts).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A failure to create the next segment matters only to a write that needs it.
    const prepared = this.next;
    if (prepared !== null) await prepared;
    if (this.growing !== null) await this.growing;
    try {
      // A segment without a frame stays as it is: recovery would delete an empty one, and the writer make it again.
      if (this.offset > 0) ftruncateSync(this.fd, this.offset);
      if (prepared !== null) rmSync(join(this.dir, segmentName(this.active().number + 1)), { force: true });
    } catch (error) {
      throw toPersistenceError(error, `ending the log in ${this.dir} at its last frame failed`, this.dir);
    } finally {
      closeSync(this.fd);
    }
  }
}
