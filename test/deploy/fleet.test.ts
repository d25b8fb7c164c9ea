// The fleet end to end, with real agent processes on loopback started from provisioned
// bundles (coaps with link keys, LMDB, local endpoints behind their kv and admin keys), each
// change run with the signed command `coraft provision` prints: provision three gateways,
// start them, add a fourth (`--add`, `members add`), remove one (`--remove`, `members
// remove`), rekey one (`--rekey`, `members rekey`, then a restart with its new bundle), rotate
// the admin key (`--rotate-admin-key`, `admin set-key`: the old key is refused from then on),
// and start a forged gateway (gw1's bundle with made-up link keys). After every step a write
// commits; the rekeyed gateway's own writes commit again (its sessions use its new links); the
// forged bundle is refused and logged by the members and never learns a leader. Needs
// `npm run build`.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcesses, CORAFT_BIN, findFreePorts, parseStatus } from '../../agent/cli/agent-processes.js';
import type { InitNode } from '../../agent/cli/cluster-init.js';
import { DtlsClientEndpoint } from '../../transport/dtls/index.js';

const RAFT = { electionTimeoutMinMs: 400, electionTimeoutMaxMs: 800, heartbeatIntervalMs: 50 };

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs the coraft CLI; returns its exit code and output. */
function run(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CORAFT_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the coraft CLI; returns its stdout, failing with its stderr on a non-zero exit. */
function coraft(args: readonly string[]): string {
  const result = run(args);
  assert.equal(result.code, 0, `coraft ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** The arguments of the `coraft ...` command a provisioning run printed. */
function printedCommand(output: string, command: string): string[] {
  const line = output.split('\n').find((l) => l.trim().startsWith(`coraft ${command}`));
  assert.ok(line !== undefined, output);
  return line.trim().split(/\s+/).slice(1);
}

describe('a provisioned fleet, end to end', function () {
  this.timeout(240_000);
  let dir: string;
  let fleet: AgentProcesses | null = null;
  const logs = new Map<string, string>();

  after(async () => {
    await fleet?.close(5000);
    if (process.env.CORAFT_FLEET_LOGS !== undefined)
      for (const [id, text] of logs) writeFileSync(join(process.env.CORAFT_FLEET_LOGS, `${id}.log`), text);
    rmSync(dir, { recursive: true, force: true });
  });

  it('provisions, grows, shrinks, rekeys, rotates the admin key, refuses a forged gateway, stays up', async () => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-fleet-'));
    const base = await findFreePorts(10);
    const gateway = (i: number): { address: string; overrides: Record<string, unknown> } => ({
      address: `127.0.0.1:${base + 2 * i}`,
      overrides: {
        endpoint: `127.0.0.1:${base + 2 * i + 1}`,
        listenHost: '127.0.0.1',
        dataDir: 'data',
        raft: RAFT,
        logging: { level: 'info' },
      },
    });
    const out = join(dir, 'out');
    const folders = new Map<string, string>();
    const folderOf = (id: string): string => folders.get(id) ?? join(out, 'bundles', id);
    writeFileSync(
      join(dir, 'fleet.json'),
      JSON.stringify({ cluster: 'e2e', gateways: [1, 2, 3].map((i) => ({ id: `gw${i}`, ...gateway(i - 1) })) }),
    );
    coraft(['provision', '--inventory', join(dir, 'fleet.json'), '--out', out]);
    const node = (id: string, i: number): InitNode => ({
      id,
      dir: folderOf(id),
      config: join(folderOf(id), 'agent.json'),
      endpoint: `127.0.0.1:${base + 2 * i + 1}`,
    });
    const adminEndpointKey = (id: string): Buffer =>
      Buffer.from(readFileSync(join(folderOf(id), 'endpoint-admin.key'), 'utf8').trim(), 'hex');
    fleet = AgentProcesses.fromConfigs([node('gw1', 0), node('gw2', 1), node('gw3', 2)], {
      openEndpointClient: (id) =>
        DtlsClientEndpoint.open({ identity: 'admin', psk: adminEndpointKey(id), bindAddress: '127.0.0.1' }),
      requestTimeoutMs: 3000,
      output: (id, chunk) => logs.set(id, (logs.get(id) ?? '') + chunk),
    });
    const cluster = fleet;
    const endpointOf = (id: string, i: number, role: 'kv' | 'admin'): string[] => [
      '--endpoint',
      `127.0.0.1:${base + 2 * i + 1}`,
      '--endpoint-key',
      join(folderOf(id), `endpoint-${role}.key`),
    ];
    let writes = 0;
    const put = (id: string, i: number): void => {
      writes += 1;
      coraft(['kv', 'put', `k${writes}`, `v${writes}`, ...endpointOf(id, i, 'kv'), '--timeout-ms', '20000']);
    };

    cluster.startAll();
    await cluster.waitForLeader(30_000);
    put('gw1', 0);

    // Grow: provision gw4 for the running fleet, start it, run the printed (signed) command.
    const added = coraft([
      'provision',
      '--out',
      out,
      '--add',
      'gw4',
      gateway(3).address,
      '--overrides',
      JSON.stringify(gateway(3).overrides),
    ]);
    cluster.addNode(node('gw4', 3));
    cluster.start('gw4');
    coraft([...printedCommand(added, 'members add'), '--timeout-ms', '90000']);
    const voters = async (): Promise<string[]> =>
      (
        (await cluster.agent('gw1').client.json('GET', '/members')) as { members: { id: string; role: string }[] }
      ).members
        .filter((m) => m.role === 'voter')
        .map((m) => m.id);
    assert.deepEqual((await voters()).sort(), ['gw1', 'gw2', 'gw3', 'gw4']);
    put('gw4', 3);

    // Shrink: remove gw2 (it keeps running a moment, refused), then stop it.
    const removed = coraft(['provision', '--out', out, '--remove', 'gw2']);
    coraft([...printedCommand(removed, 'members remove'), '--timeout-ms', '60000']);
    assert.deepEqual((await voters()).sort(), ['gw1', 'gw3', 'gw4']);
    put('gw1', 0);
    await cluster.signal('gw2', 'SIGTERM');

    // Rekey gw3: commit its new links, restart it with its new bundle; its own write needs them.
    const rekeyed = coraft(['provision', '--out', out, '--rekey', 'gw3']);
    coraft([...printedCommand(rekeyed, 'members rekey'), '--timeout-ms', '60000']);
    await cluster.signal('gw3', 'SIGTERM');
    cluster.start('gw3');
    await cluster.renewClient('gw3');
    await until('gw3 to follow a leader again', 30_000, () => {
      const status = run(['status', '--json', ...endpointOf('gw3', 2, 'admin')]);
      return Promise.resolve(
        status.code === 0 && (JSON.parse(status.stdout) as { leaderId: string | null }).leaderId !== null ? true : null,
      );
    });
    put('gw3', 2);
    put('gw1', 0);

    // Rotate the admin key: commit the new public key signed with the old key; the old key is then refused.
    const rotated = coraft(['provision', '--out', out, '--rotate-admin-key']);
    coraft([...printedCommand(rotated, 'admin set-key'), '--timeout-ms', '60000']);
    const withOldKey = run([
      'leader',
      'transfer',
      '--admin-key',
      join(out, 'secrets', 'admin.previous.key'),
      ...endpointOf('gw1', 0, 'admin'),
    ]);
    assert.equal(withOldKey.code, 1, withOldKey.stderr);
    assert.match(withOldKey.stderr, /4\.03 .*signature/);
    coraft([
      'leader',
      'transfer',
      '--admin-key',
      join(out, 'secrets', 'admin.key'),
      ...endpointOf('gw1', 0, 'admin'),
      '--timeout-ms',
      '30000',
    ]);
    put('gw4', 3);

    // A forged gateway: gw1's bundle with made-up link keys, on ports of its own.
    const forged = join(dir, 'forged');
    folders.set('forged', forged);
    cpSync(join(out, 'bundles', 'gw1'), forged, {
      recursive: true,
      filter: (source) => !source.startsWith(join(out, 'bundles', 'gw1', 'data')),
    });
    const links = JSON.parse(readFileSync(join(forged, 'keystore.json'), 'utf8')) as Record<string, string>;
    writeFileSync(
      join(forged, 'keystore.json'),
      JSON.stringify(Object.fromEntries(Object.keys(links).map((peer) => [peer, 'ab'.repeat(64)]))),
    );
    const config = JSON.parse(readFileSync(join(forged, 'agent.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(
      join(forged, 'agent.json'),
      JSON.stringify({ ...config, listen: { peer: `127.0.0.1:${base + 8}`, endpoint: `127.0.0.1:${base + 9}` } }),
    );
    cluster.addNode(node('forged', 4));
    cluster.start('forged');
    const refusedBefore = (logs.get('gw3') ?? '').split('refused peer handshakes that failed authentication').length;
    await until('gw3 to log the forged handshakes', 30_000, () =>
      Promise.resolve(
        (logs.get('gw3') ?? '').split('refused peer handshakes that failed authentication').length > refusedBefore
          ? true
          : null,
      ),
    );
    put('gw4', 3);
    const forgedStatus = parseStatus(await cluster.agent('forged').client.json('GET', '/status'));
    assert.equal(forgedStatus?.leaderId ?? null, null, 'the forged gateway never learns a leader');
    const leader = await cluster.waitForLeader(30_000, 'forged');
    assert.notEqual(leader, 'gw2');
    const final = await Promise.all(['gw1', 'gw3', 'gw4'].map((id) => cluster.status(id)));
    assert.ok(
      final.every((s) => s !== null && s.leaderId === leader),
      JSON.stringify(final),
    );
  });
});
