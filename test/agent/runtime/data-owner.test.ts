// Proves that a data folder records whose it is (agent/runtime/data-owner.ts) and that the agent's
// storage opens only on its own folder (openNodeStorage): a folder without a record is adopted
// (the record is written, and logged at info) and from then on refuses another node id or another
// cluster with ConfigError before the engine opens (no engine file appears in a refused empty
// folder); a damaged record (garbage, empty, wrong fields) is refused with STORAGE_CORRUPT and
// left as it was; a temporary file of an interrupted write counts for nothing and is removed. Each
// case runs on a real folder with the agent's own config loader and the wal engine.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../../../agent/config/agent-config.js';
import { DATA_OWNER_FILE, checkDataOwner, claimDataOwner, readDataOwner } from '../../../agent/runtime/data-owner.js';
import { openNodeStorage } from '../../../agent/runtime/open-storage.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { makeTempDir, removeDir } from '../../storage/helpers.js';
import { minimalConfig } from './minimal-config.js';

describe('data folder owner record', () => {
  let dir: string;
  let config: AgentConfig;
  const recordOf = (c: AgentConfig): unknown => JSON.parse(readFileSync(join(c.dataDir, DATA_OWNER_FILE), 'utf8'));
  const write = (text: string): void => writeFileSync(join(config.dataDir, DATA_OWNER_FILE), text);

  beforeEach(() => {
    dir = makeTempDir();
    config = minimalConfig(dir, { cluster: 'site-a' });
  });
  afterEach(() => removeDir(dir));

  /** Opens and closes the node's storage with `c`; returns what it logged. */
  async function startWith(c: AgentConfig): Promise<MemoryLogger> {
    const logger = new MemoryLogger();
    const storage = await openNodeStorage(c, logger);
    await storage.close();
    return logger;
  }

  it('adopts a folder without a record, logs it at info, then refuses another node id', async () => {
    const first = await startWith(config);
    assert.deepEqual(recordOf(config), { format: 1, cluster: 'site-a', nodeId: 'n1' });
    const adopted = first.records.filter((r) => r.message.includes('had no owner record'));
    assert.equal(adopted.length, 1);
    assert.equal(adopted[0]?.level, 'info');
    const again = await startWith(config);
    assert.equal(again.records.filter((r) => r.message.includes('owner record')).length, 0, 'written once');
    const other = minimalConfig(dir, {
      cluster: 'site-a',
      nodeId: 'n2',
      members: [{ id: 'n2', address: '127.0.0.1:5700' }],
    });
    await assert.rejects(startWith(other), (error: Error) => {
      assert.equal(Reflect.get(error, 'code'), 'CONFIG_INVALID');
      assert.match(error.message, /dataDir: data folder .*data belongs to node n1 of cluster site-a, /);
      assert.match(error.message, /, this agent is node n2 of cluster site-a: point dataDir at n2's own folder$/);
      return true;
    });
    assert.deepEqual(recordOf(config), { format: 1, cluster: 'site-a', nodeId: 'n1' }, 'the record is kept');
  });

  it('refuses a folder of another cluster, and a cluster id on a folder recorded without one', async () => {
    await startWith(config);
    await assert.rejects(
      startWith(minimalConfig(dir, { cluster: 'site-b' })),
      /belongs to node n1 of cluster site-a, this agent is node n1 of cluster site-b: point dataDir at n1's folder of/,
    );
    await assert.rejects(startWith(minimalConfig(dir)), /this agent is node n1 of no cluster id/);
    write(`${JSON.stringify({ format: 1, cluster: null, nodeId: 'n1' })}\n`);
    await startWith(minimalConfig(dir));
    await assert.rejects(
      startWith(config),
      /belongs to node n1 of no cluster id, this agent is node n1 of cluster site-a/,
    );
  });

  it('refuses before the engine opens: a refused empty folder gets no engine file', async () => {
    mkdirSync(config.dataDir);
    assert.equal(checkDataOwner(config), null);
    assert.equal(claimDataOwner(config), true);
    const other = minimalConfig(dir, { cluster: 'site-b' });
    await assert.rejects(startWith(other), { code: 'CONFIG_INVALID' });
    assert.deepEqual(readdirSync(config.dataDir), [DATA_OWNER_FILE]);
  });

  for (const [name, text] of [
    ['empty', ''],
    ['garbage', '\u0000\u0001not json'],
    ['a JSON value of the wrong shape', '{"format": 1, "cluster": "site-a"}'],
    ['an unknown format', '{"format": 2, "cluster": "site-a", "nodeId": "n1"}'],
  ] as const) {
    it(`refuses a damaged record (${name}) with STORAGE_CORRUPT and leaves it as it was`, async () => {
      await startWith(config);
      write(text);
      await assert.rejects(startWith(config), (error: Error) => {
        assert.equal(Reflect.get(error, 'code'), 'STORAGE_CORRUPT');
        assert.match(error.message, /owner\.json is damaged .* it is not rewritten/);
        return true;
      });
      assert.equal(readFileSync(join(config.dataDir, DATA_OWNER_FILE), 'utf8'), text);
    });
  }

  it('does not count the temporary file of an interrupted write, and removes it', async () => {
    await startWith(config);
    const stale = join(config.dataDir, `${DATA_OWNER_FILE}.4242.tmp`);
    writeFileSync(stale, JSON.stringify({ format: 1, cluster: 'site-a', nodeId: 'n2' }));
    const other = minimalConfig(dir, {
      cluster: 'site-a',
      nodeId: 'n2',
      members: [{ id: 'n2', address: '127.0.0.1:5700' }],
    });
    await assert.rejects(startWith(other), /belongs to node n1/);
    // The write of the record was cut before its rename: the folder has no record yet.
    rmSync(join(config.dataDir, DATA_OWNER_FILE));
    assert.equal(readDataOwner(config.dataDir), null);
    const logger = await startWith(config);
    assert.equal(logger.records.filter((r) => r.message.includes('had no owner record')).length, 1);
    assert.equal(existsSync(stale), false);
    assert.deepEqual(recordOf(config), { format: 1, cluster: 'site-a', nodeId: 'n1' });
  });
});
