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
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { startSimCluster } from '../runtime/sim-cluster.js';

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
    const ids = ['a', 'b', 'c'];
    const machines = new Map(ids.map((id) => [id, new KvStateMachine()]));
    const { timers, nodes } = await startSimCluster(ids, {
      networkSeed: 8,
      stateMachine: (id) => machines.get(id) ?? new KvStateMachine(),
    });
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
