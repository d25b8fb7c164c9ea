/**
 * A log segment read for recovery (wal-recover.ts) through one window of {@link WINDOW_BYTES}
 * that is refilled as the reader moves, instead of the whole file at once: a segment is 16 MiB
 * by default, and reading it whole faulted in a fresh 16 MiB buffer on every start (issue 17:
 * restart on data ≤ 300 ms; about 8 ms of a restart, and 16 MiB more resident while it ran).
 * A view is valid until the next call: a caller that keeps bytes (a frame's payload to replay)
 * copies them.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { PersistenceError } from '../../contracts/errors.js';

/** Bytes read at once; a view larger than this (a large frame) gets a window of its own size. */
export const WINDOW_BYTES = 1024 * 1024;

/** One segment file open for reading; see the module comment. */
export class SegmentFile {
  /** The file's size, bytes. */
  readonly size: number;
  private window: Buffer;
  /** The file offset of window[0] and how many bytes from there the window holds. */
  private windowStart = 0;
  private windowBytes = 0;

  private constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly windowBytesMin: number,
  ) {
    this.size = fstatSync(fd).size;
    this.window = Buffer.allocUnsafeSlow(Math.min(windowBytesMin, Math.max(this.size, 1)));
  }

  /** Opens `path` to read through windows of `windowBytes` (tests: small ones); throws what the fs does. */
  static open(path: string, windowBytes: number = WINDOW_BYTES): SegmentFile {
    const fd = openSync(path, 'r');
    try {
      return new SegmentFile(fd, path, windowBytes);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /**
   * The bytes [from, to) of the file (0 <= from <= to <= size) as a view valid until the next
   * call. A refill reads forward from `from`, or with `backward` (a reader going towards the
   * file's start) the window that ends at `to`.
   */
  view(from: number, to: number, backward = false): Buffer {
    if (from < 0 || to < from || to > this.size)
      throw new PersistenceError('STORAGE_IO', `${this.path}: read of [${from}, ${to}) outside the file`);
    if (from < this.windowStart || to > this.windowStart + this.windowBytes) this.fill(from, to, backward);
    return this.window.subarray(from - this.windowStart, to - this.windowStart);
  }

  private fill(from: number, to: number, backward: boolean): void {
    const bytes = Math.max(to - from, Math.min(this.windowBytesMin, this.size));
    if (bytes > this.window.length) this.window = Buffer.allocUnsafeSlow(bytes);
    const start = backward ? Math.max(0, to - bytes) : Math.min(from, this.size - bytes);
    let read = 0;
    while (read < bytes) {
      const n = readSync(this.fd, this.window, read, bytes - read, start + read);
      if (n === 0)
        throw new PersistenceError('STORAGE_IO', `${this.path}: the file ended at ${start + read} while it was read`);
      read += n;
    }
    this.windowStart = start;
    this.windowBytes = bytes;
  }

  close(): void {
    closeSync(this.fd);
  }
}
