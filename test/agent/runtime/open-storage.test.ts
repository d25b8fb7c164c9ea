// Proves that agent.json's `storage` opens the engine it names: each value is read through the
// agent's own config loader and opened with openStorage, and the engine is checked by its class
// and by what it leaves in the data folder (the write-ahead log's segments, or LMDB alone). The
// former name `lmdb` opens the write-ahead-log engine, so an existing agent.json keeps its data;
// an unknown value is refused by name. `cluster init` and provisioning write `wal` by default.
// The wal engine's one-way upgrade of a folder's format (2 to 3, or the lmdb-direct engine's 1)
// is logged once, at warning, with what going back needs; an open that upgrades nothing logs nothing.
// A data folder a recovery left out (its node stopped with LeftOutError and recorded it) is refused
// at every later start, with exit 78, until it is wiped.
import { strict as assert } from 'node:assert';
import { appendFileSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sinon from 'sinon';
import type { PersistenceEngine } from '../../../contracts/persistence.js';
import { STORAGE_SETTINGS, loadAgentConfig } from '../../../agent/config/agent-config.js';
import type { AgentConfig } from '../../../agent/config/agent-config.js';
import schema from '../../../agent/config/agent-config.schema.json' with { type: 'json' };
import { runClusterCommand } from '../../../agent/cli/cluster-init.js';
import { provisionFleet } from '../../../agent/cli/provision.js';
import { openNodeStorage, openStorage } from '../../../agent/runtime/open-storage.js';
import { LEFT_OUT_FILE, recordLeftOut } from '../../../agent/runtime/recovery-epoch.js';
import { exitCodeFor } from '../../../agent/runtime/agent.js';
import { LeftOutError, PersistenceError } from '../../../contracts/errors.js';
import { rmSync } from 'node:fs';
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { EMPTY_BATCH, MemoryPersistenceEngine } from '../../../storage/memory.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { entry, makeTempDir, removeDir } from '../../storage/helpers.js';
import { minimalConfig } from './minimal-config.js';
import { RecordingMetrics } from '../endpoint/harness.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import { openHandles } from '../../../storage/lmdb/lmdb-open.js';
import { resolveLmdbOptions } from '../../../storage/lmdb/lmdb-options.js';
import { META_KEYS, encodeFormat } from '../../../storage/lmdb/lmdb-records.js';
import { crashCopy, lmdbTestOptions } from '../../storage/helpers.js';
import { FRAME_HEADER_BYTES, readFrame } from '../../../storage/wal/wal-frame.js';

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

  it('logs the one-way upgrade of a folder of format 2, once, with what going back needs', async () => {
    const config = configWith(dir, 'wal');
    await openAndWrite(config);
    const handles = openHandles(resolveLmdbOptions(lmdbTestOptions(config.dataDir)));
    await handles.env.transaction(() => handles.meta.putSync(META_KEYS.format, encodeFormat(2)));
    await handles.env.close();
    const opens = async (settings: AgentConfig): Promise<MemoryLogger['records']> => {
      const logger = new MemoryLogger();
      await (await openStorage(settings, undefined, logger)).close();
      return logger.records;
    };
    const upgraded = await opens(config);
    assert.equal(upgraded.length, 1, JSON.stringify(upgraded));
    const record = upgraded[0]!;
    assert.equal(record.level, 'warning');
    assert.match(record.message, /^data folder: upgraded from format 2 to format 3; an earlier build .* refuses it/);
    assert.deepEqual([record.fields.path, record.fields.from, record.fields.to], [config.dataDir, 2, 3]);
    assert.match(String(record.fields.back), /restore its data folder from a copy taken before this start/);
    assert.deepEqual(await opens(config), [], 'a folder already of format 3: nothing to say');

    // A folder of the lmdb-direct engine (format 1), opened by wal.
    const direct = configWith(join(dir, 'direct'), 'lmdb-direct');
    await openAndWrite(direct);
    const fromDirect = await opens({ ...direct, storage: 'wal' });
    assert.match(fromDirect[0]?.message ?? '', /upgraded from the lmdb-direct engine's format 1 to format 3/);
  });

  it('refuses, at every start, a data folder a recovery left out, until it is wiped', async () => {
    const config = configWith(dir, 'wal');
    const logger = new MemoryLogger();
    await (await openNodeStorage(config, logger)).close();
    recordLeftOut(config.dataDir, new LeftOutError('left out by a recovery: n2 speaks for recovery epoch 1'));
    for (let start = 0; start < 2; start += 1) {
      const refused = await openNodeStorage(config, logger).then(
        () => assert.fail('opened'),
        (error: unknown) => error,
      );
      assert.ok(refused instanceof LeftOutError);
      assert.equal(exitCodeFor(refused), 78);
      assert.match(refused.message, new RegExp(`${LEFT_OUT_FILE}: this data folder was left out by a recovery`));
      assert.match(refused.message, /It recorded: left out by a recovery: n2 speaks for recovery epoch 1$/);
    }
    rmSync(config.dataDir, { recursive: true });
    await (await openNodeStorage(config, logger)).close();
  });

  /**
   * Writes `count` entries, one log frame each, and leaves in the data folder what a kill -9 then
   * leaves (the log's records not yet in LMDB); returns the log segment's path.
   */
  async function writeFrames(config: AgentConfig, count: number): Promise<string> {
    const live = { ...config, dataDir: join(dir, 'live') };
    const engine = await openStorage(live);
    try {
      for (let index = 1; index <= count; index += 1)
        await engine.persist({ ...EMPTY_BATCH, entries: [entry(index, 1, 'command', 200)] });
      crashCopy(live.dataDir, config.dataDir);
    } finally {
      await engine.close();
    }
    return join(config.dataDir, walSegments(config.dataDir)[0] ?? '');
  }

  it('logs a torn last frame of the log that the open drops, naming the file, the offset and the bytes', async () => {
    const config = configWith(dir, 'wal');
    const segment = await writeFrames(config, 3);
    const quiet = new MemoryLogger();
    await (await openStorage(config, undefined, quiet)).close();
    assert.deepEqual(quiet.records, [], 'a log without a torn frame: nothing to say');
    const logger = new MemoryLogger();
    // A frame cut short by a crash: its header and a few bytes, no more.
    const size = statSync(segment).size;
    appendFileSync(segment, Buffer.from([0x43, 0x57, 0x41, 0x4c, 0, 0, 1, 0, 7, 7, 7, 7]));
    await (await openStorage(config, undefined, logger)).close();
    assert.equal(logger.records.length, 1, JSON.stringify(logger.records));
    const record = logger.records[0]!;
    assert.equal(record.level, 'warning');
    assert.equal(record.message, 'data folder: dropped the torn last frame of the log');
    assert.equal(record.fields.file, segment);
    assert.equal(typeof record.fields.offset, 'number');
    assert.ok(Number(record.fields.offset) <= size);
    assert.ok(Number(record.fields.bytes) > 0);
    assert.match(String(record.fields.why), /never acknowledged; after a clean stop it is damage/);
  });

  it("refuses, at the agent's start, a log damaged before its last frame, naming the file and what to do", async () => {
    const config = configWith(dir, 'wal');
    const segment = await writeFrames(config, 6);
    const bytes = readFileSync(segment);
    // A bit flipped in the payload of the third frame of six.
    let at = 0;
    for (let frame = 1; frame < 3; frame += 1) {
      const read = readFrame(bytes, at);
      assert.equal(read.kind, 'frame');
      if (read.kind === 'frame') at = read.nextOffset;
    }
    at += FRAME_HEADER_BYTES + 4;
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    writeFileSync(segment, bytes);
    const refused = await openNodeStorage(config, new MemoryLogger()).then(
      () => assert.fail('opened'),
      (error: unknown) => error,
    );
    assert.ok(refused instanceof PersistenceError);
    assert.equal(refused.code, 'STORAGE_CORRUPT');
    assert.equal(exitCodeFor(refused), 74);
    assert.ok(refused.message.startsWith(`${segment}: the frame at offset `), refused.message);
    assert.match(refused.message, /is damaged \(checksum mismatch\) but a valid frame follows/);
    assert.match(refused.message, /do not edit or delete its files\. Keep a copy of it/);
    assert.match(refused.message, /remove this member \(coraft members remove\), empty the folder and add the member/);
    assert.match(refused.message, /deploy\/README\.md, "A damaged data folder"/);
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

  it('cluster init refuses an unknown engine as a usage error', async () => {
    await assert.rejects(clusterInit('--storage', 'rocksdb'), {
      name: 'UsageError',
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
