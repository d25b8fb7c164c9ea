// Proves that the keystore cache is a cache: an unreadable one (garbage, truncated, another
// version) is reported, moved aside and rebuilt instead of stopping the node; and that it is
// written like a secret: to a 0600 temporary file that is synced before it is renamed over
// the cache, then the folder synced, so a crash leaves the old file or the new one.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { KeystoreCache } from '../../../agent/trust/keystore-cache.js';
import { REAL_FILE_OPS, writeSecretFileSynced, type SecretFileOps } from '../../../agent/trust/secret-write.js';

describe('KeystoreCache', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-cache-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, text] of [
    ['garbage', 'not json at all'],
    ['truncated', '{"version":2,"peers":{"n2":{"index":3,"kind":"li'],
    ['another version', '{"n2":"revoked"}'],
    ['a bad entry', '{"version":2,"peers":{"n2":{"index":-1,"kind":"revoked"}}}'],
  ] as const) {
    it(`reports and rebuilds a cache holding ${name}`, () => {
      const file = join(dir, 'keystore-cache.json');
      writeFileSync(file, text, { mode: 0o600 });
      const logger = new MemoryLogger();
      const cache = new KeystoreCache(file, logger);
      assert.deepEqual(cache.peers(), []);
      assert.match(logger.records.find((r) => r.level === 'warning')?.message ?? '', /keystore cache is unreadable/);
      assert.equal(readFileSync(`${file}.corrupt`, 'utf8'), text, 'moved aside for inspection');
      cache.set('n3', { index: 7, kind: 'revoked' });
      cache.save();
      assert.equal(new KeystoreCache(file, logger).get('n3')?.kind, 'revoked', 'rebuilt');
      assert.equal(statSync(file).mode & 0o777, 0o600);
    });
  }

  it('syncs a secret file before renaming it into place, then syncs the folder', () => {
    const calls: string[] = [];
    const fds = new Map<number, string>();
    const ops: SecretFileOps = {
      openSync: (path, flags, mode) => {
        const fd = REAL_FILE_OPS.openSync(path, flags, mode);
        fds.set(fd, path);
        calls.push(`open ${path.endsWith('.tmp') ? 'tmp' : path === dir ? 'dir' : path}`);
        return fd;
      },
      writeSync: (fd, data) => (calls.push('write'), REAL_FILE_OPS.writeSync(fd, data)),
      fsyncSync: (fd) => (calls.push(`fsync ${fds.get(fd)?.endsWith('.tmp') === true ? 'tmp' : 'dir'}`), REAL_FILE_OPS.fsyncSync(fd)),
      closeSync: (fd) => (calls.push('close'), REAL_FILE_OPS.closeSync(fd)),
      renameSync: (a, b) => (calls.push('rename'), REAL_FILE_OPS.renameSync(a, b)),
      unlinkSync: (p) => (calls.push('unlink'), REAL_FILE_OPS.unlinkSync(p)),
    };
    const file = join(dir, 'secret');
    writeSecretFileSynced(file, new TextEncoder().encode('s3cr3t'), ops);
    assert.deepEqual(calls, ['open tmp', 'write', 'fsync tmp', 'close', 'rename', 'open dir', 'fsync dir', 'close']);
    assert.equal(readFileSync(file, 'utf8'), 's3cr3t');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(existsSync(`${file}.tmp`), false);
  });
});
