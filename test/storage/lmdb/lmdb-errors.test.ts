/**
 * Proves that an EIO on a full file system is reported as STORAGE_FULL naming the folder and its
 * free bytes, not as STORAGE_IO (which reads as failing hardware): LMDB reports a short write as
 * EIO. The free space comes from a fake statfs reader, and once from the real statfs of a full
 * 8 MiB tmpfs (skipped, saying why, where mount(8) is not permitted). An EIO with room to spare,
 * with no folder to check, or whose folder cannot be checked stays STORAGE_IO.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PersistenceError } from '../../../contracts/errors.js';
import { freeBytesOf, toPersistenceError } from '../../../storage/lmdb/lmdb-errors.js';

/** What lmdb-js throws for a failed write: a numeric errno code (5 is EIO). */
function eio(): Error {
  return Object.assign(new Error('Input/output error'), { code: 5 });
}

function persistence(error: unknown): PersistenceError {
  assert.ok(error instanceof PersistenceError);
  return error;
}

describe('storage/lmdb/lmdb-errors: EIO on a full file system', function () {
  it('is STORAGE_FULL naming the folder and its free bytes when (nearly) nothing is free', function () {
    const error = persistence(toPersistenceError(eio(), 'commit to /data failed', '/data', () => 4096));
    assert.equal(error.code, 'STORAGE_FULL');
    assert.match(error.message, /^commit to \/data failed: the file system of \/data is full \(4096 bytes free\)/);
    assert.match(error.message, /EIO/);
  });

  it('stays STORAGE_IO with room to spare, without a folder, or when statfs fails', function () {
    const roomy = persistence(toPersistenceError(eio(), 'ctx', '/data', () => 512 * 1024 * 1024));
    assert.equal(roomy.code, 'STORAGE_IO');
    assert.equal(persistence(toPersistenceError(eio(), 'ctx')).code, 'STORAGE_IO');
    const unknown = persistence(
      toPersistenceError(eio(), 'ctx', '/data', () => {
        throw Object.assign(new Error('no such folder'), { code: 'ENOENT' });
      }),
    );
    assert.equal(unknown.code, 'STORAGE_IO');
  });

  describe('on a real full tmpfs', function () {
    let dir: string | null = null;

    before(function () {
      if (process.platform !== 'linux') this.skip();
      const made = mkdtempSync(join(tmpdir(), 'coraft-lmdb-errors-'));
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', made], { encoding: 'utf8' });
      if (mounted.status !== 0) {
        rmSync(made, { recursive: true, force: true });
        console.warn(`skipped: mount -t tmpfs is not permitted here (${mounted.stderr.trim() || mounted.error})`);
        this.skip();
      }
      dir = made;
    });

    after(function () {
      if (dir === null) return;
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('reads the free space with statfs and reports STORAGE_FULL', function () {
      assert.ok(dir !== null);
      assert.equal(persistence(toPersistenceError(eio(), 'ctx', dir)).code, 'STORAGE_IO');
      writeFileSync(join(dir, 'ballast'), Buffer.alloc(freeBytesOf(dir)));
      const error = persistence(toPersistenceError(eio(), `writing a snapshot to ${dir} failed`, dir));
      assert.equal(error.code, 'STORAGE_FULL');
      assert.ok(error.message.includes(`the file system of ${dir} is full (0 bytes free)`), error.message);
    });
  });
});
