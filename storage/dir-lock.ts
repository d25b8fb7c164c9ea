/**
 * An exclusive lock on a data directory, held by one process at a time. LMDB itself lets many
 * processes share an environment, which for Raft would mean two nodes writing one log; this
 * lock refuses the second opener with STORAGE_LOCKED.
 *
 * The lock is a file created atomically with its full content (written to a temporary file,
 * then hard-linked into place: link(2) fails if the name exists). It names its holder by pid,
 * the kernel boot id and the process start time, so a lock left by a killed process is
 * recognised as stale and taken over instead of blocking restarts forever: the holder is gone
 * when the machine rebooted since (boot id differs), when no process has its pid, when that
 * pid is a zombie, or when the pid now belongs to a process started at another time.
 *
 * A stale lock is moved aside with rename(2) and checked to be the one that was judged stale
 * before it is deleted; if another process replaced it meanwhile, it is linked back. One race
 * remains: three processes starting on one directory at the same moment, while a stale lock is
 * present, could both keep a lock. Boot ids and start times come from Linux's /proc; elsewhere
 * only the pid is checked.
 */
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PersistenceError, describeError } from '../contracts/errors.js';

/** Name of the lock file inside the data directory. */
export const LOCK_FILE_NAME = 'coraft.lock';
const ATTEMPTS_MAX = 4;

/** Who holds a lock, as written in the lock file. */
export interface LockHolder {
  readonly pid: number;
  /** /proc/sys/kernel/random/boot_id, or '' where unavailable. */
  readonly bootId: string;
  /** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or '' where unavailable. */
  readonly startTime: string;
}

/** A held lock; release it when the engine closes. */
export interface DirectoryLock {
  readonly path: string;
  release(): void;
}

function errorCode(error: unknown): string {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return '';
}

function readOptional(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    // Absent /proc files (non-Linux, or a pid that has exited) make the check fall back.
    if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ESRCH') return '';
    throw error;
  }
}

/**
 * Fields of the stat file of `pid`'s main thread after the command name, which may itself contain
 * spaces. Read from /proc/<pid>/task/<pid>/stat (/proc/<pid>/stat where that is absent): the same
 * numbers on Linux, but qemu-user answers a process reading its own /proc/<pid>/stat with a start
 * time of its own making, which differs from what other processes read there, so a live holder
 * under emulation would look stale.
 */
function procStat(pid: number): readonly string[] {
  const stat = readOptional(`/proc/${pid}/task/${pid}/stat`) || readOptional(`/proc/${pid}/stat`);
  const end = stat.lastIndexOf(')');
  if (end < 0) return [];
  return stat.slice(end + 2).split(' ');
}

/** The identity of this process, as a lock file records it. */
export function currentHolder(): LockHolder {
  return {
    pid: process.pid,
    bootId: readOptional('/proc/sys/kernel/random/boot_id').trim(),
    startTime: procStat(process.pid)[19] ?? '',
  };
}

function parseHolder(text: string): LockHolder | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null; // Not written by this code (link(2) never exposes a partial file): stale.
  }
  if (typeof value !== 'object' || value === null) return null;
  const record: Record<string, unknown> = Object.fromEntries(Object.entries(value));
  const { pid, bootId, startTime } = record;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return null;
  if (typeof bootId !== 'string' || typeof startTime !== 'string') return null;
  return { pid, bootId, startTime };
}

/** Whether the process that wrote `holder` may still be running. */
export function holderAlive(holder: LockHolder, me: LockHolder): boolean {
  if (holder.bootId !== '' && me.bootId !== '' && holder.bootId !== me.bootId) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if (errorCode(error) === 'ESRCH') return false;
    if (errorCode(error) !== 'EPERM') throw error;
  }
  const stat = procStat(holder.pid);
  if (stat.length === 0) return true;
  if (stat[0] === 'Z' || stat[0] === 'X') return false;
  return holder.startTime === '' || stat[19] === undefined || stat[19] === holder.startTime;
}

function ioError(message: string, cause: unknown): PersistenceError {
  return new PersistenceError('STORAGE_IO', `${message}: ${describeError(cause)}`, { cause });
}

/**
 * Takes the lock of `directory`. Throws STORAGE_LOCKED when a live process holds it and
 * STORAGE_IO when the lock file cannot be written (read-only or missing directory).
 */
export function acquireDirectoryLock(directory: string): DirectoryLock {
  const lockPath = join(directory, LOCK_FILE_NAME);
  const me = currentHolder();
  const content = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt += 1) {
    const temporary = join(directory, `${LOCK_FILE_NAME}.${me.pid}.${attempt}.tmp`);
    try {
      writeFileSync(temporary, content, { flag: 'w', mode: 0o600 });
    } catch (error) {
      throw ioError(`cannot create the lock file in ${directory}`, error);
    }
    try {
      linkSync(temporary, lockPath);
      return { path: lockPath, release: () => releaseLock(lockPath, content) };
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw ioError(`cannot create the lock file ${lockPath}`, error);
    } finally {
      unlinkSync(temporary);
    }
    removeIfStale(directory, lockPath, me, attempt);
  }
  throw new PersistenceError(
    'STORAGE_LOCKED',
    `${directory} is locked: ${lockPath} kept reappearing over ${ATTEMPTS_MAX} attempts`,
  );
}

/** Removes the lock at `lockPath` if its holder is gone; throws STORAGE_LOCKED if it is alive. */
function removeIfStale(directory: string, lockPath: string, me: LockHolder, attempt: number): void {
  const seen = readOptional(lockPath);
  if (seen === '') return; // Released meanwhile: try again.
  const holder = parseHolder(seen);
  if (holder !== null && holderAlive(holder, me)) {
    throw new PersistenceError(
      'STORAGE_LOCKED',
      `${directory} is in use by process ${holder.pid} (lock file ${lockPath})`,
    );
  }
  const aside = join(directory, `${LOCK_FILE_NAME}.stale.${me.pid}.${attempt}`);
  try {
    renameSync(lockPath, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return; // Another process removed it first.
    throw ioError(`cannot remove the stale lock file ${lockPath}`, error);
  }
  const moved = readOptional(aside);
  if (moved !== seen) {
    // Another process took the lock between our read and our rename: give it back.
    try {
      linkSync(aside, lockPath);
    } finally {
      unlinkSync(aside);
    }
    throw new PersistenceError(
      'STORAGE_LOCKED',
      `${directory} was locked by another process while a stale lock was removed (lock file ${lockPath})`,
    );
  }
  unlinkSync(aside);
}

function releaseLock(lockPath: string, content: string): void {
  // Only our own lock is removed; one that replaced it (see the race above) is left alone.
  if (readOptional(lockPath) === content) unlinkSync(lockPath);
}
