// Proves the directory lock: it is exclusive while its holder lives (STORAGE_LOCKED names the
// holder's pid), it is released on release(), and a lock whose holder is gone is taken over:
// a pid no process has, a lock from an earlier boot, a pid now started at another time, or a
// file this code did not write. The dead pid comes from a child process that has exited.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCK_FILE_NAME, acquireDirectoryLock, currentHolder, holderAlive } from '../../storage/dir-lock.js';
import { makeTempDir, removeDir } from './helpers.js';

const me = currentHolder();
const hasProc = me.bootId !== '' && me.startTime !== '';

describe('acquireDirectoryLock', () => {
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir();
  });

  afterEach(() => {
    removeDir(dir);
  });

  function writeLock(holder: unknown): void {
    writeFileSync(join(dir, LOCK_FILE_NAME), typeof holder === 'string' ? holder : JSON.stringify(holder));
  }

  /** Takes the lock over and checks that the lock file now names this process, and nothing else is left. */
  function assertTakesOver(): void {
    const before = readFileSync(join(dir, LOCK_FILE_NAME), 'utf8');
    const lock = acquireDirectoryLock(dir);
    const after = readFileSync(lock.path, 'utf8');
    assert.notEqual(after, before, 'the stale lock file was replaced');
    const holder = JSON.parse(after) as { pid: unknown };
    assert.equal(holder.pid, process.pid, "the lock file carries this process's pid");
    assert.deepEqual(holder, me, "and this process's boot id and start time");
    assert.deepEqual(readdirSync(dir), [LOCK_FILE_NAME], 'no stale or temporary file is left');
    lock.release();
    assert.deepEqual(readdirSync(dir), []);
  }

  it('is exclusive until released, and leaves no temporary files', () => {
    const lock = acquireDirectoryLock(dir);
    assert.deepEqual(JSON.parse(readFileSync(lock.path, 'utf8')), me);
    assert.throws(
      () => acquireDirectoryLock(dir),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'STORAGE_LOCKED');
        assert.ok(error.message.includes(String(process.pid)));
        return true;
      },
    );
    lock.release();
    assert.equal(existsSync(lock.path), false);
    acquireDirectoryLock(dir).release();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('takes over the lock of a process that has exited', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    assert.ok(dead !== undefined);
    writeLock({ pid: dead, bootId: me.bootId, startTime: '' });
    assertTakesOver();
  });

  it('takes over a lock from an earlier boot, even with a live pid', function () {
    if (!hasProc) this.skip(); // Boot ids come from Linux's /proc.
    writeLock({ pid: process.pid, bootId: 'an-earlier-boot', startTime: me.startTime });
    assertTakesOver();
  });

  it('takes over a lock whose pid now belongs to a process started at another time', function () {
    if (!hasProc) this.skip(); // Start times come from Linux's /proc.
    writeLock({ pid: process.pid, bootId: me.bootId, startTime: '1' });
    assertTakesOver();
  });

  it('takes over a lock file it did not write', () => {
    writeLock('not a lock');
    assertTakesOver();
  });

  it('refuses while another live process holds the lock', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('close', resolve));
    try {
      assert.ok(child.pid !== undefined);
      writeLock({ pid: child.pid, bootId: me.bootId, startTime: '' });
      assert.equal(holderAlive({ pid: child.pid, bootId: me.bootId, startTime: '' }, me), true);
      assert.throws(() => acquireDirectoryLock(dir), { code: 'STORAGE_LOCKED' });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    assertTakesOver();
  });
});
