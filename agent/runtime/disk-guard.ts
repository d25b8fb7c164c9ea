/**
 * The full-disk guard (issue 19): client writes are refused before they are proposed while the
 * file system of the data folder has less than `diskReserveBytes` free, so the log stops growing
 * while the reserve still holds what Raft itself must write (votes, terms, configuration and
 * admin entries, snapshots). Reads go on being served. Once space is freed the guard sees it at
 * the next reading and writes resume. It is the NOSPACE alarm of the disk in /status and the
 * `storage_alarm{alarm="NOSPACE"}` gauge.
 *
 * Why before proposing: an entry refused at apply still takes room in the log, and a write the
 * disk cannot hold fails the persist, which stops the node (nothing acknowledged is lost, the
 * engine refuses the write before anything is torn: storage/wal, storage/lmdb). A refused write
 * was never proposed, so its client is told it was not done (4.13, `disk full: ...`).
 *
 * The reading is the file system's free space for unprivileged users (statfs f_bavail), taken at
 * most once per `refreshMs`: a write costs one statfs call at most that often.
 */
import { statfsSync } from 'node:fs';
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { Metrics } from '../../contracts/metrics.js';
import { assert } from '../../contracts/assert.js';
import { describeError } from '../../contracts/errors.js';

/** Decides whether a client write may be proposed now. */
export interface WriteGate {
  /** Null when writes may go on; otherwise why they are refused (the diagnostic the client gets). */
  writeRefusal(): string | null;
}

/** Reads a file system's free bytes (statfs f_bavail × f_bsize). */
export type FreeBytesReader = (path: string) => number;

/** The real reader: statfs(2) of `path`. */
export function statfsFreeBytes(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

/** Settings of the guard. */
export interface DiskGuardOptions {
  /** The data folder. */
  readonly path: string;
  /** Free bytes below which client writes are refused; 0 turns the guard off. Limit: 0 to 2^40. */
  readonly reserveBytes: number;
  /** Longest a reading is reused by a write, ms. Limit: 1 and up. */
  readonly refreshMs: number;
  /**
   * How often the free space is read with no write asking, so the alarm and its gauge follow the
   * disk at rest, ms; `refreshMs` when absent. Limit: 1 and up.
   */
  readonly pollMs?: number;
}

/** Refuses client writes while the data folder's file system is nearly full; see the module comment. */
export class DiskGuard implements WriteGate {
  private freeBytes = Number.MAX_SAFE_INTEGER;
  private readAtMs = Number.NEGATIVE_INFINITY;
  private full = false;
  private timer: TimerHandle | null = null;

  constructor(
    private readonly options: DiskGuardOptions,
    private readonly deps: {
      readonly clock: Timers;
      readonly logger: DiagnosticLogger;
      readonly metrics: Metrics;
      readonly freeBytes?: FreeBytesReader;
    },
  ) {
    assert(Number.isSafeInteger(options.reserveBytes) && options.reserveBytes >= 0, 'the reserve is a byte count');
    assert(options.refreshMs >= 1, 'the refresh interval is positive');
    assert((options.pollMs ?? 1) >= 1, 'the poll interval is positive');
  }

  /** Reads the free space every poll interval, so the alarm and its gauge follow the disk without writes. */
  start(): void {
    this.timer = this.deps.clock.setTimer(this.options.pollMs ?? this.options.refreshMs, () => {
      this.refresh();
      if (this.timer !== null) this.start();
    });
  }

  /** Stops the periodic reading. */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** Whether the disk's NOSPACE alarm is raised (refreshing the reading when it is old). */
  isFull(): boolean {
    this.refresh();
    return this.full;
  }

  writeRefusal(): string | null {
    if (!this.isFull()) return null;
    return (
      `disk full: ${this.freeBytes} bytes free in ${this.options.path}, below the reserve of ` +
      `${this.options.reserveBytes} bytes (NOSPACE); writes resume once space is freed`
    );
  }

  private refresh(): void {
    if (this.options.reserveBytes === 0) return;
    const now = this.deps.clock.nowMs();
    if (now - this.readAtMs < this.options.refreshMs) return;
    this.readAtMs = now;
    try {
      this.freeBytes = (this.deps.freeBytes ?? statfsFreeBytes)(this.options.path);
    } catch (error) {
      // The folder cannot be read: the engine's own errors will say why; the reading stays as it was.
      this.deps.logger.warning('cannot read the free space of the data folder', { error: describeError(error) });
      return;
    }
    const full = this.freeBytes < this.options.reserveBytes;
    if (full === this.full) return;
    this.full = full;
    this.deps.metrics.setGauge('storage_alarm', full ? 1 : 0, { alarm: 'NOSPACE' });
    const fields = { path: this.options.path, freeBytes: this.freeBytes, reserveBytes: this.options.reserveBytes };
    if (full) this.deps.logger.error('disk nearly full: refusing client writes (NOSPACE)', fields);
    else this.deps.logger.info('disk space freed: client writes resume', fields);
  }
}
