/**
 * The data folder's permissions, settled before the storage engine opens it: the folder is
 * 0700 and owned by the agent's user, and every file in it is readable by that user only
 * (the storage engine creates its files 0600 itself: LMDB's `permissionsMode`, the WAL
 * segments, the lock file; the keystore cache too).
 *
 * A missing folder is created 0700 (chmod after mkdir, so the umask neither widens nor
 * narrows it). An existing folder or file with group or other bits that the agent's user owns
 * is tightened, and the agent logs what it changed: these are the agent's own files, written
 * by an older version (whose files followed the umask, typically 0644) or created by an
 * operator's mkdir, and tightening them loses nothing, while refusing would stop every gateway
 * of a fleet at its first start after an upgrade. A folder owned by another user is refused
 * (ConfigError, exit 78, with the chown to run): the agent cannot fix it, and writing state
 * there would leave files the real owner cannot read, or let that user change the log.
 * Key files are different: they are refused, never tightened (see config/secret-files.ts).
 */
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, PersistenceError, describeError } from '../../contracts/errors.js';
import { currentIdentity, type ProcessIdentity } from '../config/secret-files.js';

/** The data folder's mode. */
const DATA_DIR_MODE = 0o700;

/** Most entries of the data folder looked at: the engine keeps a few files and a bounded number of WAL segments. */
const DATA_DIR_ENTRIES_MAX = 65_536;

const octal = (mode: number): string => `0${(mode & 0o777).toString(8).padStart(3, '0')}`;

/** The owner's name for `chown` advice. */
function ownerName(identity: ProcessIdentity): string {
  return identity.userName ?? String(identity.uid);
}

/** Creates or checks the folder itself; returns true when it had to be tightened. */
function settleFolder(path: string, identity: ProcessIdentity): boolean {
  let created: string | undefined;
  try {
    created = mkdirSync(path, { recursive: true, mode: DATA_DIR_MODE });
    if (created !== undefined) chmodSync(path, DATA_DIR_MODE);
  } catch (error) {
    // mkdir -p fails with EEXIST only when the path itself exists and is not a folder.
    if (error instanceof Error && 'code' in error && error.code === 'EEXIST')
      throw new ConfigError([
        `dataDir: ${path} is a file, not a folder; point dataDir at a folder, or move the file out of the way`,
      ]);
    throw new ConfigError([`dataDir: cannot create ${path}: ${describeError(error)}`]);
  }
  const stat = statSync(path);
  if (!stat.isDirectory()) throw new ConfigError([`dataDir: ${path} is not a directory`]);
  if (stat.uid !== identity.uid) {
    throw new ConfigError([
      `dataDir: ${path} is owned by uid ${stat.uid} (mode ${octal(stat.mode)}), not by this process's ` +
        `user ${ownerName(identity)} (uid ${identity.uid}); ` +
        `the agent writes its log there. Run: chown -R ${ownerName(identity)} ${path} && chmod 700 ${path}`,
    ]);
  }
  if ((stat.mode & 0o077) === 0) return false;
  chmodSync(path, DATA_DIR_MODE);
  return true;
}

/**
 * Makes `path` the agent's private data folder (see the file comment) and returns the paths
 * whose modes were tightened, for the caller to log. Throws ConfigError (CONFIG_INVALID) for a
 * folder that is not a directory or that another user owns.
 */
export function prepareDataDir(path: string, identity: ProcessIdentity = currentIdentity()): readonly string[] {
  const tightened: string[] = [];
  if (settleFolder(path, identity)) tightened.push(path);
  const names = readdirSync(path);
  if (names.length > DATA_DIR_ENTRIES_MAX)
    throw new ConfigError([
      `dataDir: ${path} holds ${names.length} entries, more than ${DATA_DIR_ENTRIES_MAX}; it is not a coraft data ` +
        `folder`,
    ]);
  for (const name of names) {
    const entry = join(path, name);
    // lstat: a link is not followed out of the folder, and a link's own mode means nothing.
    const stat = lstatSync(entry);
    if (stat.uid !== identity.uid || (stat.mode & 0o077) === 0) continue;
    if (stat.isFile()) chmodSync(entry, stat.mode & 0o700);
    else if (stat.isDirectory()) chmodSync(entry, DATA_DIR_MODE);
    else continue;
    tightened.push(entry);
  }
  return tightened;
}

/**
 * The text of the small file `name` that the agent keeps in `dataDir` (the commit marker, the
 * owner record) and its path, or null when there is none. Throws PersistenceError STORAGE_IO
 * when it exists but cannot be read.
 */
export function readDataFile(dataDir: string, name: string): { readonly path: string; readonly text: string } | null {
  const path = join(dataDir, name);
  try {
    return { path, text: readFileSync(path, 'utf8') };
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null;
    throw new PersistenceError('STORAGE_IO', `cannot read ${path}: ${describeError(error)}`, { cause: error });
  }
}
