// Proves `coraft provision` on a temporary folder: an inventory becomes one bundle per gateway
// whose agent.json the agent's own loader accepts, holding only that gateway's link keys (one
// per other gateway, each equal to the other end's), its node secret, the admin public key and
// its endpoint keys, every secret mode 0600 in 0700 folders; a re-run changes nothing; --add
// writes a joiner's bundle and the links file whose wrapped keys open only for their holders;
// --rekey changes exactly the links of one gateway; --remove drops a gateway from every bundle;
// an old single-key fleet state and a bad inventory are refused, and so is a command line asking
// for two changes at once (one would be ignored), before anything is written; a `cluster init` folder's
// provisioner prints commands that reach its nodes' own endpoints, and writes bundles that listen where they do.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { ConfigError } from '../../../contracts/errors.js';
import {
  addGateway,
  provisionFleet,
  rekeyGateway,
  removeGateway,
  runProvisionCommand,
} from '../../../agent/cli/provision.js';
import { parseInventory, readFleetState } from '../../../agent/fleet/provision.js';
import { unwrapLinkKey } from '../../../agent/trust/crypto.js';
import { initCluster } from '../../../agent/cli/cluster-init.js';

const inventory = (ids: readonly string[]) => ({
  cluster: 'plant-a',
  defaults: { dataDir: 'data', storage: 'memory', raft: { electionTimeoutMinMs: 1000, electionTimeoutMaxMs: 2000 } },
  gateways: ids.map((id, i) => ({
    id,
    address: `10.0.0.${i + 1}:5684`,
    ...(id === 'gw2' ? { overrides: { memoryMax: '128M', endpoint: '127.0.0.1:6000' } } : {}),
  })),
});

