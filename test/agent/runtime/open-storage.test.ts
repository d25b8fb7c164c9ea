// Proves that agent.json's `storage` opens the engine it names: each value is read through the
// agent's own config loader and opened with openStorage, and the engine is checked by its class
// and by what it leaves in the data folder (the write-ahead log's segments, or LMDB alone). The
// former name `lmdb` opens the write-ahead-log engine, so an existing agent.json keeps its data;
// an unknown value is refused by name. `cluster init` and provisioning write `wal` by default.
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sinon from 'sinon';
import type { PersistenceEngine } from '../../../contracts/persistence.js';
import { STORAGE_SETTINGS, loadAgentConfig } from '../../../agent/config/agent-config.js';
import type { AgentConfig } from '../../../agent/config/agent-config.js';
import schema from '../../../agent/config/agent-config.schema.json' with { type: 'json' };
import { runClusterCommand } from '../../../agent/cli/cluster-init.js';
import { provisionFleet } from '../../../agent/cli/provision.js';
import { openStorage } from '../../../agent/runtime/open-storage.js';
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { EMPTY_BATCH, MemoryPersistenceEngine } from '../../../storage/memory.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { entry, makeTempDir, removeDir } from '../../storage/helpers.js';
import { minimalConfig } from './minimal-config.js';
import { RecordingMetrics } from '../endpoint/harness.js';

/** A minimal valid agent.json in `dir`, with `storage` set unless undefined. */
function configWith(dir: string, storage: string | undefined): AgentConfig {
  return minimalConfig(dir, storage === undefined ? {} : { storage });
}

/** Opens the engine `storage` names, writes one entry, closes it, and returns the engine. */
async function openAndWrite(config: AgentConfig): Promise<PersistenceEngine> {
  const engine = await openStorage(config);
  try {
    await engine.persist({ ...EMPTY_BATCH, entries: [entry(1, 1)] });
  } finally {
    await engine.close();
  }
  return engine;
}

const walSegments = (dir: string): string[] => readdirSync(dir).filter((name) => /^wal-[0-9a-f]{16}\.log$/.test(name));

describe('storage setting: the engine each value opens', () => {
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir('coraft-open-storage-');
  });

  afterEach(() => {
    removeDir(dir);
  });

  it('accepts exactly the values the schema lists', () => {
    assert.deepEqual(schema.properties.storage.enum, [...STORAGE_SETTINGS]);
    assert.equal(schema.properties.storage.default, 'wal');
  });

  it('wal opens the write-ahead-log engine, which writes log segments', async () => {
    const config = configWith(dir, 'wal');
    assert.equal(config.storage, 'wal');
    assert.ok((await openAndWrite(config)) instanceof WalPersistenceEngine);
    assert.ok(walSegments(config.dataDir).length > 0, readdirSync(config.dataDir).join(', '));
    // The folder is in the WAL engine's format, which the LMDB engine refuses.
    await assert.rejects(openStorage({ ...config, storage: 'lmdb-direct' }), { code: 'STORAGE_VERSION' });
  });

  for (const storage of ['wal', 'lmdb-direct'] as const)
    it(`${storage} counts its commits in the agent's metrics`, async () => {
      const metrics = new RecordingMetrics();
      const engine = await openStorage(configWith(dir, storage), metrics);
      try {
        await engine.persist({ ...EMPTY_BATCH, entries: [entry(1, 1)] });
      } finally {
        await engine.close();
      }
      assert.ok(metrics.count('storage_commits_total', {}) > 0, metrics.counts.join(', '));
    });

  it('the default is wal', async () => {
    const config = configWith(dir, undefined);
    assert.equal(config.storage, 'wal');
    assert.ok((await openAndWrite(config)) instanceof WalPersistenceEngine);
  });

  it('lmdb-direct opens the LMDB engine, which writes no log', async () => {
    const config = configWith(dir, 'lmdb-direct');
    assert.equal(config.storage, 'lmdb-direct');
    assert.ok((await openAndWrite(config)) instanceof LmdbPersistenceEngine);
    assert.deepEqual(walSegments(config.dataDir), []);
    const reopened = await LmdbPersistenceEngine.open({ path: config.dataDir });
    assert.deepStrictEqual((await reopened.load()).entries, [entry(1, 1)]);
    await reopened.close();
  });

  it('memory opens the memory engine and leaves no data folder', async () => {
    const config = configWith(dir, 'memory');
    assert.equal(config.storage, 'memory');
    assert.ok((await openAndWrite(config)) instanceof MemoryPersistenceEngine);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('lmdb, the former name of wal, opens the write-ahead-log engine and keeps its data', async () => {
    const written = configWith(dir, 'wal');
    await openAndWrite(written);
    const config = configWith(dir, 'lmdb');
    assert.equal(config.storage, 'wal');
    const engine = await openStorage(config);
    try {
      assert.ok(engine instanceof WalPersistenceEngine);
      assert.deepStrictEqual((await engine.load()).entries, [entry(1, 1)]);
    } finally {
      await engine.close();
    }
  });

  it('refuses an unknown value, naming the field and every accepted one', () => {
    assert.throws(
      () => configWith(dir, 'rocksdb'),
      (error: Error & { code?: string; problems?: string[] }) => {
        assert.equal(error.code, 'CONFIG_INVALID');
        assert.deepEqual(error.problems, ['storage: expected one of "wal", "lmdb-direct", "memory", "lmdb"']);
        return true;
      },
    );
  });
});

describe('storage setting: defaults of the tools that write agent.json', () => {
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir('coraft-open-storage-');
  });

  afterEach(() => {
    removeDir(dir);
  });

  async function clusterInit(...extra: string[]): Promise<number> {
    const write = sinon.stub(process.stdout, 'write').returns(true);
    try {
      return await runClusterCommand(['init', '--nodes', '1', '--dir', dir, '--force', ...extra]);
    } finally {
      write.restore();
    }
  }

  it('cluster init writes wal unless told otherwise, and accepts every engine name', async () => {
    assert.equal(await clusterInit(), 0);
    const file = join(dir, 'n1', 'agent.json');
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).storage, 'wal');
    for (const storage of ['lmdb-direct', 'memory', 'lmdb']) {
      assert.equal(await clusterInit('--storage', storage), 0);
      assert.equal(JSON.parse(readFileSync(file, 'utf8')).storage, storage);
      assert.equal(loadAgentConfig(file).storage, storage === 'lmdb' ? 'wal' : storage);
    }
  });

  it('cluster init refuses an unknown engine', async () => {
    await assert.rejects(clusterInit('--storage', 'rocksdb'), {
      code: 'CONFIG_INVALID',
      message: /--storage: expected wal, lmdb-direct, memory, lmdb/,
    });
  });

  it('provisioning writes wal unless the inventory says otherwise', () => {
    const inventory = {
      cluster: 'plant-a',
      defaults: { dataDir: 'data' },
      gateways: [
        { id: 'gw1', address: '10.0.0.1:5684' },
        { id: 'gw2', address: '10.0.0.2:5684', overrides: { storage: 'lmdb-direct' } },
      ],
    };
    const file = join(dir, 'fleet.json');
    writeFileSync(file, JSON.stringify(inventory));
    const bundles = provisionFleet(file, join(dir, 'out'));
    const storageOf = (id: string): unknown => {
      const bundle = bundles.find((b) => b.id === id);
      assert.ok(bundle !== undefined, id);
      return JSON.parse(readFileSync(join(bundle.dir, 'agent.json'), 'utf8')).storage;
    };
    assert.equal(storageOf('gw1'), 'wal');
    assert.equal(storageOf('gw2'), 'lmdb-direct');
  });
});
