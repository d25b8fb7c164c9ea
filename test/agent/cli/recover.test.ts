// Proves that `coraft recover --force-new-cluster` (agent/cli/recover.ts) works on its own node's
// data folder only (agent/runtime/data-owner.ts): a folder recorded as another node's is refused
// with exit 78 before the storage opens; the dry run writes no record; with --yes a folder without
// a record is recorded as this node's, of the same cluster id (a recovered member stays in its
// cluster, with its keys). It refuses a missing or empty data folder (a wrong dataDir) with exit 78
// and creates nothing; a damaged commit marker, or one beyond the log, stops it with exit 74,
// naming what is wrong and the choices, changing nothing (--keep-uncommitted ignores it; moved
// aside as advised, the dry run goes on). The dry run changes no byte of the folder (every file's
// checksum but LMDB's reader table, lock.mdb, which any reader writes): on a folder of an older
// format (2, or the lmdb-direct engine's 1) it says it would upgrade it, on a log left by a killed
// agent (records past the checkpoint, a torn last frame) it plans what the run with --yes does and
// says it would zero the torn bytes; it still refuses while the agent runs. Runs the command
// in-process on an agent.json on coap.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sinon from 'sinon';
import { runRecoverCommand } from '../../../agent/cli/recover.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { EXIT } from '../../../agent/runtime/agent.js';
import { openStorage } from '../../../agent/runtime/open-storage.js';
import { openHandles } from '../../../storage/lmdb/lmdb-open.js';
import { resolveLmdbOptions } from '../../../storage/lmdb/lmdb-options.js';
import { META_KEYS, encodeFormat } from '../../../storage/lmdb/lmdb-records.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { acquireDirectoryLock } from '../../../storage/dir-lock.js';
import { crashCopy, lmdbTestOptions, makeTempDir, removeDir } from '../../storage/helpers.js';

/** A checksum of every file of `dir` but lock.mdb (LMDB's reader table, written by every reader). */
function checksums(dir: string): Record<string, string> {
  const sums: Record<string, string> = {};
  for (const name of readdirSync(dir).sort())
    if (name !== 'lock.mdb')
      sums[name] = createHash('sha256')
        .update(readFileSync(join(dir, name)))
        .digest('hex');
  return sums;
}

const OWNER_FILE = 'owner.json';

