// Proves the core's basic behaviour on a synchronous in-process cluster: a leader is elected,
// proposals are replicated and applied in the same order everywhere, a partitioned minority
// cannot elect, and ReadIndex confirms leadership before serving.
import { strict as assert } from 'node:assert';
import { CoreCluster, bytes } from './core-cluster.js';

describe('RaftCore on a synchronous cluster', () => {
  it('elects one leader and replicates proposals to every node', () => {
    const cluster = new CoreCluster(['a', 'b', 'c']);
    const leader = cluster.electLeader();
    for (let i = 0; i < 10; i += 1) {
      const result = cluster.core(leader).propose(bytes(`cmd${i}`));
      assert.ok(result.ok);
    }
    cluster.stabilize();
    cluster.tick(3);
    const logs = ['a', 'b', 'c'].map((id) =>
      (cluster.applied.get(id) ?? [])
        .filter((e) => e.type === 'command')
        .map((e) => new TextDecoder().decode(e.command)),
    );
    assert.deepEqual(
      logs[0],
      Array.from({ length: 10 }, (_, i) => `cmd${i}`),
    );
    assert.deepEqual(logs[1], logs[0]);
    assert.deepEqual(logs[2], logs[0]);
  });

  it('refuses proposals on followers with a leader hint', () => {
    const cluster = new CoreCluster(['a', 'b', 'c']);
    const leader = cluster.electLeader();
    const follower = ['a', 'b', 'c'].find((id) => id !== leader) ?? 'a';
    const result = cluster.core(follower).propose(bytes('x'));
    assert.deepEqual(result, { ok: false, reason: 'not-leader', leaderHint: leader });
  });

  it('does not elect a leader in a minority partition, and keeps the majority leader', () => {
    const cluster = new CoreCluster(['a', 'b', 'c', 'd', 'e'], 7);
    const leader = cluster.electLeader();
    const minority = ['a', 'b', 'c', 'd', 'e'].filter((id) => id !== leader).slice(0, 2);
    const isolated = (id: string): boolean => minority.includes(id);
    cluster.drop = (from, to) => isolated(from) !== isolated(to);
    cluster.tick(200);
    for (const id of minority) assert.notEqual(cluster.core(id).getRole(), 'leader');
    assert.equal(cluster.core(leader).getRole(), 'leader');
    // Pre-vote keeps the minority's terms from rising while they are cut off.
    for (const id of minority) assert.equal(cluster.core(id).getTerm(), cluster.core(leader).getTerm());
  });

  it('steps a leader down when it loses its quorum (check-quorum)', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 3);
    const leader = cluster.electLeader();
    cluster.drop = (from, to) => from === leader || to === leader;
    cluster.tick(40);
    assert.notEqual(cluster.core(leader).getRole(), 'leader');
  });

  it('confirms a ReadIndex read only after hearing from a quorum', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 5);
    const leader = cluster.electLeader();
    cluster.tick(2);
    const reads = cluster.readies.get(leader) ?? [];
    reads.length = 0;
    assert.ok(cluster.core(leader).readIndex(42).ok);
    cluster.stabilize();
    const states = reads.flatMap((r) => r.readStates);
    assert.deepEqual(states, [{ token: 42, index: cluster.core(leader).getCommitIndex() }]);
  });

  it('aborts pending reads when the leader is cut off', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 9);
    const leader = cluster.electLeader();
    cluster.tick(2);
    cluster.drop = (from, to) => from === leader || to === leader;
    const readies = cluster.readies.get(leader) ?? [];
    readies.length = 0;
    assert.ok(cluster.core(leader).readIndex(1).ok);
    cluster.tick(40);
    const states = readies.flatMap((r) => r.readStates);
    assert.deepEqual(states, [{ token: 1, index: null }]);
  });
});
