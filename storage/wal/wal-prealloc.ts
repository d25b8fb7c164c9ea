/**
 * Preallocation of log segments: the space an append will overwrite is zero-filled and synced
 * ahead of it, so that an append never changes the file's size or block map and its sync
 * (O_DSYNC) flushes data only, with no journal commit. Measured on ext4, an append of 1 KiB
 * into preallocated space costs about 4.7 KiB on the device, one that extends the file 16-38 KiB.
 *
 * Lazily and in steps. A segment is created with GROW_BYTES_MIN of zeros and grows in steps that
 * double up to GROW_BYTES_MAX while it fills, up to walSegmentBytes; so a new or idle agent has
 * written 64 KiB of log, not a whole segment (it used to be 16 MiB at start-up), and nothing at
 * all while idle. Growth is synced on libuv's thread pool while appends continue below it.
 *
 * In page-sized writes. Linux's page cache (ext4 with large folios, Linux 6.16 and later) sizes a
 * folio after the write that created it, and a later write into a folio dirties, and accounts to
 * the process as written (/proc/PID/io write_bytes), the whole folio. Zeros written 1 MiB at a
 * time made every small synced append count 1 MiB (write amplification of 3,500 for single
 * 300-byte writes, 110 with 64 writers, against 4.7 KiB per append on the device). Zeros written
 * one page at a time keep every folio a page: an append dirties only the pages it touches.
 *
 * Node has no fallocate(2); it would allocate without writing, but as unwritten extents, whose
 * conversion on first write is again a journal commit per sync.
 */
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { PersistenceError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import { fdatasyncAsync, fstatAsync, readAsync, renameAsync, syncDirectory, withFile } from '../file-async.js';

/** Bytes of one zero-filling write: a page, so that the page cache keeps page-sized folios. */
export const ZERO_WRITE_BYTES = 4096;
/**
 * Zero-filling writes in one event-loop turn (64 KiB, some 70 microseconds): a fill gives the
 * event loop a turn after each such run, so the answers and appends ready meanwhile go first.
 * A 1 MiB step written in one go held the loop about a millisecond, and 13-20 ms on a loaded
 * machine (traced at 1 client x 4 KiB, where a segment grows every half second).
 */
export const ZERO_WRITES_PER_TURN = 16;
/** Size of a new segment, bytes: its first step of preallocated space. */
export const GROW_BYTES_MIN = 64 * 1024;
/** Largest step a segment grows by, bytes (a frame larger than it gets a step of its size). */
export const GROW_BYTES_MAX = 1024 * 1024;

const ZEROS = Buffer.alloc(ZERO_WRITE_BYTES);

/**
 * Writes zeros over `from`..`to` of file `fd` one page at a time (page-aligned), then syncs its
 * data. The writes only fill the page cache (about a millisecond per MiB), so they run on the
 * event loop, ZERO_WRITES_PER_TURN to a turn: hundreds of page-sized jobs on libuv's four-thread
 * pool would queue behind the log's own syncs under load, and appends that reach the end of the
 * space would wait for them. The sync, the slow part, runs on the pool.
 */
export async function zeroFill(fd: number, from: number, to: number): Promise<void> {
  assert(Number.isSafeInteger(from) && from >= 0 && from <= to, `zero fill of ${from}..${to} is a range`);
  for (let at = from, writes = 0; at < to; writes += 1) {
    if (writes > 0 && writes % ZERO_WRITES_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const end = Math.min(to, (Math.floor(at / ZERO_WRITE_BYTES) + 1) * ZERO_WRITE_BYTES);
    const written = writeSync(fd, ZEROS, 0, end - at, at);
    // A short write to a regular file: the file system is full or the file size limit is reached.
    if (written !== end - at)
      throw new PersistenceError('STORAGE_FULL', `zero fill wrote ${written} of ${end - at} bytes at offset ${at}`);
    at = end;
  }
  await fdatasyncAsync(fd);
}

/**
 * The size a segment of `capacity` bytes grows to so that `needBytes` more fit past `offset`:
 * the next doubling step (GROW_BYTES_MIN to GROW_BYTES_MAX), or more when the frame needs it,
 * in whole pages, never beyond `segmentBytes`.
 */
export function grownCapacity(capacity: number, offset: number, needBytes: number, segmentBytes: number): number {
  const step = Math.min(GROW_BYTES_MAX, Math.max(GROW_BYTES_MIN, capacity));
  const wanted = Math.max(capacity + step, offset + needBytes);
  const paged = Math.ceil(wanted / ZERO_WRITE_BYTES) * ZERO_WRITE_BYTES;
  return Math.min(segmentBytes, paged);
}

/**
 * Creates `name` in `dir` with `bytes` zeros (its first preallocation step), durably, off the
 * event loop: zero-filled under a `.tmp` name, synced, renamed, and the directory synced.
 */
export async function createZeroFile(dir: string, name: string, bytes: number): Promise<void> {
  const path = join(dir, name);
  const temporary = `${path}.tmp`;
  await withFile(temporary, 'w', 0o600, (fd) => zeroFill(fd, 0, bytes));
  await renameAsync(temporary, path);
  await syncDirectory(dir);
}

/** Bytes read from the start of a file to be recycled: a frame header (wal-frame.ts). */
export const RECYCLE_HEADER_BYTES = 24;

/**
 * Turns `temporary` in `dir`, the file of a deleted segment, into segment file `name` (a
 * recycled segment), durably: the first `zeroBytes(header)` bytes (its first frame, as that
 * function reads it from the file's first RECYCLE_HEADER_BYTES) are zeroed and synced, then the
 * file is renamed and the directory synced. The rest stays: stale frames, which recovery tells by
 * their sequence numbers (wal-recover.ts); the zeroed start tells a recycled segment that holds
 * no frame yet from a continuation of the log. Resolves with the file's size: all of it is space
 * an append may use without changing the file's size, written once already, so no zero fill.
 */
export async function recycleFile(
  dir: string,
  temporary: string,
  name: string,
  zeroBytes: (header: Buffer) => number,
): Promise<number> {
  const size = await withFile(join(dir, temporary), 'r+', undefined, async (fd) => {
    const fileBytes = (await fstatAsync(fd)).size;
    const header = Buffer.alloc(RECYCLE_HEADER_BYTES);
    await readAsync(fd, header, header.length, 0);
    await zeroFill(fd, 0, Math.min(fileBytes, zeroBytes(header)));
    return fileBytes;
  });
  await renameAsync(join(dir, temporary), join(dir, name));
  await syncDirectory(dir);
  return size;
}

/** Grows the file `path` from `from` to `to` bytes of zeros and syncs it, off the event loop. */
export async function growFile(path: string, from: number, to: number): Promise<void> {
  await withFile(path, 'r+', undefined, (fd) => zeroFill(fd, from, to));
}
