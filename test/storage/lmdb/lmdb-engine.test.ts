// Proves the LMDB engine meets the PersistenceEngine contract (the shared suite of
// persistence-contract.ts, reopen = close and open the same directory), and the LMDB-specific
// promises: commands and snapshot images come back as plain Uint8Arrays whatever was written,
// the map grows from a small initial size, and concurrent writes share commits.
import { strict as assert } from 'node:assert';
import type { Metrics } from '../../../contracts/metrics.js';
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { CONFIGURATION, entries, entry, lmdbHarness, lmdbTestOptions, makeTempDir, removeDir } from '../helpers.js';
import { persistenceContract } from '../persistence-contract.js';
import {
  appendLogEntries,
  appendLogEntry,
  getLastLogIndex,
  getLogEntry,
  loadSnapshot,
  saveSnapshot,
} from '../reference-fields.js';

persistenceContract('lmdb', lmdbHarness());

/** Counts commits and the writes they carried. */
class CountingMetrics implements Metrics {
  commits = 0;
  writes = 0;
  increment(name: string): void {
    if (name === 'storage_commits_total') this.commits += 1;
  }
  observe(name: string, value: number): void {
    if (name === 'storage_commit_writes') this.writes += value;
  }
  setGauge(): void {}
  observeDurationMs(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

describe('LmdbPersistenceEngine', () => {
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir();
  });

  afterEach(() => {
    removeDir(dir);
  });

  it('returns commands and images as plain Uint8Arrays, also when Buffers were written', async () => {
    const engine = await LmdbPersistenceEngine.open(lmdbTestOptions(dir));
    const written = { index: 1, term: 1, type: 'command' as const, command: Buffer.from('hello') };
    await appendLogEntry(engine, written);
    await saveSnapshot(engine, {
      lastIncludedIndex: 0,
      lastIncludedTerm: 0,
      configuration: CONFIGURATION,
      data: Buffer.from('image'),
    });
    const read = await getLogEntry(engine, 1);
    assert.ok(read !== null);
    assert.equal(Object.getPrototypeOf(read.command), Uint8Array.prototype);
    assert.deepStrictEqual(read.command, new Uint8Array(Buffer.from('hello')));
    const image = await loadSnapshot(engine);
    assert.equal(Object.getPrototypeOf(image?.data), Uint8Array.prototype);
    assert.deepStrictEqual(image?.data, new Uint8Array(Buffer.from('image')));
    await engine.close();
  });

  it('grows the map from 64 KiB to hold 8 MiB of log', async () => {
    const engine = await LmdbPersistenceEngine.open(lmdbTestOptions(dir, { mapSizeInitialBytes: 64 * 1024 }));
    for (let base = 0; base < 8; base += 1) {
      const batch = Array.from({ length: 64 }, (_, i) => entry(base * 64 + i + 1, 1, 'command', 16 * 1024));
      await appendLogEntries(engine, batch);
    }
    assert.equal(await getLastLogIndex(engine), 512);
    assert.deepStrictEqual(await getLogEntry(engine, 300), entry(300, 1, 'command', 16 * 1024));
    await engine.close();
  });

  it('coalesces concurrent writes into fewer commits, each resolving once committed', async () => {
    const metrics = new CountingMetrics();
    const engine = await LmdbPersistenceEngine.open(lmdbTestOptions(dir), { metrics });
    const writes = entries(1, 300, 1).map((e) => appendLogEntry(engine, e));
    await Promise.all(writes);
    assert.equal(metrics.writes, 300);
    assert.ok(metrics.commits < 300, `${metrics.commits} commits for 300 concurrent writes`);
    assert.equal(await getLastLogIndex(engine), 300);
    await engine.close();
  });

  it('refuses options out of range, naming every bad field', async () => {
    await assert.rejects(
      LmdbPersistenceEngine.open({ path: dir, mapSizeMaxBytes: 1024, pageSizeBytes: 3000 }),
      (error: Error & { problems?: string[] }) => {
        assert.equal((error as { code?: string }).code, 'CONFIG_INVALID');
        assert.ok(error.problems?.some((p) => p.startsWith('mapSizeMaxBytes')));
        assert.ok(error.problems?.some((p) => p.startsWith('pageSizeBytes')));
        return true;
      },
    );
  });
});
