// Proves that a restore (agent/backup/restore.ts, `coraft restore`) records every data folder it
// seeds as its own node's, of the NEW cluster (runtime/data-owner.ts): `coraft restore --nodes 2`
// leaves in each node's folder a record naming that node and the cluster id of its agent.json,
// never the backup's; and `restore --config` refuses a folder recorded as another node's before it
// writes anything. A --dir that holds a cluster is refused, and the message does not offer the
// --force that restore does not have. The backup file is written in-process from a small state machine.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';
import { BackupStream, freezeState } from '../../../agent/backup/backup-stream.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { runRestore } from '../../../agent/cli/restore-command.js';
/** The owner record's file name (agent/runtime/data-owner.ts DATA_OWNER_FILE). */
const DATA_OWNER_FILE = 'owner.json';
import { Driver } from '../kv/kv-helpers.js';

/** Writes a backup of cluster `old` with `keys` keys to `file`. */
function writeBackup(file: string, keys: number): void {
  const kv = new KvStateMachine({});
  const driver = new Driver(kv);
  for (let i = 0; i < keys; i += 1) driver.put(`key/${i}`, `value ${i}`);
  const sm = new TrustedStateMachine(kv, { cluster: 'old', genesisAdminKey: null });
  const header = {
    cluster: 'old',
    node: 'n1',
    index: kv.lastApplied,
    term: 2,
    revision: kv.revision,
    keyCount: kv.stats().keyCount,
    dataBytes: kv.stats().dataBytes,
    createdAtMs: 1_700_000_000_000,
  };
  const stream = new BackupStream(header, freezeState(sm), 4096);
  const chunks: Uint8Array[] = [];
  for (let chunk = stream.next(); chunk !== null; chunk = stream.next()) chunks.push(chunk);
  writeFileSync(file, Buffer.concat(chunks));
}

describe('restore: data folder owner records', function () {
  this.timeout(30_000);
  let dir: string;
  let backup: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-restore-'));
    backup = join(dir, 'site.backup');
    writeBackup(backup, 5);
    sinon.stub(process.stdout, 'write').returns(true);
  });
  afterEach(() => {
    sinon.restore();
    rmSync(dir, { recursive: true, force: true });
  });

  it("records each seeded folder as its node's, of the new cluster", async () => {
    const out = join(dir, 'new');
    assert.equal(await runRestore(['--from', backup, '--nodes', '2', '--dir', out, '--base-port', '6500']), 0);
    for (const id of ['n1', 'n2']) {
      const config = loadAgentConfig(join(out, id, 'agent.json'));
      assert.ok(config.cluster !== null && config.cluster !== 'old');
      const record = JSON.parse(readFileSync(join(config.dataDir, DATA_OWNER_FILE), 'utf8')) as unknown;
      assert.deepEqual(record, { format: 1, cluster: config.cluster, nodeId: id });
    }
  });

  it("refuses with --config a folder recorded as another node's, writing nothing", async () => {
    const out = join(dir, 'new');
    assert.equal(await runRestore(['--from', backup, '--nodes', '1', '--dir', out, '--base-port', '6500']), 0);
    const file = join(out, 'n1', 'agent.json');
    const cluster = loadAgentConfig(file).cluster;
    const other = join(dir, 'other');
    mkdirSync(other, { mode: 0o700 });
    const record = `${JSON.stringify({ format: 1, cluster, nodeId: 'n2' })}\n`;
    writeFileSync(join(other, DATA_OWNER_FILE), record);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...parsed, dataDir: other }));
    await assert.rejects(
      runRestore(['--from', backup, '--config', file]),
      /belongs to node n2 of cluster local-\w+, this agent is node n1 of cluster local-\w+/,
    );
    assert.deepEqual(readdirSync(other), [DATA_OWNER_FILE]);
    assert.equal(readFileSync(join(other, DATA_OWNER_FILE), 'utf8'), record);
  });

  it('refuses a --dir that holds a cluster, naming what to do instead (restore has no --force)', async () => {
    const out = join(dir, 'new');
    assert.equal(await runRestore(['--from', backup, '--nodes', '1', '--dir', out, '--base-port', '6500']), 0);
    const before = readFileSync(join(out, 'n1', 'agent.json'), 'utf8');
    await assert.rejects(
      runRestore(['--from', backup, '--nodes', '1', '--dir', out, '--base-port', '6500']),
      (error: Error) =>
        /already holds a cluster; a restore writes a new one: give a new --dir, or remove this one/.test(
          error.message,
        ) && !error.message.includes('--force'),
    );
    assert.equal(readFileSync(join(out, 'n1', 'agent.json'), 'utf8'), before, 'nothing was overwritten');
  });
});