describe('coraft recover: the data folder owner record', () => {
  let dir: string;
  let file: string;
  let stderr: sinon.SinonStub;
  const data = (): string => join(dir, 'data');
  const said = (): string => stderr.args.map((a: unknown[]) => String(a[0])).join('');
  const printed = (): string => stdout.args.map((a: unknown[]) => String(a[0])).join('');
  let stdout: sinon.SinonStub;
  /** Stores `count` entries of term 1 in the data folder, as a stopped member would hold them. */
  async function seedLog(count: number): Promise<void> {
    const storage = await openStorage(loadAgentConfig(file));
    const entries = Array.from({ length: count }, (_, i) => ({
      term: 1,
      index: i + 1,
      type: 'noop' as const,
      command: new Uint8Array(),
    }));
    await storage.persist({
      snapshot: null,
      truncateFrom: null,
      entries,
      compactBefore: null,
      hardState: { currentTerm: 1, votedFor: 'n1' },
    });
    await storage.close();
  }

  beforeEach(() => {
    dir = makeTempDir();
    file = join(dir, 'agent.json');
    const config = {
      nodeId: 'n1',
      cluster: 'site-a',
      dataDir: 'data',
      listen: { peer: '127.0.0.1:6500', endpoint: '127.0.0.1:6501' },
      members: [
        { id: 'n1', address: '127.0.0.1:6500' },
        { id: 'n2', address: '127.0.0.1:6502' },
      ],
      transport: 'coap',
      storage: 'wal',
    };
    writeFileSync(file, JSON.stringify(config));
    mkdirSync(data(), { mode: 0o700 });
    stdout = sinon.stub(process.stdout, 'write').returns(true);
    stderr = sinon.stub(process.stderr, 'write').returns(true);
  });
  afterEach(() => {
    sinon.restore();
    removeDir(dir);
  });

  it("refuses a folder recorded as another node's with exit 78, before the storage opens", async () => {
    const record = `${JSON.stringify({ format: 1, cluster: 'site-a', nodeId: 'n2' })}\n`;
    writeFileSync(join(data(), OWNER_FILE), record);
    const code = await runRecoverCommand(['--config', file, '--force-new-cluster', '--yes']);
    assert.equal(code, EXIT.config);
    const said = stderr.args.map((a: unknown[]) => String(a[0])).join('');
    assert.match(said, /belongs to node n2 of cluster site-a, this agent is node n1 of cluster site-a/);
    assert.deepEqual(readdirSync(data()), [OWNER_FILE]);
    assert.equal(readFileSync(join(data(), OWNER_FILE), 'utf8'), record);
  });

  it('writes no record on a dry run, and records the same cluster with --yes', async () => {
    await seedLog(3);
    assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster']), EXIT.ok);
    assert.equal(existsSync(join(data(), OWNER_FILE)), false, 'a dry run changes nothing');
    assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster', '--yes']), EXIT.ok);
    const record = JSON.parse(readFileSync(join(data(), OWNER_FILE), 'utf8')) as unknown;
    assert.deepEqual(record, { format: 1, cluster: 'site-a', nodeId: 'n1' });
  });

  it('refuses a missing or empty data folder with exit 78 and creates nothing', async () => {
    const empty = await runRecoverCommand(['--config', file, '--force-new-cluster', '--yes']);
    assert.equal(empty, EXIT.config);
    assert.match(said(), /data is empty, there is nothing to recover; check dataDir in .*agent\.json/);
    assert.deepEqual(readdirSync(data()), [], 'nothing was written in it');
    removeDir(data());
    assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster']), EXIT.config);
    assert.match(said(), /data does not exist; check dataDir/);
    assert.equal(existsSync(data()), false, 'the dry run created no folder');
  });

  for (const [damage, text, wrong] of [
    ['torn', '{"appliedIn', /is not JSON/],
    ['empty', '', /is empty/],
    ['wrong field', '{"appliedIndex": "x"}', /holds no "appliedIndex" that is a log index/],
  ] as const) {
    it(`stops on a ${damage} commit marker, naming what is wrong and the choices, changing nothing`, async () => {
      await seedLog(5);
      const marker = join(data(), 'commit-index.json');
      writeFileSync(marker, text);
      assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster', '--yes']), EXIT.ioError);
      assert.ok(said().includes(`${marker} `), said());
      assert.match(said(), wrong);
      assert.match(said(), /cannot tell which of entries 1 to 5 committed/);
      assert.match(said(), /run again with --keep-uncommitted/);
      assert.match(said(), /mv \S+commit-index\.json \S+commit-index\.json\.damaged/);
      assert.match(said(), /deploy\/README\.md/);
      assert.equal(readFileSync(marker, 'utf8'), text, 'the marker is left as it was');
      assert.equal(existsSync(join(data(), OWNER_FILE)), false, 'nothing was recovered');
      stderr.resetHistory();
      const kept = ['--config', file, '--force-new-cluster', '--keep-uncommitted'];
      assert.equal(await runRecoverCommand(kept), EXIT.ok);
      assert.match(said(), /^note: .*commit-index\.json .*; ignored: --keep-uncommitted/m);
      renameSync(marker, `${marker}.damaged`);
      assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster']), EXIT.ok, 'moved aside');
    });
  }

  it('stops on a commit marker beyond the log: it is not the one this member wrote', async () => {
    await seedLog(5);
    writeFileSync(join(data(), 'commit-index.json'), '{"appliedIndex":999}\n');
    assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster', '--yes']), EXIT.ioError);
    assert.match(said(), /names index 999, beyond the log's last entry 5: .* entries 1 to 5/);
    assert.equal(existsSync(join(data(), OWNER_FILE)), false, 'nothing was changed');
  });

  /** Runs the dry run, then the run with --yes; returns what each printed, checking the dry run changed nothing. */
  async function dryRunThenRun(): Promise<{ dry: string; done: string }> {
    const before = checksums(data());
    assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster']), EXIT.ok, said());
    assert.deepEqual(checksums(data()), before, 'the dry run changed the data folder');
    const dry = printed();
    stdout.resetHistory();
    assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster', '--yes']), EXIT.ok, said());
    const done = printed();
    const planOf = (text: string): string => text.split('\n').slice(0, 6).join('\n');
    assert.equal(planOf(done), planOf(dry), 'the dry run planned what the run did');
    return { dry, done };
  }

  for (const format of [2, 1] as const)
    it(`changes nothing on a folder of format ${format} in a dry run, and says it would upgrade it`, async () => {
      if (format === 1) writeFileSync(file, readFileSync(file, 'utf8').replace('"wal"', '"lmdb-direct"'));
      await seedLog(4);
      if (format === 1) writeFileSync(file, readFileSync(file, 'utf8').replace('"lmdb-direct"', '"wal"'));
      else {
        const handles = openHandles(resolveLmdbOptions(lmdbTestOptions(data())));
        await handles.env.transaction(() => handles.meta.putSync(META_KEYS.format, encodeFormat(2)));
        await handles.env.close();
      }
      const { dry, done } = await dryRunThenRun();
      const was = format === 1 ? "the lmdb-direct engine's format 1" : 'format 2';
      assert.ok(dry.includes(`with --yes, first: upgrade the data folder from ${was} to format 3 (one way`), dry);
      assert.match(dry, /dry run: nothing was changed/);
      assert.doesNotMatch(done, /upgrade/);
    });

  it("changes nothing in a dry run on a killed agent's log, plans what the run does, names a torn frame", async () => {
    const live = join(dir, 'live');
    const engine = await WalPersistenceEngine.open({ path: live, createDirectory: true });
    for (let index = 1; index <= 20; index += 1)
      await engine.persist({
        snapshot: null,
        truncateFrom: index === 12 ? 12 : null,
        entries: [{ term: index < 12 ? 1 : 2, index, type: 'noop', command: new Uint8Array(index) }],
        compactBefore: null,
        hardState: { currentTerm: index < 12 ? 1 : 2, votedFor: 'n1' },
      });
    crashCopy(live, data());
    await engine.close();
    const segment = readdirSync(data()).find((name) => name.startsWith('wal-')) ?? '';
    appendFileSync(join(data(), segment), Buffer.from([0x43, 0x57, 0x41, 0x4c, 9, 9]));
    const lock = acquireDirectoryLock(data());
    try {
      const code = await runRecoverCommand(['--config', file, '--force-new-cluster']);
      assert.equal(code, EXIT.ioError);
      assert.match(said(), /is the agent running\? stop it first/);
    } finally {
      lock.release();
    }
    stdout.resetHistory();
    const { dry } = await dryRunThenRun();
    assert.match(dry, /log up to 20/);
    assert.match(dry, /with --yes, first: zero the torn last frame of the log \(\d+ bytes/);
  });
});
