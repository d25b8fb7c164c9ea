/**
 * Proves the secret-file rule of agent/config/secret-files.ts.
 * - Exhaustively, over every permission mode, three owners, two groups and two process
 *   identities (the agent as user coraft, and as root): a file is accepted exactly when its
 *   owner is root or the process's user, nobody but the owner has any access, except that the
 *   group may read (only read) a root-owned file.
 * - Over the same space: the command in every refusal, applied to the file, makes it accepted
 *   and leaves it readable by the process (the advice never locks the agent out).
 * - On real files: a 0644 file, a file owned by another uid, a directory, a FIFO (without
 *   blocking) and an oversized file are refused with CONFIG_INVALID naming the file; a symbolic
 *   link is followed and its target checked; an accepted file's bytes come back.
 * - writeSecretFile gives exactly 0600 whatever the umask, replaces a looser file, and leaves
 *   no temporary file behind.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SECRET_FILE_BYTES_MAX,
  readSecretFile,
  readSecretText,
  secretFileProblem,
  writeSecretFile,
  type ProcessIdentity,
  type SecretFileStat,
} from '../../../agent/config/secret-files.js';
import { ConfigError } from '../../../contracts/errors.js';

const CORAFT: ProcessIdentity = { uid: 999, groups: [999], userName: 'coraft' };
const ROOT: ProcessIdentity = { uid: 0, groups: [0], userName: 'root' };
const OTHER_UID = 1000;
const OTHER_GID = 1000;

const fileStat = (mode: number, uid: number, gid: number): SecretFileStat => ({
  mode: 0o100000 | mode,
  uid,
  gid,
  isFile: () => true,
});

/** The rule in words: who besides the owner may do what. */
function expectedAccepted(mode: number, uid: number, identity: ProcessIdentity): boolean {
  const ownerTrusted = uid === 0 || uid === identity.uid;
  const groupAccess = (mode >> 3) & 0o7;
  const otherAccess = mode & 0o7;
  return ownerTrusted && otherAccess === 0 && (groupAccess === 0 || (uid === 0 && groupAccess === 0o4));
}

/** POSIX read permission of `identity` on the file. */
function canRead(stat: SecretFileStat, identity: ProcessIdentity): boolean {
  if (identity.uid === 0) return true;
  if (stat.uid === identity.uid) return (stat.mode & 0o400) !== 0;
  if (identity.groups.includes(stat.gid)) return (stat.mode & 0o040) !== 0;
  return (stat.mode & 0o004) !== 0;
}

/** Applies the advice (`chown U P && chmod M P`, `chgrp G P && chmod M P`, `chmod M P`) to a stat. */
function applyFix(fix: string, stat: SecretFileStat, identity: ProcessIdentity): SecretFileStat {
  let { mode, uid, gid } = stat;
  for (const step of fix.split(' && ')) {
    const [command, argument] = step.split(' ');
    if (command === 'chmod') mode = (mode & ~0o777) | Number.parseInt(argument ?? '', 8);
    else if (command === 'chown')
      uid = argument === identity.userName || argument === String(identity.uid) ? identity.uid : -1;
    else if (command === 'chgrp') gid = Number(argument);
    else assert.fail(`unexpected advice ${fix}`);
  }
  return { mode, uid, gid, isFile: () => true };
}

describe('secret files: the rule', () => {
  const owners = [0, CORAFT.uid, OTHER_UID];
  const groups = [CORAFT.uid, OTHER_GID];

  for (const identity of [CORAFT, ROOT]) {
    it(`accepts exactly the files the rule allows, for an agent running as ${identity.userName ?? ''}`, () => {
      let accepted = 0;
      for (let mode = 0; mode <= 0o777; mode += 1) {
        for (const uid of owners) {
          for (const gid of groups) {
            const problem = secretFileProblem(fileStat(mode, uid, gid), '/etc/coraft/n1.key', identity);
            assert.equal(
              problem === null,
              expectedAccepted(mode, uid, identity),
              `mode ${mode.toString(8)} uid ${uid} gid ${gid}: ${problem?.reason ?? 'accepted'}`,
            );
            if (problem === null) accepted += 1;
          }
        }
      }
      assert.ok(accepted > 0);
    });

    it(`its advice fixes every refused file and keeps it readable, for agent user ${identity.userName ?? ''}`, () => {
      for (let mode = 0; mode <= 0o777; mode += 1) {
        for (const uid of owners) {
          for (const gid of groups) {
            const before = fileStat(mode, uid, gid);
            const problem = secretFileProblem(before, '/etc/coraft/n1.key', identity);
            if (problem === null) continue;
            assert.ok(problem.fix !== null, 'a regular file always gets a command');
            const after = applyFix(problem.fix, before, identity);
            assert.equal(
              secretFileProblem(after, '/etc/coraft/n1.key', identity),
              null,
              `${mode.toString(8)} ${uid}:${gid} -> ${problem.fix}`,
            );
            assert.ok(
              canRead(after, identity),
              `${mode.toString(8)} ${uid}:${gid} -> ${problem.fix} leaves it unreadable`,
            );
          }
        }
      }
    });
  }

  it('accepts the installed layout, root:coraft 0640, for the agent running as coraft', () => {
    assert.equal(secretFileProblem(fileStat(0o640, 0, CORAFT.uid), '/etc/coraft/n1.key', CORAFT), null);
    assert.match(
      secretFileProblem(fileStat(0o640, CORAFT.uid, CORAFT.uid), '/k', CORAFT)?.fix ?? '',
      /^chmod 600 \/k$/,
    );
    assert.match(
      secretFileProblem(fileStat(0o644, 0, OTHER_GID), '/k', CORAFT)?.fix ?? '',
      /^chgrp 999 \/k && chmod 640 \/k$/,
    );
  });

  it('refuses what is not a regular file, and quotes paths in the advice', () => {
    const directory: SecretFileStat = { mode: 0o040700, uid: 0, gid: 0, isFile: () => false };
    assert.match(secretFileProblem(directory, '/k', ROOT)?.reason ?? '', /not a regular file/);
    assert.equal(secretFileProblem(fileStat(0o644, 0, 0), "/tmp/a b'c", ROOT)?.fix, `chmod 600 '/tmp/a b'\\''c'`);
  });
});

