// Proves, with three real agents over coaps on loopback, that an agent listening on the IPv6
// wildcard [::] works with members at IPv4 addresses: its dual-stack socket sends to them at
// their IPv4-mapped form and knows their datagrams by their IPv4 address, so n1 and n2 on
// [::]:PORT and n3 on 127.0.0.1:PORT, every member listed at 127.0.0.1, elect a leader, commit a
// write on every member, refuse no send for its address, and no member is taken to have moved
// (no member reached at another address than its configured one, such as ::ffff:127.0.0.1).
// Needs `npm run build` first (the agents run dist/).
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { waitFor } from './helpers.js';

interface Status {
  readonly lastApplied: number;
  readonly members: readonly { readonly id: string; readonly address: string; readonly reachedAt?: string }[];
}

describe('agent integration: a peer listener on [::] with IPv4 members', function () {
  this.timeout(90_000);
  let cluster: AgentProcesses | null = null;
  const lines: string[] = [];
  after(async () => {
    await cluster?.close();
  });

  it('elects, commits on every member and sees each member at its configured address', async () => {
    cluster = await AgentProcesses.create({
      nodes: 3,
      transport: 'coaps',
      storage: 'memory',
      output: (id, chunk) => void lines.push(...chunk.split('\n').map((line) => `${id} ${line}`)),
    });
    for (const id of ['n1', 'n2']) {
      const file = cluster.agent(id).init.config;
      const config = JSON.parse(readFileSync(file, 'utf8')) as { listen: { peer: string } };
      const port = /:(\d+)$/.exec(config.listen.peer)?.[1];
      assert.ok(port !== undefined);
      config.listen.peer = `[::]:${port}`;
      writeFileSync(file, JSON.stringify(config, null, 2));
    }
    cluster.startAll();
    const leader = await cluster.waitForLeader(30_000);
    await cluster.agent(leader).client.json('PUT', '/kv/dual', { value: 'stack' });
    const applied = (await cluster.agent(leader).client.json('GET', '/status')) as Status;
    for (const id of ['n1', 'n2', 'n3']) {
      const status = await waitFor(`${id} to apply the write`, async () => {
        const s = (await cluster?.agent(id).client.json('GET', '/status')) as Status | undefined;
        return s !== undefined && s.lastApplied >= applied.lastApplied ? s : null;
      });
      for (const member of status.members) {
        assert.match(member.address, /^127\.0\.0\.1:\d+$/, `${id} lists ${member.id} at ${member.address}`);
        assert.equal(member.reachedAt, undefined, `${id} reaches ${member.id} at ${member.reachedAt}`);
      }
    }
    const refused = lines.filter((line) => line.includes('its address cannot be used from this node'));
    assert.deepEqual(refused, []);
  });
});
