// Proves that a data folder path that names an existing regular file is refused with a message
// that says so ("dataDir: ... is a file, not a folder", a ConfigError: exit 78) instead of the
// bare EEXIST of mkdir, and that the file is left as it was; and that a missing folder is still
// created 0700. Runs on a temporary folder.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDataDir } from '../../../agent/runtime/data-dir.js';
import { ConfigError } from '../../../contracts/errors.js';

describe('runtime: data folder preparation', () => {
  let dir: string;

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'coraft-data-dir-'))));

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a path that is a regular file, saying so, and leaves the file alone', () => {
    const file = join(dir, 'data');
    writeFileSync(file, 'not a folder\n', { mode: 0o644 });
    assert.throws(
      () => prepareDataDir(file),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.code === 'CONFIG_INVALID' &&
        error.problems[0]?.startsWith(`dataDir: ${file} is a file, not a folder; `) === true,
    );
    assert.equal(readFileSync(file, 'utf8'), 'not a folder\n');
    assert.equal(statSync(file).mode & 0o777, 0o644);
  });

  it('creates a missing folder 0700', () => {
    const folder = join(dir, 'a', 'data');
    assert.deepEqual(prepareDataDir(folder), []);
    assert.ok(statSync(folder).isDirectory());
    assert.equal(statSync(folder).mode & 0o777, 0o700);
  });
});
