/**
 * The commit marker (`<dataDir>/commit-index.json`): the highest log index this node has applied,
 * so known to be committed, written from time to time and when the agent stops. Raft keeps the
 * commit index in memory only (a node learns it again from the leader); `coraft recover
 * --force-new-cluster` has no leader to learn it from, and needs it to tell the entries it must
 * keep (committed) from those it may drop (recover.ts). etcd keeps it in its WAL's HardState for
 * the same reason.
 *
 * The marker may lag behind the truth (by at most one write interval after a crash, never after
 * a clean stop), never run ahead of it: it only ever names an applied entry, and every applied
 * entry is committed and on this node's disk. A lagging marker makes recover keep fewer entries
 * than it could, which it reports. Written durably (temporary file, fsync, rename, folder fsync),
 * on libuv's thread pool while the agent runs: written from the event loop, its two fsyncs held
 * every request of the agent for their length once a second (13 ms at the median on a busy disk,
 * the tail of single-client writes, issue 16). The last write, at stop, waits for one in flight.
 */
import { constants } from 'node:fs';
import { join } from 'node:path';
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import type { LogIndex } from '../../contracts/log.js';
import { assert } from '../../contracts/assert.js';
import { PersistenceError } from '../../contracts/errors.js';
import { writeFileDurably } from '../config/secret-files.js';
import { readDataFile } from './data-dir.js';
import { fsyncAsync, renameAsync, rmAsync, syncDirectory, withFile, writeTextAsync } from '../../storage/file-async.js';

/** The marker's file name in the data folder. */
export const COMMIT_MARKER_FILE = 'commit-index.json';
/** Most bytes of a marker file read (it holds one small JSON object). */
const MARKER_BYTES_MAX = 4096;

/** Reads the marker of `dataDir`: the applied index it names, or null when there is none. Throws STORAGE_CORRUPT. */
export function readCommitMarker(dataDir: string): LogIndex | null {
  const file = readDataFile(dataDir, COMMIT_MARKER_FILE);
  if (file === null) return null;
  const { path, text } = file;
  const index = markerIndexOf(text);
  if (typeof index === 'string')
    throw new PersistenceError('STORAGE_CORRUPT', `${path} ${index}; it should hold {"appliedIndex": <log index>}`);
  return index;
}

/** The applied index a marker's text names, or what is wrong with it. */
function markerIndexOf(text: string): LogIndex | string {
  if (text.trim().length === 0) return 'is empty';
  if (text.length > MARKER_BYTES_MAX)
    return `is ${text.length} characters long, more than a marker's ${MARKER_BYTES_MAX}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Written atomically (temporary file, rename), so damaged on disk, edited, or another file.
    return 'is not JSON (damaged on disk, or edited by hand)';
  }
  const index: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'appliedIndex') : null;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0)
    return 'holds no "appliedIndex" that is a log index (an integer of 0 or more)';
  return index;
}

/** Writes the marker of `dataDir` durably. */
export function writeCommitMarker(dataDir: string, appliedIndex: LogIndex): void {
  assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0, 'the marker names a log index');
  writeFileDurably(join(dataDir, COMMIT_MARKER_FILE), `${JSON.stringify({ appliedIndex })}\n`, 0o600);
}

/**
 * Writes the marker of `dataDir` durably without blocking the event loop (the file operations
 * run on libuv's thread pool); its temporary file is not writeCommitMarker's.
 */
export async function writeCommitMarkerInBackground(dataDir: string, appliedIndex: LogIndex): Promise<void> {
  assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0, 'the marker names a log index');
  const path = join(dataDir, COMMIT_MARKER_FILE);
  const temporary = `${path}.${process.pid}.background.tmp`;
  await rmAsync(temporary, { force: true });
  try {
    await withFile(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600, async (fd) => {
      await writeTextAsync(fd, `${JSON.stringify({ appliedIndex })}\n`);
      await fsyncAsync(fd);
    });
    await renameAsync(temporary, path);
  } catch (error) {
    await rmAsync(temporary, { force: true });
    throw error;
  }
  await syncDirectory(dataDir);
}

/** Keeps the marker of a running agent; see the module comment. */
export class CommitMarker {
  /**
   * Invariant: never decreases, and never below the marker found on disk: after a restart the
   * node re-applies from its snapshot, and a node that cannot reach a quorum applies nothing, so
   * the marker must keep what an earlier run recorded (recover relies on it then).
   */
  private applied: LogIndex;
  private written: LogIndex;
  private timer: TimerHandle | null = null;
  private running = false;
  /** The background write in flight (it never rejects: a failure goes to onWriteError). */
  private writing: Promise<void> | null = null;

  /** Reads the marker on disk; a damaged one is reported to `onWriteError` and replaced as entries apply. */
  constructor(
    private readonly dataDir: string,
    private readonly timers: Timers,
    /** How often a changed marker is written, ms. */
    private readonly intervalMs: number,
    /** Told when a write fails (a full disk): the marker is a hint, so the agent carries on. */
    private readonly onWriteError: (error: unknown) => void,
  ) {
    assert(intervalMs >= 1, 'the marker interval is positive');
    let found: LogIndex = 0;
    try {
      found = readCommitMarker(dataDir) ?? 0;
    } catch (error) {
      // The marker is a hint for recover: a damaged one must not keep the agent from starting.
      onWriteError(error);
    }
    this.applied = found;
    this.written = found;
  }

  /** Notes an applied entry (cheap: the file is written on the next interval). */
  noteApplied(index: LogIndex): void {
    if (index <= this.applied) return;
    this.applied = index;
    this.armIfBehind();
  }

  /** Starts the periodic write: one interval after a change, so an idle agent sets no timer. */
  start(): void {
    this.running = true;
    this.armIfBehind();
  }

  /** Stops the periodic write and writes the marker one last time (after a write in flight). */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    await this.writing;
    if (this.applied === this.written) return;
    try {
      writeCommitMarker(this.dataDir, this.applied);
      this.written = this.applied;
    } catch (error) {
      this.onWriteError(error);
    }
  }

  /** Arms the one write timer while the marker on disk is behind (a failed write is tried again). */
  private armIfBehind(): void {
    if (!this.running || this.timer !== null || this.applied === this.written) return;
    this.timer = this.timers.setTimer(this.intervalMs, () => {
      this.timer = null;
      this.writeInBackground();
    });
  }

  /** Writes the marker in the background; the next write is armed once this one ended. */
  private writeInBackground(): void {
    if (this.writing !== null || this.applied === this.written) return;
    const index = this.applied;
    this.writing = writeCommitMarkerInBackground(this.dataDir, index).then(
      () => {
        // Only rises: a write never lowers what an earlier one recorded.
        this.written = Math.max(this.written, index);
        this.writing = null;
        this.armIfBehind();
      },
      (error: unknown) => {
        this.writing = null;
        this.onWriteError(error);
        this.armIfBehind();
      },
    );
  }
}
