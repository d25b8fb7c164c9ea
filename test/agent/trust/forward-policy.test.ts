// Attacks the client-request policy (agent/trust/forward-policy.ts) with admin entries: one
// well-formed or malformed is refused, and one whose op 'admin' is spelled in a longer CBOR head
// (which the policy does not decode) applies as a malformed key-value command, never as an admin
// entry. And with quota commands: a client
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
import { decodeKvResult } from '../../../agent/kv/index.js';
import { encodeAdminEntry } from '../../../agent/trust/trust-codec.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';
import { startSimCluster } from '../runtime/sim-cluster.js';

describe('client request policy: admin entries', () => {
  it('refuses an admin entry, well-formed or not', () => {
    const entry = encodeAdminEntry({ envelope: Uint8Array.of(1, 2, 3), timeMs: 5 });
    assert.match(clientRequestRefusal('write', entry) ?? '', /may not carry an admin entry/);
    const malformed = new Encoder({ mapsAsObjects: true, useRecords: false }).encode({ op: 'admin', envelope: 7 });
    assert.match(clientRequestRefusal('write', malformed) ?? '', /may not carry an admin entry/);
  });

  it("passes 'admin' spelled in a longer head, which the state machine applies as a malformed command", () => {
    // {op: 'admin', envelope: h'01', time: 5} with the text 'admin' behind the head 0x78 0x05.
    const op = [0x62, ...Buffer.from('op'), 0x78, 0x05, ...Buffer.from('admin')];
    const envelope = [0x68, ...Buffer.from('envelope'), 0x41, 0x01];
    const disguised = Uint8Array.from([0xa3, ...op, ...envelope, 0x64, ...Buffer.from('time'), 0x05]);
    assert.equal(clientRequestRefusal('write', disguised), null);
    const machine = new TrustedStateMachine(new KvStateMachine(), { cluster: 'c', genesisAdminKey: null });
    const result = decodeKvResult(machine.apply({ term: 1, index: 1, type: 'command', command: disguised }));
    assert.ok(result.type === 'error' && result.code === 'KV_MALFORMED', JSON.stringify(result));
  });
});

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
