// The promise-returning file operations of storage/file-async.ts (used by the WAL's preallocation
// and the commit marker in place of node:fs/promises): they write, read and sync what they say,
// and withFile closes its descriptor whether its callback resolves or throws.
import { strict as assert } from 'node:assert';
import { fstatSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fstatAsync,
  readAsync,
  renameAsync,
  rmAsync,
  syncDirectory,
  withFile,
  writeTextAsync,
} from '../../storage/file-async.js';
import { makeTempDir, removeDir } from './helpers.js';

/** True while `fd` is an open descriptor of this process. */
function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

describe('storage/file-async', () => {
  let dir = '';
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  it('writes a text whole at the start of a file, reads it back and reports its size', async () => {
    const path = join(dir, 'text');
    const text = `${'é'.repeat(40_000)}\n`; // 80,001 bytes of UTF-8: more than one write may take
    await withFile(path, 'w', 0o600, (fd) => writeTextAsync(fd, text));
    assert.equal(readFileSync(path, 'utf8'), text);
    const head = Buffer.alloc(8);
    const read = await withFile(path, 'r', undefined, async (fd) => {
      assert.equal((await fstatAsync(fd)).size, Buffer.byteLength(text));
      return readAsync(fd, head, head.length, 0);
    });
    assert.equal(read, 8);
    assert.equal(head.toString('utf8'), 'éééé');
  });

  it('closes the descriptor when the callback resolves and when it throws', async () => {
    const path = join(dir, 'file');
    writeFileSync(path, 'x');
    let seen = -1;
    await withFile(path, 'r', undefined, (fd) => {
      seen = fd;
      assert.ok(isOpen(fd));
      return Promise.resolve();
    });
    assert.ok(!isOpen(seen), 'closed after the callback resolved');
    await assert.rejects(
      withFile(path, 'r', undefined, (fd) => {
        seen = fd;
        return Promise.reject(new Error('callback failed'));
      }),
      /callback failed/,
    );
    assert.ok(!isOpen(seen), 'closed after the callback threw');
  });

  it('renames, removes (force: a missing file is no error) and syncs a directory', async () => {
    const from = join(dir, 'a');
    const to = join(dir, 'b');
    writeFileSync(from, 'data');
    await renameAsync(from, to);
    await syncDirectory(dir);
    assert.equal(readFileSync(to, 'utf8'), 'data');
    await rmAsync(to, { force: true });
    await rmAsync(to, { force: true });
    assert.throws(() => readFileSync(to), /ENOENT/);
    await assert.rejects(
      withFile(join(dir, 'missing'), 'r', undefined, () => Promise.resolve()),
      /ENOENT/,
    );
  });
});
