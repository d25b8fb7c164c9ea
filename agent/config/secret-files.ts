/**
 * Secret files: every file that holds key material (the link keystore, the node secret, the
 * endpoint keys, the admin public key whose integrity the trust rests on, the CLI's --admin-key
 * and --endpoint-key, the provisioner's fleet state, the keystore cache)
 * is read through `readSecretFile`/`readSecretText`, which check the file and read it in one
 * step, and written through `writeSecretFile`.
 *
 * The rule (checked on the opened descriptor, so the file checked is the file read):
 * 1. After following symbolic links the path names a regular file. Links are allowed: systemd
 *    credentials, configuration management and /etc alternatives use them; what matters is the
 *    file the link leads to.
 * 2. Its owner is root or this process's effective user. Another user could rewrite the key or
 *    has already read it.
 * 3. Others have no permission bits at all, and the group never has write or execute.
 * 4. The group may read the file only when root owns it: that is deploy/install.sh's layout
 *    (root:coraft 0640, the agent running as user coraft reads through its group). Only root can
 *    choose the group of a root-owned file, so the grant is root's decision. A file owned by
 *    the agent's user must be 0600 or 0400.
 * The owner's own bits are not checked. A refused file is a ConfigError (CONFIG_INVALID, exit 78
 * from `coraft agent`) naming the file, its mode and owner, and the chmod/chown that fixes it.
 * The agent never loosens or tightens a secret file itself: a key that was readable by others
 * may have leaked, and whether to rotate it is the operator's call.
 *
 * How to load a new secret file: call `readSecretText(path, field)` (or `readSecretFile` for
 * bytes) with the configuration field that named the file, parse what it returns, and never
 * open the path any other way (no `existsSync` + `readFileSync`, no streams). To write one, call
 * `writeSecretFile(path, data)`: a fresh temporary file, mode 0600 set explicitly (the umask
 * cannot widen or narrow it), synced, renamed over the target, and the folder synced.
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import type { Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { assert } from '../../contracts/assert.js';
import { ConfigError, describeError } from '../../contracts/errors.js';

/** Largest secret file read, bytes: a keystore of thousands of members fits many times over. */
export const SECRET_FILE_BYTES_MAX = 4 * 1024 * 1024;

/** The mode `writeSecretFile` gives a file: read and write for its owner only. */
export const SECRET_FILE_MODE = 0o600;

/** Who this process runs as: the owners a secret file may have (besides root) and how to name them. */
export interface ProcessIdentity {
  /** Effective uid. */
  readonly uid: number;
  /** Effective gid and supplementary gids: the groups through which it may read a root-owned file. */
  readonly groups: readonly number[];
  /** The user's name, or null when the uid has no passwd entry. */
  readonly userName: string | null;
}

/** What of a file's status the rule looks at (a subset of fs.Stats). */
export type SecretFileStat = Pick<Stats, 'mode' | 'uid' | 'gid'> & { isFile(): boolean };

/** The identity of this process. Coraft runs on POSIX systems only: without uids nothing can be checked. */
export function currentIdentity(): ProcessIdentity {
  if (process.geteuid === undefined || process.getegid === undefined)
    throw new ConfigError(['secret files: this platform has no user ids; coraft runs on Linux']);
  const uid = process.geteuid();
  let userName: string | null = null;
  try {
    userName = userInfo().username;
  } catch (error) {
    // No passwd entry (a uid given by the container runtime): the advice names it by number.
    if (!(error instanceof Error)) throw error;
  }
  return { uid, groups: [process.getegid(), ...(process.getgroups?.() ?? [])], userName };
}

const octal = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/** The mode bits the rule forbids for a file owned by `uid`. */
function forbiddenBits(uid: number): number {
  return uid === 0 ? 0o037 : 0o077;
}

/** Why a file breaks the rule, and the shell command that fixes it (null when no command can). */
export interface SecretFileProblem {
  readonly reason: string;
  readonly fix: string | null;
}

/**
 * Why `stat` breaks the rule for `identity`, with the shell command that fixes it (`path` is
 * quoted into it), or null when the file may hold a secret.
 */
export function secretFileProblem(
  stat: SecretFileStat,
  path: string,
  identity: ProcessIdentity,
): SecretFileProblem | null {
  const quoted = shellQuote(path);
  if (!stat.isFile()) return { reason: 'is not a regular file', fix: null };
  const mode = stat.mode & 0o777;
  const owned = stat.uid === identity.uid || stat.uid === 0;
  if (!owned) {
    // chmod too: once the agent's user owns it, group read is no longer allowed, and owner read is needed.
    const chmod = ` && chmod 600 ${quoted}`;
    const owner = identity.userName === null ? String(identity.uid) : shellQuote(identity.userName);
    return {
      reason:
        `is owned by uid ${stat.uid}, neither root nor this process's ` +
        `user ${identity.userName === null ? '' : `${identity.userName} `}(uid ${identity.uid})`,
      fix: `chown ${owner} ${quoted}${chmod}`,
    };
  }
  const bad = mode & forbiddenBits(stat.uid);
  if (bad === 0) return null;
  const who = (bad & 0o007) !== 0 ? 'other users' : 'its group';
  const can = [
    (bad & 0o044) !== 0 ? 'read' : '',
    (bad & 0o022) !== 0 ? 'write' : '',
    (bad & 0o011) !== 0 ? 'execute' : '',
  ]
    .filter((verb) => verb !== '')
    .join(' and ');
  const reason = `has mode ${octal(mode)} (owner uid ${stat.uid}, group gid ${stat.gid}): ${who} may ${can} it`;
  // Root's file read by a non-root agent: keep the group read it needs, through a group it is in.
  if (stat.uid !== 0 || identity.uid === 0) return { reason, fix: `chmod 600 ${quoted}` };
  const chgrp = identity.groups.includes(stat.gid) ? '' : `chgrp ${identity.groups[0] ?? 0} ${quoted} && `;
  return { reason, fix: `${chgrp}chmod 640 ${quoted}` };
}

