// Proves that the node tells its state machine whether anyone reads an apply's result
// (StateMachine.apply's `answered`, node.ts applyEntry): true on the node whose client proposed
// the command (a write submitted at the leader, or forwarded to it by a follower), false on every
// other member, which then need not encode a result no one waits for (kv/state-machine.ts).
import { strict as assert } from 'node:assert';
import { EchoStateMachine, startSimCluster } from './sim-cluster.js';

describe('answered applies', () => {
  it('answers the applies of the proposing node only', async () => {
    const machines = new Map<string, EchoStateMachine>();
    const { timers, nodes } = await startSimCluster(['a', 'b', 'c'], {
      networkSeed: 5,
      stateMachine: (id) => {
        const machine = new EchoStateMachine();
        machines.set(id, machine);
        return machine;
      },
    });
    const leader = nodes.find((node) => node.isLeader());
    const follower = nodes.find((node) => !node.isLeader());
    assert.ok(leader !== undefined && follower !== undefined);
    const atLeader = leader.submitCommand(Uint8Array.of(1), 5000);
    const forwarded = follower.submitAnywhere(Uint8Array.of(2), 5000);
    await timers.runUntil(timers.nowMs() + 1000);
    assert.deepEqual([...(await atLeader)], [1]);
    assert.deepEqual([...(await forwarded)], [2]);
    for (const [i, node] of nodes.entries()) {
      const machine = machines.get(['a', 'b', 'c'][i] ?? '');
      assert.ok(machine !== undefined);
      const flags = machine.applied.flatMap((entry, i) => (entry.type === 'command' ? [machine.answered[i]] : []));
      assert.deepEqual(flags, node === leader ? [true, true] : [false, false], `node ${i}`);
    }
    for (const node of nodes) await node.stop();
  });
});
