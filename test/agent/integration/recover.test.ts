/**
 * Proves `coraft recover --force-new-cluster` on real agents (a three-node cluster made by
 * `cluster init`: coaps, cbor, the wal engine): keys are written and applied everywhere, two
 * members are SIGKILLed for good, and on the survivor recover (1) is refused while its agent
 * runs (the data folder's lock); (2) once the agent is stopped, without --yes, prints its loud
 * warning and plan, with the number of uncommitted entries it would drop, and changes nothing
 * (the stored log and hard state are identical before and after); (3) with --yes rewrites the
 * member to a one-member cluster and removes the others' link keys from its keystore file. The
 * survivor then starts alone, elects itself, serves every key that was acknowledged before, and
 * takes new writes; its member list is itself alone. Then a spare member (n4, provisioned but
 * never started) is added the usual way, `coraft members add` signed with the admin key: it
 * catches up, becomes a voter, and takes writes.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { openStorage } from '../../../agent/runtime/open-storage.js';
import { adminKeyFile } from '../../../agent/cli/cluster-init.js';
import { coapClient, coraft, endpointOf, startCluster, waitFor } from './helpers.js';

/** The stored log and hard state of a stopped node, as comparable text. */
async function storedState(configFile: string): Promise<string> {
  const storage = await openStorage(loadAgentConfig(configFile));
  try {
    const state = await storage.load();
    return JSON.stringify({
      hardState: state.hardState,
      snapshot:
        state.snapshot === null ? null : { ...state.snapshot, data: Buffer.from(state.snapshot.data).toString('hex') },
      entries: state.entries.map((e) => ({ ...e, command: Buffer.from(e.command).toString('hex') })),
    });
  } finally {
    await storage.close();
  }
}

describe('agent integration: recover a survivor after losing quorum (--force-new-cluster)', function () {
  this.timeout(120_000);
  let cluster: AgentProcesses;
  let survivor: string;
  let leader: string;
  const url = (id: string, path: string): string => `coap://${endpointOf(cluster, id)}${path}`;
  const KEYS = 30;

  before(async function () {
    // n4 has keys and a config but starts outside the cluster: it is added to the recovered one.
    ({ cluster, leader } = await startCluster({ nodes: 4, initialMembers: 3, startCount: 3, storage: 'wal' }));
    // A follower survives: recover does not need the node that led.
    survivor = ['n1', 'n2', 'n3'].find((id) => id !== leader) ?? 'n1';
  });

  after(async function () {
    await cluster.close();
  });

  it('keeps every committed key on the survivor, which then takes writes alone', async function () {
    for (let i = 0; i < KEYS; i += 1) {
      const put = await coapClient('-m', 'put', '-e', `value-${i}`, url(survivor, `/kv/key-${i}`));
      assert.match(put, /^\{"revision":\d+,"storeRevision":\d+\}$/, `write ${i}`);
    }
    // What the survivor committed: every write, once it applied up to the leader's commit index.
    const leaderStatus = await cluster.status(leader);
    assert.ok(leaderStatus !== null && leaderStatus.state === 'leader');
    await waitFor('the survivor to apply every write', async () => {
      const status = await cluster.status(survivor);
      return status !== null && status.lastApplied >= leaderStatus.commitIndex;
    });
    const others = ['n1', 'n2', 'n3'].filter((id) => id !== survivor);
    for (const id of others) await cluster.signal(id, 'SIGKILL');
    const config = cluster.agent(survivor).init.config;

    // (1) Refused while the agent runs.
    const running = await coraft('recover', '--config', config, '--force-new-cluster', '--yes');
    assert.equal(running.code, 74, running.stderr);
    assert.match(running.stderr, /is in use by process \d+/);
    assert.match(running.stderr, /stop it first/);

    assert.equal(await cluster.signal(survivor, 'SIGTERM'), 0);
    const before = await storedState(config);

    // (2) The dry run reports and changes nothing.
    const dry = await coraft('recover', '--config', config, '--force-new-cluster');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stderr, /WARNING/);
    assert.match(dry.stdout, /^dropped: \d+ uncommitted entries/m);
    assert.match(dry.stdout, new RegExp(`^removed members: ${others.join(', ')}$`, 'm'));
    assert.match(dry.stdout, /dry run: nothing was changed/);
    assert.equal(await storedState(config), before, 'the dry run changed nothing');

    // (3) With --yes.
    const done = await coraft('recover', '--config', config, '--force-new-cluster', '--yes');
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, new RegExp(`^new configuration: voters \\[${survivor}\\]`, 'm'));
    assert.match(done.stdout, /2 link keys removed/);
    const loaded = loadAgentConfig(config);
    assert.ok(loaded.psk !== null);
    const keystore = JSON.parse(readFileSync(loaded.psk.keystoreFile, 'utf8')) as Record<string, string>;
    for (const id of others) assert.equal(keystore[id], undefined, `${id}'s link key left the keystore file`);

    cluster.start(survivor);
    assert.equal(await cluster.waitForLeader(30_000), survivor);
    for (let i = 0; i < KEYS; i += 1)
      assert.equal(await coapClient('-m', 'get', url(survivor, `/kv/key-${i}`)), `value-${i}`, `key-${i}`);
    assert.match(
      await coapClient('-m', 'put', '-e', 'after', url(survivor, '/kv/after-recover')),
      /^\{"revision":\d+,"storeRevision":\d+\}$/,
    );
    assert.equal(await coapClient('-m', 'get', url(survivor, '/kv/after-recover')), 'after');
    const list = await coraft('members', 'list', '--json', '--endpoint', endpointOf(cluster, survivor));
    assert.equal(list.code, 0, list.stderr);
    const members = (JSON.parse(list.stdout) as { members: { id: string }[] }).members.map((m) => m.id);
    assert.deepEqual(members, [survivor]);
  });

  it('adds a member back the usual way (coraft members add), which catches up and votes', async function () {
    cluster.start('n4');
    const address = `127.0.0.1:${Number(endpointOf(cluster, 'n4').split(':')[1]) - 1}`;
    const admin = ['--admin-key', adminKeyFile(cluster.dir)];
    const add = await coraft('members', 'add', 'n4', address, '--endpoint', endpointOf(cluster, survivor), ...admin);
    assert.equal(add.code, 0, add.stderr);
    await waitFor('n4 to hold the keys written before the recovery', async () =>
      (await coapClient('-m', 'get', url('n4', '/kv/key-0?stale'))) === 'value-0' ? true : null,
    );
    const list = await coraft('members', 'list', '--json', '--endpoint', endpointOf(cluster, survivor));
    const members = (JSON.parse(list.stdout) as { members: { id: string; role: string }[] }).members;
    assert.deepEqual(
      members.map((m) => [m.id, m.role]).sort(),
      [
        ['n4', 'voter'],
        [survivor, 'voter'],
      ].sort(),
    );
    // Two voters now: a write needs both, and goes through n4.
    assert.match(await coapClient('-m', 'put', '-e', 'two', url('n4', '/kv/two-members')), /^\{"revision":\d+/);
    assert.equal(await coapClient('-m', 'get', url(survivor, '/kv/two-members')), 'two');
  });
});
