// Proves that the keystore cache is a cache: an unparsable one (garbage, truncated, another
// version, a bad entry) is reported, moved aside and rebuilt instead of stopping the node; and
// that it is written like a secret (secret-files.ts): to a 0600 temporary file that is synced
// before it is renamed over the cache, then the folder synced, so a crash leaves the old file
// or the new one.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { KeystoreCache } from '../../../agent/trust/keystore-cache.js';
import { REAL_DURABLE_WRITE_OPS as REAL, type DurableWriteOps } from '../../../agent/config/secret-files.js';

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

  it('syncs the cache before renaming it into place, then syncs the folder', () => {
    const calls: string[] = [];
    const fds = new Map<number, string>();
    const file = join(dir, 'keystore-cache.json');
    const name = (path: string): string => (path === dir ? 'dir' : path.endsWith('.tmp') ? 'tmp' : path);
    const ops: DurableWriteOps = {
      openSync: (path, flags, mode) => {
        const fd = REAL.openSync(path, flags, mode);
        fds.set(fd, name(path));
        calls.push(`open ${name(path)}`);
        return fd;
      },
      fchmodSync: (fd, mode) => REAL.fchmodSync(fd, mode),
      writeSync: (fd, data, offset, length) => (calls.push('write'), REAL.writeSync(fd, data, offset, length)),
      fsyncSync: (fd) => (calls.push(`fsync ${fds.get(fd) ?? '?'}`), REAL.fsyncSync(fd)),
      closeSync: (fd) => (calls.push('close'), REAL.closeSync(fd)),
      renameSync: (from, to) => (
        calls.push(`rename ${name(from)} -> ${name(to) === file ? 'cache' : to}`),
        REAL.renameSync(from, to)
      ),
      rmSync: (path, options) => REAL.rmSync(path, options),
    };
    const cache = new KeystoreCache(file, new MemoryLogger(), ops);
    cache.set('n2', { index: 3, kind: 'revoked' });
    cache.save();
    assert.deepEqual(calls, [
      'open tmp',
      'write',
      'fsync tmp',
      'close',
      'rename tmp -> cache',
      'open dir',
      'fsync dir',
      'close',
    ]);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(new KeystoreCache(file, new MemoryLogger()).get('n2')?.kind, 'revoked');
    assert.deepEqual(readdirSync(dir), ['keystore-cache.json'], 'no temporary file left');
  });
});
