/**
 * Proves, on a real three-agent cluster (coaps, cbor, the wal engine), that a leader catches a
 * follower up with entries it reads back from its storage (agent/core/log-window.ts): with
 * `raft.logResidentBytes` 0 the leader keeps no applied, durable entry in memory, so while a
 * follower is stopped (SIGSTOP) every entry it misses leaves the leader's memory; once it resumes
 * it catches up by appends (the leader reports no InstallSnapshot started) and answers the last
 * key through its own endpoint. The leader's GET /status says the same: entries read back, at
 * least those the follower missed, and no applied entry's payload in memory. Without the window
 * (the core holding every entry) the setting is refused by agent.json's schema, and the entries
 * would never be read from storage.
 */
import { strict as assert } from 'node:assert';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { startCluster, waitFor } from './helpers.js';
import { scaledMs } from '../../timing.js';

const KEYS = 300;
const VALUE_BYTES = 1024;

describe('agent integration: a follower behind the log window catches up from storage', function () {
  this.timeout(scaledMs(120_000));
  let cluster: AgentProcesses;
  let leader: string;

  before(async function () {
    ({ cluster, leader } = await startCluster({
      nodes: 3,
      storage: 'wal',
      configOverrides: () => ({ raft: { logResidentBytes: 0 } }),
    }));
  });

  after(async function () {
    await cluster.close();
  });

  async function put(key: string): Promise<void> {
    const response = await cluster
      .agent(leader)
      .client.request({ method: 'PUT', path: ['kv', key], payload: Buffer.alloc(VALUE_BYTES, key) });
    assert.ok(response.code < 0x80, `put ${key}: ${response.code.toString(16)}`);
  }

  it('sends the entries a stopped follower missed by appends read from storage', async () => {
    const follower = cluster.nodes.map((n) => n.id).find((id) => id !== leader);
    assert.ok(follower !== undefined);
    await cluster.signal(follower, 'SIGSTOP');
    for (let i = 0; i < KEYS; i += 1) await put(`k${i}`);
    const leaderStatus = await cluster.status(leader);
    assert.ok(leaderStatus !== null);
    await cluster.signal(follower, 'SIGCONT');
    await waitFor(
      `${follower} applies ${leaderStatus.commitIndex}`,
      async () => ((await cluster.status(follower))?.lastApplied ?? 0) >= leaderStatus.commitIndex,
      scaledMs(30_000),
    );
    const response = await cluster.agent(follower).client.request({ method: 'GET', path: ['kv', `k${KEYS - 1}`] });
    assert.equal(response.code, 0x45);
    assert.equal(Buffer.from(response.payload).toString('utf8'), Buffer.alloc(VALUE_BYTES, `k${KEYS - 1}`).toString());
    const status = (await cluster.agent(leader).client.json('GET', '/status')) as {
      readonly snapshots?: { readonly sendsStarted?: number };
      readonly lastApplied: number;
      readonly log?: { readonly entriesReadBack: number; readonly residentFromIndex: number };
    };
    assert.equal(status.snapshots?.sendsStarted, 0, 'no InstallSnapshot');
    assert.ok((status.log?.entriesReadBack ?? 0) >= KEYS, `entries read back: ${status.log?.entriesReadBack}`);
    assert.ok((status.log?.residentFromIndex ?? 0) > status.lastApplied, 'no applied payload in memory');
  });
});
