// Proves that `coraft snapshot --sign-only FILE` signs offline: with --config (the node's
// agent.json, from a `cluster init` folder) or --node it writes the signed snapshot command for
// that node and cluster without asking any endpoint (none runs here), and the file is what
// `coraft admin submit` sends; without either it is a usage error, not a snapshot taken at once.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSnapshot } from '../../../agent/cli/admin-commands.js';
import { UsageError } from '../../../agent/cli/args.js';
import { runClusterCommand } from '../../../agent/cli/cluster-init.js';
import { decodeSignedAdmin, publicKeyFromText, signatureValid } from '../../../agent/trust/admin-command.js';

describe('cli: snapshot --sign-only', function () {
  this.timeout(20_000);
  let dir: string;
  let writes: typeof process.stdout.write;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-snapshot-sign-'));
    writes = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true;
    try {
      assert.equal(
        await runClusterCommand(['init', '--nodes', '2', '--dir', join(dir, 'cl'), '--base-port', '22900']),
        0,
      );
    } finally {
      process.stdout.write = writes;
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const adminKey = (): string => join(dir, 'cl', 'provisioner', 'secrets', 'admin.key');
  /** Runs `coraft snapshot ARGS` with stdout muted; its exit code. */
  async function snapshot(...args: string[]): Promise<number> {
    process.stdout.write = () => true;
    try {
      // An endpoint no one listens on: signing offline must not need it.
      return await runSnapshot([
        ...args,
        '--admin-key',
        adminKey(),
        '--endpoint',
        '127.0.0.1:22999',
        '--timeout-ms',
        '300',
      ]);
    } finally {
      process.stdout.write = writes;
    }
  }
  const cluster = (): string =>
    (JSON.parse(readFileSync(join(dir, 'cl', 'n2', 'agent.json'), 'utf8')) as { cluster: string }).cluster;

  it('signs the snapshot of the node of --config, for its cluster, without an endpoint', async () => {
    const file = join(dir, 'n2.signed');
    assert.equal(await snapshot('--sign-only', file, '--config', join(dir, 'cl', 'n2', 'agent.json')), 0);
    const signed = decodeSignedAdmin(readFileSync(file));
    assert.equal(signed.body.op, 'snapshot');
    assert.deepEqual(
      { node: Reflect.get(signed.body, 'node'), cluster: signed.body.cluster },
      { node: 'n2', cluster: cluster() },
    );
    const publicKey = publicKeyFromText(readFileSync(join(dir, 'cl', 'n2', 'admin.pub'), 'utf8'));
    assert.ok(publicKey !== null && signatureValid(signed, publicKey));
  });

  it('signs for --node ID', async () => {
    const file = join(dir, 'n1.signed');
    assert.equal(await snapshot('--sign-only', file, '--node', 'n1'), 0);
    assert.equal(Reflect.get(decodeSignedAdmin(readFileSync(file)).body, 'node'), 'n1');
  });

  it('refuses --sign-only without the node, rather than asking or running anything', async () => {
    const file = join(dir, 'none.signed');
    await assert.rejects(snapshot('--sign-only', file), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /--node ID or --config FILE/);
      return true;
    });
    assert.equal(existsSync(file), false);
  });
});

describe('cli: cluster init --initial-members', () => {
  it('says which nodes are not members yet, and the command that admits each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-init-joiners-'));
    const lines: string[] = [];
    const writes = process.stdout.write;
    process.stdout.write = (chunk: string | Uint8Array) => (lines.push(String(chunk)), true);
    try {
      const args = ['init', '--nodes', '4', '--initial-members', '3', '--dir', join(dir, 'cl'), '--base-port', '22910'];
      assert.equal(await runClusterCommand(args), 0);
    } finally {
      process.stdout.write = writes;
      rmSync(dir, { recursive: true, force: true });
    }
    const text = lines.join('');
    assert.doesNotMatch(text, /^n[123]:.*not a member/m);
    const key = join(dir, 'cl', 'provisioner', 'secrets', 'admin.key');
    assert.ok(
      text.includes(`not a member yet: start it, then coraft members add n4 127.0.0.1:22916 --admin-key ${key})`),
      text,
    );
  });
});
