/**
 * Turns what LMDB, lmdb-js and Node's fs throw into PersistenceError with the code a caller
 * acts on. lmdb-js reports errno values and LMDB's own (negative) return codes as a numeric
 * `code`; Node's fs uses string codes. A failed asynchronous commit rejects with a generic
 * "Commit failed" error whose `commitError` promise carries the real cause.
 */
import { statfsSync } from 'node:fs';
import { PersistenceError, RaftError, describeError } from '../../contracts/errors.js';

type PersistenceCode = 'STORAGE_IO' | 'STORAGE_CORRUPT' | 'STORAGE_FULL' | 'STORAGE_VERSION';

/** errno names and LMDB return codes, by the code lmdb-js reports (Linux errno numbers). */
const NUMERIC_CODES: ReadonlyMap<number, string> = new Map([
  [2, 'ENOENT'],
  [5, 'EIO'],
  [12, 'ENOMEM'],
  [13, 'EACCES'],
  [20, 'ENOTDIR'],
  [27, 'EFBIG'],
  [28, 'ENOSPC'],
  [30, 'EROFS'],
  [122, 'EDQUOT'],
  [-30792, 'MDB_MAP_FULL'],
  [-30788, 'MDB_TXN_FULL'],
  [-30793, 'MDB_INVALID'],
  [-30794, 'MDB_VERSION_MISMATCH'],
  [-30795, 'MDB_PANIC'],
  [-30796, 'MDB_CORRUPTED'],
  [-30797, 'MDB_PAGE_NOTFOUND'],
]);

const CATEGORY: ReadonlyMap<string, PersistenceCode> = new Map([
  ['ENOSPC', 'STORAGE_FULL'],
  ['EDQUOT', 'STORAGE_FULL'],
  ['EFBIG', 'STORAGE_FULL'],
  ['MDB_MAP_FULL', 'STORAGE_FULL'],
  ['MDB_TXN_FULL', 'STORAGE_FULL'],
  ['MDB_INVALID', 'STORAGE_CORRUPT'],
  ['MDB_CORRUPTED', 'STORAGE_CORRUPT'],
  ['MDB_PAGE_NOTFOUND', 'STORAGE_CORRUPT'],
  ['MDB_VERSION_MISMATCH', 'STORAGE_VERSION'],
]);

/** The symbolic name of an error's code ('ENOSPC', 'MDB_MAP_FULL', ...), or '' when it has none. */
export function errorCodeName(error: unknown): string {
  if (!(error instanceof Error) || !('code' in error)) return '';
  const code: unknown = error.code;
  if (typeof code === 'string') return code;
  if (typeof code === 'number') return NUMERIC_CODES.get(code) ?? `code ${code}`;
  return '';
}

/**
 * At most this many bytes free counts as a full file system when a write fails with EIO. LMDB
 * writes a transaction's dirty pages with pwrite and reports a short write, which is what a full
 * file system causes, as EIO; a short write means there was less room than the write needed, and
 * one commit writes from a page to a few MiB, so "nearly nothing free" rather than "0 free".
 */
export const FULL_FREE_BYTES_MAX = 1024 * 1024;

/** The bytes available to this process on the file system holding `path` (statfs f_bavail). */
export function freeBytesOf(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

/**
 * Wraps `error` in a PersistenceError whose message says what was being done (`context`,
 * which names the path) and why. A PersistenceError or other RaftError passes through. With
 * `dir` (the folder written to), an EIO is checked against that folder's file system: when it
 * has (nearly) no space left the error is STORAGE_FULL, so an operator frees space instead of
 * suspecting the hardware. `free` measures the free bytes; tests pass a fake.
 */
export function toPersistenceError(
  error: unknown,
  context: string,
  dir?: string,
  free: (path: string) => number = freeBytesOf,
): RaftError {
  if (error instanceof RaftError) return error;
  const name = errorCodeName(error);
  const reason = describeError(error);
  const label = name === '' || reason.includes(name) ? reason : `${name}: ${reason}`;
  const freeBytes = name === 'EIO' && dir !== undefined ? freeBytesOrNull(dir, free) : null;
  if (freeBytes !== null && freeBytes <= FULL_FREE_BYTES_MAX) {
    const full = `the file system of ${dir} is full (${freeBytes} bytes free)`;
    return new PersistenceError('STORAGE_FULL', `${context}: ${full}; ${label}`, { cause: error });
  }
  const code = CATEGORY.get(name) ?? 'STORAGE_IO';
  return new PersistenceError(code, `${context}: ${label}`, { cause: error });
}

/**
 * The free bytes of `dir`'s file system, or null when statfs itself fails: then nothing is known
 * about the space, and the EIO is reported as what it is (STORAGE_IO) rather than guessed at.
 */
function freeBytesOrNull(dir: string, free: (path: string) => number): number | null {
  try {
    return free(dir);
  } catch (error) {
    // The original EIO stays the error reported; this one only means the space is unknown.
    if (error instanceof Error) return null;
    throw error;
  }
}

/**
 * The cause of a failed lmdb-js commit: the error in its `commitError` promise when there is
 * one (always awaited, so that the promise is never left rejected without a handler), else
 * the error itself.
 */
export async function commitFailureCause(error: unknown): Promise<unknown> {
  if (!(error instanceof Error) || !('commitError' in error)) return error;
  const commitError: unknown = error.commitError;
  if (!isThenable(commitError)) return error;
  try {
    await commitError;
    return error;
  } catch (cause) {
    return cause;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && 'then' in value && typeof value.then === 'function';
}
