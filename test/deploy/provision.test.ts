// Proves `coraft provision` on a temporary folder: an inventory becomes one bundle per gateway
// whose agent.json the agent's own loader accepts, with every key file mode 0600 in 0700
// folders; a re-run changes nothing and a gateway appended to the inventory adds only its files
// (existing keys kept); --add writes a joiner's bundle (the running members, not itself; every
// key); --rekey replaces only that gateway's key; a bad inventory is refused by the schema.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../agent/config/agent-config.js';
import { ConfigError } from '../../agent/errors.js';
import { addGateway, provisionFleet, rekeyGateway } from '../../agent/cli/provision.js';
import { parseInventory, readFleetState } from '../../deploy/provision.js';

const inventory = (ids: readonly string[]) => ({
  cluster: 'plant-a',
  defaults: { dataDir: 'data', storage: 'memory', raft: { electionTimeoutMinMs: 300, electionTimeoutMaxMs: 600 } },
  gateways: ids.map((id, i) => ({ id, address: `10.0.0.${i + 1}:5684`, ...(id === 'gw2' ? { overrides: { memoryMax: '128M', endpoint: '127.0.0.1:6000' } } : {}) })),
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

  it('writes loadable bundles with private keys, idempotently', () => {
    writeFileSync(file, JSON.stringify(inventory(['gw1', 'gw2', 'gw3'])));
    const first = provisionFleet(file, out());
    assert.deepEqual(first.map((r) => r.id), ['gw1', 'gw2', 'gw3']);
    for (const r of first) {
      const config = loadAgentConfig(join(r.dir, 'agent.json'));
      assert.equal(config.nodeId, r.id);
      assert.deepEqual([...(config.psk?.keystore.keys() ?? [])], ['gw1', 'gw2', 'gw3']);
      assert.equal(config.endpointPsk?.identity, 'admin');
      assert.equal(config.members.length, 3);
      for (const name of ['agent.json', `${r.id}.key`, 'keystore.json', 'admin.key']) assert.equal(mode(join(r.dir, name)), 0o600, name);
      assert.equal(mode(r.dir), 0o700);
    }
    assert.equal(mode(join(out(), 'secrets', 'fleet.json')), 0o600);
    assert.match(readFileSync(join(out(), 'bundles', 'gw2', 'coraft.service.d', '10-gateway.conf'), 'utf8'), /MemoryMax=128M/);
    assert.equal(loadAgentConfig(join(out(), 'bundles', 'gw2', 'agent.json')).listenEndpoint.port, 6000);

    const keyBefore = readFileSync(join(out(), 'bundles', 'gw1', 'gw1.key'), 'utf8');
    assert.deepEqual(provisionFleet(file, out()).map((r) => r.written), [[], [], []]);
    writeFileSync(file, JSON.stringify(inventory(['gw1', 'gw2', 'gw3', 'gw4'])));
    const again = provisionFleet(file, out());
    assert.equal(readFileSync(join(out(), 'bundles', 'gw1', 'gw1.key'), 'utf8'), keyBefore);
    assert.deepEqual(again[3]?.written.includes('gw4.key'), true);
    assert.deepEqual(again[0]?.written.includes('gw1.key'), false);
  });

  it('--add provisions a joiner and --rekey replaces one key only', () => {
    writeFileSync(file, JSON.stringify(inventory(['gw1', 'gw2', 'gw3'])));
    provisionFleet(file, out());
    const added = addGateway(out(), 'gw4', '10.0.0.4:5684', { endpoint: '127.0.0.1:6004' });
    const config = loadAgentConfig(join(added.dir, 'agent.json'));
    assert.deepEqual(config.members.map((m) => m.id), ['gw1', 'gw2', 'gw3']);
    assert.deepEqual([...(config.psk?.keystore.keys() ?? [])].sort(), ['gw1', 'gw2', 'gw3', 'gw4']);
    const keys = readFleetState(out())?.keys ?? {};
    assert.deepEqual(addGateway(out(), 'gw4', '10.0.0.4:5684', { endpoint: '127.0.0.1:6004' }).written, []);
    assert.deepEqual(rekeyGateway(out(), 'gw2').written, ['gw2.key', 'keystore.json'], 'only its key (and its own keystore) change');
    const after = readFleetState(out())?.keys ?? {};
    assert.notEqual(after.gw2, keys.gw2);
    assert.equal(after.gw1, keys.gw1);
    assert.equal(readFileSync(join(out(), 'bundles', 'gw2', 'gw2.key'), 'utf8').trim(), after.gw2);
    assert.throws(() => addGateway(out(), 'gw1', '10.0.0.9:5684', undefined), ConfigError);
  });

  it('refuses an inventory the schema does not allow, naming the problems', () => {
    assert.throws(() => parseInventory({ cluster: 'a b', gateways: [] }), (e: unknown) => e instanceof ConfigError && e.problems.length >= 2);
    assert.throws(() => parseInventory({ cluster: 'a', gateways: [{ id: 'x', address: 'h:1' }, { id: 'x', address: 'h:2' }] }), /listed twice/);
    assert.throws(() => parseInventory({ cluster: 'a', gateways: [{ id: 'x', address: 'h:1', extra: 1 }] }), /unknown field "extra"/);
  });
});
