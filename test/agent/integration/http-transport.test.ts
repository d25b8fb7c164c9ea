/**
 * Proves that agents on the HTTP peer transports still form a cluster now that the agent loads
 * them only when configured (agent/runtime/factories.ts; issue 17: an agent on the default
 * coaps transport does not load node:http, node:https and TLS): three real agents (dist/ through
 * bin/coraft.js, `npm run build` first) on `https` (TLS 1.2 PSK, key-checked membership) and on
 * `http` each elect a leader, and a write through an agent's endpoint commits.
 */
import { strict as assert } from 'node:assert';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';

for (const transport of ['https', 'http'] as const) {
  describe(`agent integration: the ${transport} peer transport`, function () {
    this.timeout(90_000);
    let cluster: AgentProcesses | null = null;
    after(async () => {
      await cluster?.close();
    });

    it('elects a leader and commits a write', async () => {
      cluster = await AgentProcesses.create({ nodes: 3, transport, storage: 'memory' });
      cluster.startAll();
      const leader = await cluster.waitForLeader(60_000);
      const response = await cluster.agent(leader).client.request({
        method: 'PUT',
        path: ['kv', 'lazy-transport'],
        payload: new TextEncoder().encode('loaded on demand'),
      });
      assert.ok(response.code >= 0x40 && response.code < 0x60, `PUT answered ${response.code}`);
    });
  });
}
