// Proves that `coraft recover --force-new-cluster` (agent/cli/recover.ts) works on its own node's
// data folder only (agent/runtime/data-owner.ts): a folder recorded as another node's is refused
// with exit 78 before the storage opens; the dry run writes no record; with --yes a folder without
// a record is recorded as this node's, of the same cluster id (a recovered member stays in its
// cluster, with its keys). And that a damaged commit marker (commit-index.json) is named, with
// what is wrong with it and what the operator can do, with exit 74 and nothing changed; moved
// aside as advised, the dry run goes on. Runs the command in-process on a one-node agent.json on coap.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sinon from 'sinon';
import { runRecoverCommand } from '../../../agent/cli/recover.js';
import { EXIT } from '../../../agent/runtime/agent.js';
import { makeTempDir, removeDir } from '../../storage/helpers.js';

const OWNER_FILE = 'owner.json';

describe('coraft recover: the data folder owner record and the commit marker', () => {
  let dir: string;
  let file: string;
  let stderr: sinon.SinonStub;
  const data = (): string => join(dir, 'data');

  beforeEach(() => {
    dir = makeTempDir();
    file = join(dir, 'agent.json');
    const config = {
      nodeId: 'n1',
      cluster: 'site-a',
      dataDir: 'data',
      listen: { peer: '127.0.0.1:6500', endpoint: '127.0.0.1:6501' },
      members: [{ id: 'n1', address: '127.0.0.1:6500' }],
      transport: 'coap',
      storage: 'wal',
    };
    writeFileSync(file, JSON.stringify(config));
    mkdirSync(data(), { mode: 0o700 });
    sinon.stub(process.stdout, 'write').returns(true);
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
    assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster']), EXIT.ok);
    assert.equal(existsSync(join(data(), OWNER_FILE)), false, 'a dry run changes nothing');
    assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster', '--yes']), EXIT.ok);
    const record = JSON.parse(readFileSync(join(data(), OWNER_FILE), 'utf8')) as unknown;
    assert.deepEqual(record, { format: 1, cluster: 'site-a', nodeId: 'n1' });
  });

  for (const [damage, text, wrong] of [
    ['torn', '{"appliedIndex": ', /is not JSON/],
    ['empty', '', /is empty/],
    ['wrong field', '{"appliedIndex": "x"}', /holds no "appliedIndex" that is a log index/],
  ] as const) {
    it(`names a ${damage} commit marker, what is wrong and what to do, with exit 74, changing nothing`, async () => {
      const marker = join(data(), 'commit-index.json');
      writeFileSync(marker, text);
      const code = await runRecoverCommand(['--config', file, '--force-new-cluster', '--yes']);
      assert.equal(code, EXIT.ioError);
      const said = stderr.args.map((a: unknown[]) => String(a[0])).join('');
      assert.ok(said.includes(`${marker} `), said);
      assert.match(said, wrong);
      assert.match(said, /mv \S+commit-index\.json \S+commit-index\.json\.damaged/);
      assert.match(said, /--keep-uncommitted/);
      assert.match(said, /deploy\/README\.md/);
      assert.equal(readFileSync(marker, 'utf8'), text, 'the marker is left as it was');
      assert.equal(existsSync(join(data(), OWNER_FILE)), false, 'nothing was recovered');
      renameSync(marker, `${marker}.damaged`);
      assert.equal(await runRecoverCommand(['--config', file, '--force-new-cluster']), EXIT.ok);
    });
  }
});
