// Proves that a leader leaves a committed joint configuration (Raft §6: it proposes C_new as soon as
// C_old,new commits) even while it is handing leadership on (thesis §3.10). The leader refuses
// proposals during a transfer, and it used to refuse its own C_new too: when the transfer then
// failed (the target cut off), the cluster stayed in C_old,new, needing majorities of both halves,
// refusing every later change and leaving the operator's change unfinished, until some client
// write happened to move the commit index again.
import { strict as assert } from 'node:assert';
import { planChange } from '../../../agent/core/configuration.js';
import { CoreCluster } from './core-cluster.js';

describe('core: a joint configuration committed during a leadership transfer', () => {
  it('is left for C_new at once, and stays left once the transfer fails', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const cluster = new CoreCluster(ids, 11);
    const leader = cluster.electLeader();
    cluster.tick(3);
    const others = ids.filter((id) => id !== leader);
    const [target, removed] = others;
    assert.ok(target !== undefined && removed !== undefined);
    const core = cluster.core(leader);
    const plan = planChange(core.getConfiguration(), { kind: 'remove', id: removed });
    assert.ok(plan.ok);
    assert.ok(core.proposeConfiguration(plan.next).ok);
    // The target never hears from the leader: the transfer cannot complete, and is aborted.
    cluster.drop = (from, to) => (from === leader && to === target) || (from === target && to === leader);
    assert.ok(core.transferLeadership(target).ok);
    cluster.stabilize();
    assert.equal(core.getTransferee(), target, 'the transfer is still under way');
    assert.equal(core.getConfiguration().oldVoters, null, 'C_new was proposed when C_old,new committed');
    cluster.tick(40);
    cluster.drop = () => false;
    cluster.tick(10);
    assert.equal(core.getRole(), 'leader');
    assert.equal(core.getTransferee(), null, 'the transfer was aborted');
    assert.equal(core.getConfiguration().oldVoters, null, 'the leader left C_old,new');
    assert.equal(core.hasUncommittedConfiguration(), false, 'and committed C_new');
    assert.ok(!core.getConfiguration().voters.includes(removed));
  });
});