describe('secret files: reading and writing real files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-secret-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The ConfigError reading `path` throws; fails when it reads. */
  function refusal(path: string): ConfigError {
    try {
      readSecretFile(path, 'psk.keyFile');
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.code, 'CONFIG_INVALID');
      return error;
    }
    return assert.fail(`${path} was read`);
  }

  it('reads a 0600 file and refuses it at 0644, naming the file, the mode and the chmod', () => {
    const key = join(dir, 'n1.key');
    writeFileSync(key, 'secret\n', { mode: 0o600 });
    assert.equal(readSecretText(key, 'psk.keyFile'), 'secret\n');
    chmodSync(key, 0o644);
    const error = refusal(key);
    assert.ok(error.message.includes(`psk.keyFile: secret file ${key} has mode 0644`), error.message);
    assert.ok(error.message.includes(`Run: chmod 600 ${key}`), error.message);
  });

  it('refuses a file owned by another user, naming the chown', function () {
    if (process.getuid?.() !== 0) this.skip(); // chown needs root (the CI runs as root)
    const key = join(dir, 'n1.key');
    writeFileSync(key, 'secret\n', { mode: 0o600 });
    chownSync(key, 65534, 65534);
    assert.ok(
      refusal(key).message.includes(`is owned by uid 65534, neither root nor this process's user root (uid 0); `),
      'names the owner',
    );
    assert.ok(refusal(key).message.includes(`Run: chown root ${key} && chmod 600 ${key}`));
  });

  it('follows a symbolic link and checks its target', () => {
    const target = join(dir, 'target.key');
    writeFileSync(target, 'secret', { mode: 0o600 });
    const link = join(dir, 'link.key');
    symlinkSync(target, link);
    assert.equal(readSecretText(link, 'psk.keyFile'), 'secret');
    chmodSync(target, 0o604);
    assert.match(refusal(link).message, /link\.key has mode 0604 .*other users may read it/);
  });

  it('refuses a directory, a FIFO (without waiting for a writer), a missing and an oversized file', () => {
    const folder = join(dir, 'folder');
    mkdirSync(folder, { mode: 0o700 });
    assert.match(refusal(folder).message, /folder is not a regular file/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    assert.match(refusal(fifo).message, /fifo is not a regular file/);
    assert.match(refusal(join(dir, 'missing')).message, /cannot read secret file .*missing: ENOENT/);
    const big = join(dir, 'big');
    writeFileSync(big, '', { mode: 0o600 });
    truncateSync(big, SECRET_FILE_BYTES_MAX + 1);
    assert.match(refusal(big).message, /big is larger than/);
  });

  it('writes exactly 0600 whatever the umask, over a looser file, with no temporary left', () => {
    const key = join(dir, 'n1.key');
    writeFileSync(key, 'old', { mode: 0o644 });
    chmodSync(key, 0o666);
    const previous = process.umask(0o000);
    try {
      writeSecretFile(key, 'new\n');
    } finally {
      process.umask(previous);
    }
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.equal(readFileSync(key, 'utf8'), 'new\n');
    const narrow = process.umask(0o277);
    try {
      writeSecretFile(join(dir, 'k2'), 'x');
    } finally {
      process.umask(narrow);
    }
    assert.equal(statSync(join(dir, 'k2')).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir).sort(), ['k2', 'n1.key']);
  });
});
