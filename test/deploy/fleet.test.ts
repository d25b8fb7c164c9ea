// The fleet end to end, with real agent processes on loopback started from provisioned
// bundles (coaps with PSKs, LMDB, local endpoints behind the admin PSK): provision three
// gateways, start them, add a fourth with `provision --add` and the `coraft members add`
// command it prints, remove one, rotate a key with `provision --rekey` + `coraft members
// rekey` + a restart of that gateway, and start a forged gateway (an existing id with a wrong
// key). After every step a write commits; the rotated gateway's own writes commit (its
// handshakes use the new key); the old key and the forged bundle are refused and logged by
// the members, and the forged gateway never learns a leader. Needs `npm run build`.
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

/** Runs the coraft CLI; returns its stdout, failing with its stderr on a non-zero exit. */
function coraft(args: readonly string[]): string {
  const result = spawnSync(process.execPath, [CORAFT_BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(result.status, 0, `coraft ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** The arguments of the `coraft ...` command a provisioning run printed. */
function printedCommand(output: string, verb: string): string[] {
  const line = output.split('\n').find((l) => l.trim().startsWith(`coraft members ${verb}`));
  assert.ok(line !== undefined, output);
  return line.trim().split(/\s+/).slice(1);
}

describe('a provisioned fleet, end to end', function () {
  this.timeout(180_000);
  let dir: string;
  let fleet: AgentProcesses | null = null;
  const logs = new Map<string, string>();

  after(async () => {
    await fleet?.close(5000);
    if (process.env.CORAFT_FLEET_LOGS !== undefined) for (const [id, text] of logs) writeFileSync(join(process.env.CORAFT_FLEET_LOGS, `${id}.log`), text);
    rmSync(dir, { recursive: true, force: true });
  });

  it('provisions, grows, shrinks, rotates a key and refuses a forged gateway while staying available', async () => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-fleet-'));
    const base = await findFreePorts(10);
    const gateway = (i: number): { address: string; overrides: Record<string, unknown> } => ({
      address: `127.0.0.1:${base + 2 * i}`,
      overrides: { endpoint: `127.0.0.1:${base + 2 * i + 1}`, listenHost: '127.0.0.1', dataDir: 'data', raft: RAFT, logging: { level: 'info' } },
    });
    const out = join(dir, 'out');
    writeFileSync(join(dir, 'fleet.json'), JSON.stringify({ cluster: 'e2e', gateways: [1, 2, 3].map((i) => ({ id: `gw${i}`, ...gateway(i - 1) })) }));
    coraft(['provision', '--inventory', join(dir, 'fleet.json'), '--out', out]);
    const adminKey = Buffer.from(readFileSync(join(out, 'secrets', 'admin.key'), 'utf8').trim(), 'hex');
    const node = (id: string, i: number, folder = join(out, 'bundles', id)): InitNode => ({ id, dir: folder, config: join(folder, 'agent.json'), endpoint: `127.0.0.1:${base + 2 * i + 1}` });
    fleet = AgentProcesses.fromConfigs([node('gw1', 0), node('gw2', 1), node('gw3', 2)], {
      openEndpointClient: () => DtlsClientEndpoint.open({ identity: 'admin', psk: adminKey, bindAddress: '127.0.0.1' }),
      requestTimeoutMs: 3000,
      output: (id, chunk) => logs.set(id, (logs.get(id) ?? '') + chunk),
    });
    const cluster = fleet;
    const admin = ['--admin-key', join(out, 'secrets', 'admin.key')];
    const endpointOf = (i: number): string[] => ['--endpoint', `127.0.0.1:${base + 2 * i + 1}`, ...admin];
    let writes = 0;
    const put = (i: number): void => {
      writes += 1;
      coraft(['kv', 'put', `k${writes}`, `v${writes}`, ...endpointOf(i), '--timeout-ms', '20000']);
    };

    cluster.startAll();
    await cluster.waitForLeader(30_000);
    put(0);

    // Grow: provision gw4 for the running fleet, start it, run the printed command.
    const added = coraft(['provision', '--out', out, '--add', 'gw4', gateway(3).address, '--overrides', JSON.stringify(gateway(3).overrides), '--endpoint', `127.0.0.1:${base + 1}`]);
    cluster.addNode(node('gw4', 3));
    cluster.start('gw4');
    coraft([...printedCommand(added, 'add'), '--timeout-ms', '90000']);
    const members = async (): Promise<string[]> => ((await cluster.agent('gw1').client.json('GET', '/members')) as { members: { id: string; role: string }[] }).members.filter((m) => m.role === 'voter').map((m) => m.id);
    assert.deepEqual((await members()).sort(), ['gw1', 'gw2', 'gw3', 'gw4']);
    put(3);

    // Shrink: remove gw2 (it keeps running a moment, refused), then stop it.
    coraft(['members', 'remove', 'gw2', ...endpointOf(0), '--timeout-ms', '60000']);
    assert.deepEqual((await members()).sort(), ['gw1', 'gw3', 'gw4']);
    put(0);
    await cluster.signal('gw2', 'SIGTERM');

    // Rotate gw3's key: commit it, restart gw3 with it; gw3's own write needs its new key.
    const rekeyed = coraft(['provision', '--out', out, '--rekey', 'gw3', '--endpoint', `127.0.0.1:${base + 1}`]);
    coraft([...printedCommand(rekeyed, 'rekey'), '--timeout-ms', '60000']);
    await cluster.signal('gw3', 'SIGTERM');
    cluster.start('gw3');
    await until('gw3 to follow a leader again', 30_000, async () => ((await cluster.status('gw3'))?.leaderId ?? null));
    put(2);
    put(0);

    // A forged gateway: gw1's bundle with a wrong key, on ports of its own.
    const forged = join(dir, 'forged');
    cpSync(join(out, 'bundles', 'gw1'), forged, { recursive: true, filter: (source) => !source.startsWith(join(out, 'bundles', 'gw1', 'data')) });
    writeFileSync(join(forged, 'gw1.key'), `${'ab'.repeat(32)}\n`);
    const config = JSON.parse(readFileSync(join(forged, 'agent.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(forged, 'agent.json'), JSON.stringify({ ...config, listen: { peer: `127.0.0.1:${base + 8}`, endpoint: `127.0.0.1:${base + 9}` } }));
    cluster.addNode(node('forged', 4, forged));
    cluster.start('forged');
    const refusedBefore = (logs.get('gw3') ?? '').split('refused peer handshakes that failed authentication').length;
    await until('gw3 to log the forged handshakes', 30_000, () => Promise.resolve((logs.get('gw3') ?? '').split('refused peer handshakes that failed authentication').length > refusedBefore ? true : null));
    put(3);
    const forgedStatus = parseStatus(await cluster.agent('forged').client.json('GET', '/status'));
    assert.equal(forgedStatus?.leaderId ?? null, null, 'the forged gateway never learns a leader');
    const leader = await cluster.waitForLeader(30_000, 'forged');
    assert.notEqual(leader, 'gw2');
    const final = await Promise.all(['gw1', 'gw3', 'gw4'].map((id) => cluster.status(id)));
    assert.ok(final.every((s) => s !== null && s.leaderId === leader), JSON.stringify(final));
  });
});
