/**
 * Proves leases on real agent processes (a 3-node cluster made by `cluster init`: coaps peers,
 * cbor, LMDB), driven by libcoap's coap-client-notls and by the `coraft` CLI (dist/: build first):
 * - coap-client grants a lease through a follower, attaches a key through the other follower
 *   (`PUT /kv/K?lease=L`), keeps the lease alive through a follower while the leader is killed
 *   (SIGKILL) and a new one elected, and the key stays: the new leader restarts the countdown;
 *   then the keepalives stop and the key vanishes on every node within TTL + 1 s (plus the time
 *   one coap-client run takes to look);
 * - `coraft lease grant|show|keepalive|revoke` and `coraft kv put --lease` do what they say, and
 *   `lease show` of a revoked lease exits 3.
 * Skipped when coap-client-notls is not installed.
 */
import { strict as assert } from 'node:assert';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { coapClient, coraft, endpointOf, startCluster, waitFor } from './helpers.js';
import { coapClientInstalled } from '../../libcoap.js';

const TTL_MS = 2000;
/** What one coap-client run may take on a loaded machine, on top of the TTL + 1 s bound. */
const LOOK_SLACK_MS = 1500;

describe('agent integration: leases through coap-client and the CLI', function () {
  this.timeout(120_000);
  let cluster: AgentProcesses;
  let leader: string;
  const url = (id: string, path: string): string => `coap://${endpointOf(cluster, id)}${path}`;

  before(async function () {
    if (!coapClientInstalled()) this.skip();
    ({ cluster, leader } = await startCluster({ nodes: 3 }));
    for (const id of ['n1', 'n2', 'n3'])
      await waitFor(`${id} follows ${leader}`, async () => (await cluster.status(id))?.leaderId === leader);
  });

  after(async function () {
    await cluster?.close();
  });

  it('keeps a leased key through a leader failover and deletes it once keepalives stop', async function () {
    const [f1, f2] = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
    assert.ok(f1 !== undefined && f2 !== undefined);
    const granted = await coapClient('-m', 'post', '-t', '50', '-e', `{"ttlMs":${TTL_MS}}`, url(f1, '/lease'));
    const { id, ttlMs } = JSON.parse(granted) as { id: number; ttlMs: number };
    assert.equal(ttlMs, TTL_MS, granted);
    const put = await coapClient('-m', 'put', '-e', 'online', url(f2, `/kv/presence/gw1?lease=${id}`));
    assert.match(put, /^\{"revision":\d+,"storeRevision":\d+\}$/);
    const refused = await coapClient('-m', 'put', '-e', 'x', url(f2, `/kv/presence/gw2?lease=${id + 1000}`));
    assert.match(refused, /4\.04.*KV_LEASE_NOT_FOUND/s);

    let keeping = true;
    const keepalives = (async () => {
      while (keeping) {
        // A keepalive during the election may fail; the next one, a third of the TTL later, goes through.
        await coapClient('-m', 'post', url(f1, `/lease/${id}/keepalive`));
        await new Promise((resolve) => setTimeout(resolve, TTL_MS / 4));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, TTL_MS));
    assert.equal(await cluster.signal(leader, 'SIGKILL'), null);
    const next = await cluster.waitForLeader(20_000, leader);
    await new Promise((resolve) => setTimeout(resolve, 2 * TTL_MS));
    for (const node of [f1, f2])
      assert.equal(await coapClient('-m', 'get', url(node, '/kv/presence/gw1')), 'online', `on ${node} under ${next}`);
    const shown = JSON.parse(await coapClient('-m', 'get', url(next, `/lease/${id}`))) as { keys: string[] };
    assert.deepEqual(shown.keys, ['presence/gw1']);

    keeping = false;
    await keepalives;
    const lastKeepalive = Date.now();
    const goneAfterMs = await waitFor('the leased key to vanish', async () => {
      const answer = await coapClient('-m', 'get', url(f2, '/kv/presence/gw1'));
      return answer.includes('4.04') ? Date.now() - lastKeepalive : null;
    });
    assert.ok(goneAfterMs <= TTL_MS + 1000 + LOOK_SLACK_MS, `gone ${goneAfterMs} ms after the last keepalive`);
    assert.match(await coapClient('-m', 'get', url(f1, '/kv/presence/gw1')), /4\.04/);
    assert.match(await coapClient('-m', 'get', url(f1, `/lease/${id}`)), /4\.04.*KV_LEASE_NOT_FOUND/s);
    cluster.start(leader);
  });

  it('grants, attaches, shows, keeps alive and revokes with the coraft CLI', async function () {
    const endpoint = endpointOf(cluster, 'n1');
    const grant = await coraft('lease', 'grant', '60000', '--json', '--endpoint', endpoint);
    assert.equal(grant.code, 0, grant.stderr);
    const { id } = JSON.parse(grant.stdout) as { id: number };
    const lease = String(id);
    const put = await coraft('kv', 'put', 'locks/a', 'me', '--lease', lease, '--endpoint', endpoint);
    assert.equal(put.code, 0, put.stderr);
    const show = await coraft('lease', 'show', lease, '--endpoint', endpoint);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^lease ${id}: TTL 60000 ms, \\d+ ms left, 1 key\\(s\\)\\n  locks/a\\n$`));
    const kept = await coraft('lease', 'keepalive', lease, '--endpoint', endpoint);
    assert.equal(kept.code, 0, kept.stderr);
    assert.equal(kept.stdout, `lease ${id} kept alive for 60000 ms\n`);
    const revoked = await coraft('lease', 'revoke', lease, '--endpoint', endpoint);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`^lease ${id} revoked; 1 key\\(s\\) deleted at revision \\d+\\n$`));
    assert.equal((await coraft('kv', 'get', 'locks/a', '--endpoint', endpoint)).code, 3);
    const gone = await coraft('lease', 'show', lease, '--endpoint', endpoint);
    assert.equal(gone.code, 3);
    assert.match(gone.stderr, /4\.04 KV_LEASE_NOT_FOUND/);
    const usage = await coraft('lease', 'grant', '--endpoint', endpoint);
    assert.equal(usage.code, 2);
  });
});