describe('coraft provision', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-provision-'));
    file = join(dir, 'fleet.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const mode = (path: string): number => statSync(path).mode & 0o777;
  const out = (): string => join(dir, 'out');
  const bundle = (id: string): string => join(out(), 'bundles', id);
  const linksOf = (id: string): Map<string, string> => {
    const keystore = loadAgentConfig(join(bundle(id), 'agent.json')).psk?.keystore ?? new Map<string, Uint8Array>();
    return new Map([...keystore].map(([peer, key]) => [peer, Buffer.from(key).toString('hex')]));
  };

  it('writes loadable bundles holding only their own links, privately, idempotently', () => {
    writeFileSync(file, JSON.stringify(inventory(['gw1', 'gw2', 'gw3'])));
    const first = provisionFleet(file, out());
    assert.deepEqual(
      first.map((r) => r.id),
      ['gw1', 'gw2', 'gw3'],
    );
    for (const r of first) {
      const config = loadAgentConfig(join(r.dir, 'agent.json'));
      assert.equal(config.nodeId, r.id);
      assert.equal(config.cluster, 'plant-a');
      assert.deepEqual(
        [...(config.psk?.keystore.keys() ?? [])].sort(),
        ['gw1', 'gw2', 'gw3'].filter((id) => id !== r.id),
      );
      assert.deepEqual([config.endpointKeys.kv?.identity, config.endpointKeys.admin?.identity], ['kv', 'admin']);
      assert.ok(config.adminPublicKey !== null);
      assert.equal(config.members.length, 3);
      for (const name of ['agent.json', 'keystore.json', 'node.secret', 'endpoint-kv.key', 'endpoint-admin.key'])
        assert.equal(mode(join(r.dir, name)), 0o600, name);
      assert.equal(mode(r.dir), 0o700);
    }
    // Each link has one key, held by its two ends and nobody else.
    assert.equal(linksOf('gw1').get('gw2'), linksOf('gw2').get('gw1'));
    assert.notEqual(linksOf('gw1').get('gw2'), linksOf('gw1').get('gw3'));
    assert.notEqual(linksOf('gw1').get('gw3'), linksOf('gw2').get('gw3'));
    for (const name of ['fleet.json', 'admin.key']) assert.equal(mode(join(out(), 'secrets', name)), 0o600, name);
    assert.match(readFileSync(join(bundle('gw2'), 'coraft.service.d', '10-gateway.conf'), 'utf8'), /MemoryMax=128M/);
    assert.equal(loadAgentConfig(join(bundle('gw2'), 'agent.json')).listenEndpoint.port, 6000);

    const keysBefore = linksOf('gw1');
    assert.deepEqual(
      provisionFleet(file, out()).map((r) => r.written),
      [[], [], []],
    );
    writeFileSync(file, JSON.stringify(inventory(['gw1', 'gw2', 'gw3', 'gw4'])));
    const again = provisionFleet(file, out());
    assert.equal(linksOf('gw1').get('gw2'), keysBefore.get('gw2'));
    assert.deepEqual(again[3]?.written.includes('keystore.json'), true);
    assert.deepEqual(
      again[0]?.written,
      ['agent.json', 'keystore.json'],
      'gw1 gains its link with gw4 and a member, nothing else',
    );
  });

  it("--add writes a joiner and its wrapped links; --rekey changes one gateway's links; --remove drops one", () => {
    writeFileSync(file, JSON.stringify(inventory(['gw1', 'gw2', 'gw3'])));
    provisionFleet(file, out());
    const added = addGateway(out(), 'gw4', '10.0.0.4:5684', { endpoint: '127.0.0.1:6004' });
    const config = loadAgentConfig(join(bundle('gw4'), 'agent.json'));
    assert.deepEqual(
      config.members.map((m) => m.id),
      ['gw1', 'gw2', 'gw3'],
    );
    assert.deepEqual([...(config.psk?.keystore.keys() ?? [])].sort(), ['gw1', 'gw2', 'gw3']);
    const links = (
      JSON.parse(readFileSync(added.links, 'utf8')) as {
        links: { holder: string; generation: string; wrapped: string }[];
      }
    ).links;
    assert.deepEqual(
      links.map((l) => l.holder),
      ['gw1', 'gw2', 'gw3'],
    );
    for (const l of links) {
      const holderSecret = Buffer.from(readFileSync(join(bundle(l.holder), 'node.secret'), 'utf8').trim(), 'hex');
      const opened = unwrapLinkKey(
        holderSecret,
        'plant-a',
        l.holder,
        'gw4',
        l.generation,
        Buffer.from(l.wrapped, 'base64'),
      );
      assert.equal(
        Buffer.from(opened ?? []).toString('hex'),
        linksOf('gw4').get(l.holder),
        `${l.holder} opens its link with gw4`,
      );
      const gw4Secret = Buffer.from(readFileSync(join(bundle('gw4'), 'node.secret'), 'utf8').trim(), 'hex');
      assert.equal(
        unwrapLinkKey(gw4Secret, 'plant-a', l.holder, 'gw4', l.generation, Buffer.from(l.wrapped, 'base64')),
        null,
        'nobody else does',
      );
    }
    assert.deepEqual(
      addGateway(out(), 'gw4', '10.0.0.4:5684', { endpoint: '127.0.0.1:6004' }).bundles.flatMap((b) => b.written),
      [],
    );

    const before = { gw1: linksOf('gw1'), gw2: linksOf('gw2') };
    const rekeyed = rekeyGateway(out(), 'gw2');
    assert.deepEqual([...(rekeyed.bundles.find((b) => b.id === 'gw2')?.written ?? [])].sort(), [
      'endpoint-admin.key',
      'endpoint-kv.key',
      'keystore.json',
      'node.secret',
    ]);
    assert.notEqual(linksOf('gw1').get('gw2'), before.gw1.get('gw2'), "gw2's links change");
    assert.equal(linksOf('gw1').get('gw3'), before.gw1.get('gw3'), 'no other link changes');
    assert.equal(linksOf('gw1').get('gw2'), linksOf('gw2').get('gw1'));
    assert.equal(readFleetState(out())?.generations.gw2, 2);

    removeGateway(out(), 'gw3');
    for (const id of ['gw1', 'gw2', 'gw4'])
      assert.equal(linksOf(id).has('gw3'), false, `${id} no longer holds a link with gw3`);
    assert.throws(() => addGateway(out(), 'gw1', '10.0.0.9:5684', undefined), ConfigError);
    // A removed gateway gets new keys through --add; another's address is refused.
    assert.throws(
      () => rekeyGateway(out(), 'gw3'),
      /gw3 was removed from the fleet; --add gw3 ADDRESS gives it new keys/,
    );
    assert.throws(
      () => addGateway(out(), 'gw5', '10.0.0.2:5684', undefined),
      /gw2 is reached at 10\.0\.0\.2:5684 already/,
    );
  });

  it("prints a cluster init folder's own endpoint, with no endpoint key for its plain loopback endpoint", async () => {
    const nodes = initCluster({
      dir: join(dir, 'cl'),
      nodes: 3,
      basePort: 22900,
      transport: 'coaps',
      storage: 'memory',
      force: false,
    });
    let printed = '';
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (chunk: string | Uint8Array): boolean => ((printed += String(chunk)), true);
    try {
      assert.equal(
        await runProvisionCommand(['--out', join(dir, 'cl', 'provisioner'), '--add', 'n4', '127.0.0.1:22906']),
        0,
      );
    } finally {
      process.stdout.write = write;
    }
    const command = printed.split('\n').find((line) => line.includes('coraft members add n4')) ?? '';
    assert.match(command, new RegExp(`--endpoint ${nodes[0]?.endpoint ?? '?'}$`), printed);
    assert.equal(nodes[0]?.endpoint, '127.0.0.1:22901');
    assert.doesNotMatch(command, /--endpoint-key/);
    // The bundle written for a node matches it: its endpoint, plain (no endpoint keys), on loopback.
    const bundle = loadAgentConfig(join(dir, 'cl', 'provisioner', 'bundles', 'n2', 'agent.json'));
    const own = loadAgentConfig(nodes[1]?.config ?? '');
    assert.deepEqual(
      [bundle.listenPeer, bundle.listenEndpoint, bundle.endpointKeys, bundle.dataDir],
      [
        own.listenPeer,
        own.listenEndpoint,
        own.endpointKeys,
        own.dataDir.replace(join(dir, 'cl', 'n2'), join(dir, 'cl', 'provisioner', 'bundles', 'n2')),
      ],
    );
  });

  it('refuses two changes in one run (--add with --remove, --rekey with --inventory), writing nothing', () => {
    writeFileSync(file, JSON.stringify(inventory(['gw1', 'gw2', 'gw3'])));
    provisionFleet(file, out());
    const fleet = readFileSync(join(out(), 'secrets', 'fleet.json'), 'utf8');
    assert.throws(
      () => runProvisionCommand(['--out', out(), '--add', 'gw4', '10.0.0.4:5684', '--remove', 'gw1']),
      /--add and --remove: one change a run/,
    );
    assert.throws(
      () => runProvisionCommand(['--out', out(), '--rekey', 'gw2', '--inventory', file]),
      /one change a run/,
    );
    assert.equal(readFileSync(join(out(), 'secrets', 'fleet.json'), 'utf8'), fleet);
    assert.throws(() => statSync(bundle('gw4')), /ENOENT/);
  });

  it('refuses a fleet state from before link keys, and an inventory the schema does not allow', () => {
    writeFileSync(file, JSON.stringify(inventory(['gw1'])));
    provisionFleet(file, out());
    writeFileSync(
      join(out(), 'secrets', 'fleet.json'),
      JSON.stringify({
        cluster: 'plant-a',
        keys: { gw1: 'ab'.repeat(32) },
        adminKey: 'ab'.repeat(32),
        members: [],
        added: [],
        defaults: {},
      }),
    );
    assert.throws(() => readFleetState(out()), /before link keys/);
    assert.throws(
      () => parseInventory({ cluster: 'a b', gateways: [] }),
      (e: unknown) => e instanceof ConfigError && e.problems.length >= 2,
    );
    assert.throws(
      () =>
        parseInventory({
          cluster: 'a',
          gateways: [
            { id: 'x', address: 'h:1' },
            { id: 'x', address: 'h:2' },
          ],
        }),
      /listed twice/,
    );
    assert.throws(
      () => parseInventory({ cluster: 'a', gateways: [{ id: 'x', address: 'h:1', extra: 1 }] }),
      /unknown field "extra"/,
    );
  });
});
