// Attacks the client-request policy (agent/trust/forward-policy.ts) with quota commands: a client
// write or a peer's forwarded write that carries a quota command, well-formed or not, is refused
// before it is proposed (only a leader proposes the quota, from its own agent.json), while
// ordinary writes, including ones whose key or value spell 'quota', pass. And on a running
// three-node cluster a follower that forwards a quota command to the leader is refused with
// RAFT_FORBIDDEN and nothing is applied.
import { strict as assert } from 'node:assert';
import { Encoder } from 'cbor-x';
import { clientRequestRefusal } from '../../../agent/trust/forward-policy.js';
import { encodeKvCommand, encodeQuotaCommand } from '../../../agent/kv/index.js';
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SimNetwork, RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';

describe('client request policy: quota commands', () => {
  it('refuses a client write that carries a quota command, malformed or not; passes ordinary writes', () => {
    assert.match(clientRequestRefusal('write', encodeQuotaCommand(1)) ?? '', /may not set the quota/);
    const malformed = new Encoder({ mapsAsObjects: true, useRecords: false }).encode({ op: 'quota', bytes: 'x' });
    assert.match(clientRequestRefusal('write', malformed) ?? '', /may not set the quota/);
    const put = encodeKvCommand({
      op: 'put',
      key: 'quota',
      value: new TextEncoder().encode('quota'),
      returnPrevious: false,
      session: null,
      timeMs: 0,
    });
    assert.equal(clientRequestRefusal('write', put), null);
  });

  it('a follower forwarding a quota command to the leader is refused and nothing applies', async () => {
    const timers = new VirtualTimers();
    const network = new SimNetwork(timers, new SeededPrng(8), RELIABLE_NETWORK);
    const ids = ['a', 'b', 'c'];
    const machines = new Map(ids.map((id) => [id, new KvStateMachine()]));
    const nodes = ids.map((id) => {
      const endpoint = network.endpoint(id);
      return new RaftNodeImpl(
        {
          timers,
          prng: new SeededPrng(id.charCodeAt(0)),
          client: endpoint.client,
          server: endpoint.server,
          storage: new MemoryPersistenceEngine(),
          stateMachine: machines.get(id) ?? new KvStateMachine(),
          logger: new MemoryLogger(),
          metrics: new NoopMetrics(),
          membership: new DefaultMembershipManager(),
        },
        { nodeId: id, raft: DEFAULT_RAFT_CONFIGURATION, bootstrap: simpleConfiguration(ids) },
      );
    });
    for (const node of nodes) await node.start();
    await timers.runUntil(timers.nowMs() + 2000);
    const follower = nodes.find((n) => !n.isLeader());
    assert.ok(follower !== undefined);
    const outcome = follower.submitAnywhere(encodeQuotaCommand(1), 1000).then(
      () => null,
      (error: unknown) => error,
    );
    await timers.runUntil(timers.nowMs() + 500);
    const error = await outcome;
    assert.ok(error instanceof Error && 'code' in error && error.code === 'RAFT_FORBIDDEN', String(error));
    for (const machine of machines.values()) assert.equal(machine.stats().quotaBytes, 0);
    for (const node of nodes) await node.stop();
  });
});
