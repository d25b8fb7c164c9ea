// Proves that bad operating conditions give a clear PersistenceError and damage nothing that
// was acknowledged: a missing or non-directory path and a read-only directory (STORAGE_IO
// naming the path and cause), an exhausted map size and a full disk (STORAGE_FULL; then the
// engine refuses further writes, and a reopened engine holds every acknowledged entry; a short
// write, which LMDB reports as EIO, is STORAGE_FULL too, naming the folder's file system), and a
// second process or a second engine on the same directory (STORAGE_LOCKED), whose lock is taken
// over once that process has been killed. Running as root, where chmod does not stop writes,
// the read-only and full-disk cases use a small tmpfs mounted here; where mounting is not
// allowed they are skipped with the reason.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sinon from 'sinon';
import type { PersistenceEngine } from '../../../contracts/persistence.js';
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import type { LmdbPersistenceOptions } from '../../../storage/lmdb/lmdb-engine.js';
import { entry, lmdbTestOptions, makeTempDir, removeDir } from '../helpers.js';
import { appendLogEntry, getLastLogIndex, saveCurrentTerm } from '../reference-fields.js';
import { describeError } from '../../../contracts/errors.js';
import { scaledMs } from '../../timing.js';

const HOLD_CHILD = fileURLToPath(new URL('./hold-child.ts', import.meta.url));
const isRoot = process.getuid?.() === 0;

function mount(args: readonly string[]): string | null {
  try {
    execFileSync('mount', args, { stdio: 'pipe' });
    return null;
  } catch (error) {
    return describeError(error).split('\n')[0] ?? 'mount failed';
  }
}

/** Appends 4 KiB entries until a write is refused; returns how many were acknowledged and the refusal. */
async function fillUntilRefused(engine: PersistenceEngine, limit: number): Promise<{ acked: number; error: unknown }> {
  for (let index = 1; index <= limit; index += 1) {
    try {
      await appendLogEntry(engine, entry(index, 1, 'command', 4096));
    } catch (error) {
      return { acked: index - 1, error };
    }
  }
  return { acked: limit, error: null };
}

async function assertHoldsEntries(options: LmdbPersistenceOptions, count: number): Promise<void> {
  const engine = await LmdbPersistenceEngine.open(options);
  try {
    const state = await engine.load();
    assert.equal(state.entries.length, count);
    for (const [i, stored] of state.entries.entries()) assert.deepStrictEqual(stored, entry(i + 1, 1, 'command', 4096));
  } finally {
    await engine.close();
  }
}

