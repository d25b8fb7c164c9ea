// Proves the exit codes every command shares (README, "Exit codes"): an invalid configuration (an
// agent.json, a key file) is 78 (EX_CONFIG) from every command that reads one, as from `coraft agent`
// and `coraft recover`, and a bad command line (an unknown verb, an option value out of range) is 2.
// Each call fails before any request is sent (no endpoint listens here).
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { main } from '../../../agent/cli/main.js';

describe('coraft: exit codes of a configuration error and a usage error', () => {
  let dir: string;
  let stderr: sinon.SinonStub;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-exit-codes-'));
    stderr = sinon.stub(process.stderr, 'write').returns(true);
  });
  afterEach(() => {
    stderr.restore();
    rmSync(dir, { recursive: true, force: true });
  });
  const said = (): string => stderr.args.map((a) => String(a[0])).join('');

  it('exits 78 on an invalid agent.json, whatever the command', async () => {
    const bad = join(dir, 'agent.json');
    writeFileSync(bad, JSON.stringify({ nodeId: 5 }));
    const commands = [
      ['config', 'check', bad],
      ['recover', '--config', bad, '--force-new-cluster'],
      ['agent', '--config', bad],
    ];
    for (const command of commands) {
      assert.equal(await main(command), 78, command.join(' '));
      assert.match(said(), /invalid configuration/);
      stderr.resetHistory();
    }
  });

  it('exits 78 on a key file that is not one, and 2 on a bad command line', async () => {
    const key = join(dir, 'endpoint.key');
    writeFileSync(key, 'not a key\n', { mode: 0o600 });
    const keyed = ['kv', 'get', 'k', '--endpoint', '127.0.0.1:9', '--endpoint-key', key, '--endpoint-identity', 'kv'];
    assert.equal(await main(keyed), 78, said());
    const usage = [
      ['kv', 'frob', '--endpoint', '127.0.0.1:9'],
      ['kv', 'get', 'k', '--endpoint', '127.0.0.1:9', '--timeout-ms', 'soon'],
      ['cluster', 'init', '--dir', join(dir, 'cl'), '--transport', 'pigeon'],
      ['cluster', 'init', '--dir', join(dir, 'cl'), '--nodes', '1', '--witnesses', '2'],
      ['recover', '--force-new-cluster'],
    ];
    for (const command of usage) assert.equal(await main(command), 2, command.join(' '));
  });
});