/** Quotes `text` for a POSIX shell when it holds anything but safe characters. */
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The ConfigError of a refused secret file. */
function refusal(field: string, path: string, problem: SecretFileProblem): ConfigError {
  if (problem.fix === null)
    return new ConfigError([
      `${field}: secret file ${path} ${problem.reason}; point ${field} at the file that holds the secret`,
    ]);
  return new ConfigError([
    `${field}: secret file ${path} ${problem.reason}; a secret file must be owned by root or by the user coraft ` +
      `runs as, with no permissions for others and group read only when root owns it. Run: ${problem.fix}`,
  ]);
}

/** Reads at most SECRET_FILE_BYTES_MAX bytes from `fd`; a longer file is refused. */
function readBounded(fd: number, sizeBytes: number, field: string, path: string): Buffer {
  const buffer = Buffer.alloc(Math.min(sizeBytes, SECRET_FILE_BYTES_MAX) + 1);
  let length = 0;
  while (length < buffer.length) {
    const read = readSync(fd, buffer, length, buffer.length - length, null);
    if (read === 0) break;
    length += read;
  }
  assert(length <= buffer.length, 'a read stays inside its buffer');
  if (length > SECRET_FILE_BYTES_MAX)
    throw new ConfigError([`${field}: secret file ${path} is larger than ${SECRET_FILE_BYTES_MAX} bytes`]);
  return buffer.subarray(0, length);
}

/**
 * Opens `path`, checks it against the rule and returns its bytes; `field` names the setting
 * (e.g. `psk.nodeSecretFile`) in every error. Throws ConfigError for an unreadable or refused file.
 */
export function readSecretFile(path: string, field: string, identity: ProcessIdentity = currentIdentity()): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO opens at once (and is then refused) instead of waiting for a writer.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  } catch (error) {
    throw new ConfigError([`${field}: cannot read secret file ${path}: ${describeError(error)}`]);
  }
  try {
    const stat = fstatSync(fd);
    const problem = secretFileProblem(stat, path, identity);
    if (problem !== null) throw refusal(field, path, problem);
    return readBounded(fd, stat.size, field, path);
  } finally {
    closeSync(fd);
  }
}

/** `readSecretFile` decoded as UTF-8. */
export function readSecretText(path: string, field: string, identity: ProcessIdentity = currentIdentity()): string {
  return readSecretFile(path, field, identity).toString('utf8');
}

/** The file operations of a durable write, injectable so that a test can watch their order. */
export interface DurableWriteOps {
  openSync(path: string, flags: number, mode?: number): number;
  fchmodSync(fd: number, mode: number): void;
  writeSync(fd: number, data: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(path: string, options: { force: boolean }): void;
}

/** The real file system. */
export const REAL_DURABLE_WRITE_OPS: DurableWriteOps = {
  openSync: (path, flags, mode) => openSync(path, flags, mode),
  fchmodSync: (fd, mode) => fchmodSync(fd, mode),
  writeSync: (fd, data, offset, length) => writeSync(fd, data, offset, length),
  fsyncSync: (fd) => fsyncSync(fd),
  closeSync: (fd) => closeSync(fd),
  renameSync: (from, to) => renameSync(from, to),
  rmSync: (path, options) => rmSync(path, options),
};

/**
 * Writes a secret to `path` durably with mode 0600 (see writeFileDurably). A crash leaves the old
 * file or the new one, never a torn or readable-by-others secret.
 */
export function writeSecretFile(
  path: string,
  data: string | Uint8Array,
  ops: DurableWriteOps = REAL_DURABLE_WRITE_OPS,
): void {
  writeFileDurably(path, data, SECRET_FILE_MODE, ops);
}

/**
 * Writes `data` to `path` with exactly `mode`: a fresh temporary file next to it (created 0600,
 * then fchmod, so the umask changes nothing), fsync, rename over `path`, then fsync of the
 * folder so that the rename survives a power loss.
 */
export function writeFileDurably(
  path: string,
  data: string | Uint8Array,
  mode: number,
  ops: DurableWriteOps = REAL_DURABLE_WRITE_OPS,
): void {
  const temporary = `${path}.${process.pid}.tmp`;
  ops.rmSync(temporary, { force: true });
  const fd = ops.openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, SECRET_FILE_MODE);
  try {
    try {
      ops.fchmodSync(fd, mode);
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let at = 0; at < bytes.length;) at += ops.writeSync(fd, bytes, at, bytes.length - at);
      ops.fsyncSync(fd);
    } finally {
      ops.closeSync(fd);
    }
    ops.renameSync(temporary, path);
  } catch (error) {
    ops.rmSync(temporary, { force: true });
    throw error;
  }
  syncFolder(dirname(path), ops);
}

/** Syncs a folder, so that a name created or renamed in it is durable. */
export function syncFolder(
  path: string,
  ops: Pick<DurableWriteOps, 'openSync' | 'fsyncSync' | 'closeSync'> = REAL_DURABLE_WRITE_OPS,
): void {
  const fd = ops.openSync(path, constants.O_RDONLY);
  try {
    ops.fsyncSync(fd);
  } finally {
    ops.closeSync(fd);
  }
}