describe('LMDB engine under bad conditions', function () {
  this.timeout(scaledMs(30_000));
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir();
  });

  afterEach(() => {
    removeDir(dir);
  });

  it('refuses a missing directory with STORAGE_IO naming the path and the cause', async () => {
    const missing = join(dir, 'absent');
    await assert.rejects(LmdbPersistenceEngine.open(lmdbTestOptions(missing)), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'STORAGE_IO');
      assert.match(error.message, /absent/);
      assert.match(error.message, /ENOENT/);
      return true;
    });
    const engine = await LmdbPersistenceEngine.open(lmdbTestOptions(missing, { createDirectory: true }));
    await engine.close();
  });

  it('refuses a path that is a file with STORAGE_IO', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    await assert.rejects(LmdbPersistenceEngine.open(lmdbTestOptions(file)), { code: 'STORAGE_IO' });
  });

  it('refuses a read-only directory with STORAGE_IO naming the path, and keeps its data', async function () {
    const data = join(dir, 'ro');
    mkdirSync(data);
    if (isRoot) {
      // chmod does not stop root: make the file system itself read-only.
      const failure = mount(['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', data]);
      if (failure !== null) {
        console.log(
          `      skipped: running as root, chmod cannot make a directory read-only, and mount failed (${failure})`,
        );
        this.skip();
      }
    }
    try {
      const engine = await LmdbPersistenceEngine.open(lmdbTestOptions(data));
      await appendLogEntry(engine, entry(1, 1, 'command', 4096));
      await engine.close();
      if (isRoot) assert.equal(mount(['-o', 'remount,ro', data]), null);
      else for (const name of ['.', ...readdirSync(data)]) chmodSync(join(data, name), name === '.' ? 0o500 : 0o400);
      await assert.rejects(LmdbPersistenceEngine.open(lmdbTestOptions(data)), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'STORAGE_IO');
        assert.ok(error.message.includes(data), error.message);
        assert.match(error.message, /EROFS|EACCES|read-only|permission/i);
        return true;
      });
      if (isRoot) assert.equal(mount(['-o', 'remount,rw', data]), null);
      else for (const name of ['.', ...readdirSync(data)]) chmodSync(join(data, name), 0o700);
      await assertHoldsEntries(lmdbTestOptions(data), 1);
    } finally {
      if (isRoot) execFileSync('umount', ['-l', data], { stdio: 'ignore' });
    }
  });

  it('refuses a commit beyond mapSizeMaxBytes with STORAGE_FULL and keeps what was acknowledged', async () => {
    const options = lmdbTestOptions(dir, {
      mapSizeInitialBytes: 64 * 1024,
      mapSizeMaxBytes: 2 * 1024 * 1024,
      snapshotBytesMax: 256 * 1024,
    });
    const engine = await LmdbPersistenceEngine.open(options);
    const { acked, error } = await fillUntilRefused(engine, 2000);
    assert.ok(acked > 100, `only ${acked} entries fitted`);
    assert.equal((error as { code?: string } | null)?.code, 'STORAGE_FULL');
    assert.match(String(error), /mapSizeMaxBytes/);
    await assert.rejects(saveCurrentTerm(engine, 2), { code: 'STORAGE_FULL' });
    assert.equal(await getLastLogIndex(engine), acked);
    await engine.close();
    await assertHoldsEntries(options, acked);
    const larger = await LmdbPersistenceEngine.open({ ...options, mapSizeMaxBytes: 8 * 1024 * 1024 });
    await appendLogEntry(larger, entry(acked + 1, 1, 'command', 4096));
    await larger.close();
  });

  it('refuses a commit on a full disk with STORAGE_FULL and keeps what was acknowledged', async function () {
    const failure = isRoot ? mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]) : 'not running as root';
    if (failure !== null) {
      console.log(
        `      skipped: a full disk needs a small file system mounted here, and mounting failed (${failure})`,
      );
      this.skip();
    }
    try {
      const options = lmdbTestOptions(dir, { mapSizeMaxBytes: 64 * 1024 * 1024 });
      const engine = await LmdbPersistenceEngine.open(options);
      // lmdb-js also reports the failed commit on console.error; keep the test output clean.
      const consoleError = sinon.stub(console, 'error');
      const { acked, error } = await fillUntilRefused(engine, 2000).finally(() => consoleError.restore());
      assert.ok(acked > 20, `only ${acked} entries fitted`);
      assert.equal((error as { code?: string } | null)?.code, 'STORAGE_FULL');
      assert.match(String(error), /ENOSPC|No space/);
      await assert.rejects(appendLogEntry(engine, entry(acked + 1, 1)), { code: 'STORAGE_FULL' });
      await engine.close();
      await assertHoldsEntries(options, acked);
    } finally {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    }
  });

  it('reports the EIO of a short write on a full disk as STORAGE_FULL naming the folder', async function () {
    const failure = isRoot ? mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]) : 'not running as root';
    if (failure !== null) {
      console.log(`      skipped: a full disk needs a small file system mounted here (${failure})`);
      this.skip();
    }
    try {
      const engine = await LmdbPersistenceEngine.open(lmdbTestOptions(dir, { mapSizeMaxBytes: 64 * 1024 * 1024 }));
      await appendLogEntry(engine, entry(1, 1));
      // Leave 16 KiB: a 64 KiB entry is then a short write, which LMDB reports as EIO, not ENOSPC.
      const stats = statfsSync(dir);
      writeFileSync(join(dir, 'ballast'), Buffer.alloc(stats.bavail * stats.bsize - 16 * 1024));
      const consoleError = sinon.stub(console, 'error');
      const refused = await appendLogEntry(engine, entry(2, 1, 'command', 64 * 1024)).then(
        () => null,
        (error: unknown) => error,
      );
      consoleError.restore();
      assert.equal((refused as { code?: string } | null)?.code, 'STORAGE_FULL', String(refused));
      assert.match(String(refused), new RegExp(`the file system of ${dir} is full \\(\\d+ bytes free\\)`));
      await engine.close();
    } finally {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    }
  });

  it('refuses a second engine in the same process with STORAGE_LOCKED', async () => {
    const first = await LmdbPersistenceEngine.open(lmdbTestOptions(dir));
    await assert.rejects(LmdbPersistenceEngine.open(lmdbTestOptions(dir)), { code: 'STORAGE_LOCKED' });
    await first.close();
    const again = await LmdbPersistenceEngine.open(lmdbTestOptions(dir));
    await again.close();
  });

  it('refuses a directory another process holds, and takes it over once that process is killed', async () => {
    const engine = await LmdbPersistenceEngine.open(lmdbTestOptions(dir));
    await appendLogEntry(engine, entry(1, 1, 'command', 4096));
    await engine.close();
    const child = spawn(process.execPath, ['--import', 'tsx', HOLD_CHILD, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.on('close', resolve));
    const pid = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        const match = /READY (\d+)/.exec(chunk);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      child.on('close', () => reject(new Error('child ended before READY')));
    });
    try {
      await assert.rejects(LmdbPersistenceEngine.open(lmdbTestOptions(dir)), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'STORAGE_LOCKED');
        assert.ok(error.message.includes(pid), error.message);
        return true;
      });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    await assertHoldsEntries(lmdbTestOptions(dir), 1);
  });
});
