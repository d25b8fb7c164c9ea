/**
 * Proves the space quota on real agents (three nodes from `cluster init`: coaps, cbor, wal),
 * whose agent.json files disagree on purpose (quotaBytes 3000 on n1, 5000 on n2, 7000 on n3): the
 * quota in force is the leader's, replicated through the log, and every node reports the same
 * quota, size and alarm. Writes through libcoap's coap-client fill the store until one is refused
 * with 4.13 and `quota exceeded: N of M bytes`; every node then shows `alarms: ["NOSPACE"]` and
 * holds the same keys (`coraft status` prints the alarm); a delete is accepted, clears the alarm
 * on every node, and writes are taken again.
 */
import { strict as assert } from 'node:assert';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { coapClient, coraft, endpointOf, startCluster, waitFor } from './helpers.js';

const QUOTAS: Readonly<Record<string, number>> = { n1: 3000, n2: 5000, n3: 7000 };
const IDS = ['n1', 'n2', 'n3'];

interface SpaceView {
  readonly alarms: readonly string[];
  readonly quota: { readonly usedBytes: number; readonly quotaBytes: number; readonly configuredBytes: number };
}

describe('agent integration: the space quota (quotaBytes)', function () {
  this.timeout(120_000);
  let cluster: AgentProcesses;
  let leader: string;
  const url = (id: string, path: string): string => `coap://${endpointOf(cluster, id)}${path}`;
  const space = async (id: string): Promise<SpaceView> =>
    JSON.parse(await coapClient('-m', 'get', url(id, '/status'))) as SpaceView;

  before(async function () {
    ({ cluster, leader } = await startCluster({
      nodes: 3,
      storage: 'wal',
      configOverrides: (id) => ({ quotaBytes: QUOTAS[id] ?? 0 }),
    }));
  });

  after(async function () {
    await cluster.close();
  });

  it("refuses writes beyond the leader's quota alike on every node, takes them once space is freed", async function () {
    const quota = QUOTAS[leader] ?? 0;
    await waitFor('every node to apply the quota of the leader', async () => {
      const views = await Promise.all(IDS.map(space));
      return views.every((v) => v.quota.quotaBytes === quota);
    });
    for (const id of IDS) assert.equal((await space(id)).quota.configuredBytes, QUOTAS[id]);
    const value = 'v'.repeat(200);
    let refused = '';
    let written = 0;
    for (let i = 0; i < 100 && refused === ''; i += 1) {
      const answer = await coapClient('-m', 'put', '-e', value, url(IDS[i % 3] ?? 'n1', `/kv/key-${i}`));
      if (answer.startsWith('4.13')) refused = answer;
      else {
        assert.match(answer, /^\{"revision":\d+/);
        written += 1;
      }
    }
    assert.match(refused, new RegExp(`^4\\.13 quota exceeded: \\d+ of ${quota} bytes$`));
    assert.ok(written > 0);
    await waitFor('every node to raise NOSPACE', async () =>
      (await Promise.all(IDS.map(space))).every((v) => v.alarms.includes('NOSPACE')),
    );
    const shown = await coraft('status', '--endpoint', endpointOf(cluster, leader));
    assert.match(shown.stdout, new RegExp(`^alarms: NOSPACE \\(quota: \\d+ of ${quota} bytes used\\)$`, 'm'));
    const sizes = new Set((await Promise.all(IDS.map(space))).map((v) => v.quota.usedBytes));
    assert.equal(sizes.size, 1, 'every node counts the same size');
    const [used] = [...sizes];
    assert.ok(used !== undefined && used <= quota);
    for (const id of IDS) {
      const list = await coapClient('-m', 'get', url(id, '/kv?prefix=key-&stale'));
      assert.equal((JSON.parse(list) as { items: unknown[] }).items.length, written, `${id} holds every written key`);
    }
    // Free space: a delete runs, the alarm clears everywhere, and a write is taken again.
    assert.doesNotMatch(await coapClient('-m', 'delete', url(leader, '/kv/key-0')), /^[45]\.\d\d/);
    await waitFor('every node to clear NOSPACE', async () =>
      (await Promise.all(IDS.map(space))).every((v) => v.alarms.length === 0),
    );
    assert.match(await coapClient('-m', 'put', '-e', 'small', url(leader, '/kv/after-delete')), /^\{"revision":\d+/);
  });
});
