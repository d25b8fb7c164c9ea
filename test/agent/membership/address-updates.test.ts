// Proves the leader's decisions about a member's new address (agent/membership/address-updates.ts):
// a new, well-formed address of a member gives a configuration that changes that member's
// address and nothing else (a change the core accepts without a joint configuration); the same
// address, a non-member, a malformed address and a joint configuration give nothing; and one
// member gets at most one proposal per interval (a member flapping between addresses, or a
// compromised one, cannot flood the log).
import { strict as assert } from 'node:assert';
import { AddressUpdates } from '../../../agent/membership/address-updates.js';
import { transitionProblem } from '../../../agent/core/configuration.js';
import type { ClusterConfiguration } from '../../../contracts/log.js';

const config: ClusterConfiguration = {
  voters: ['n1', 'n2', 'n3'],
  learners: ['n4'],
  oldVoters: null,
  members: [
    { id: 'n1', address: '127.0.0.1:7001' },
    { id: 'n2', address: '127.0.0.1:7002' },
    { id: 'n3', address: '127.0.0.1:7003' },
    { id: 'n4', address: 'gw4.local:5684' },
  ],
};

describe('AddressUpdates', () => {
  it("proposes the member's new address and changes nothing else", () => {
    const updates = new AddressUpdates(() => 0, 2000);
    const plan = updates.plan(config, 'n3', '127.0.0.1:7103');
    assert.equal(plan.kind, 'propose');
    assert.ok(plan.kind === 'propose');
    assert.equal(plan.previous, '127.0.0.1:7003');
    assert.deepEqual(plan.next.voters, config.voters);
    assert.deepEqual(plan.next.learners, config.learners);
    assert.equal(plan.next.oldVoters, null);
    assert.deepEqual(plan.next.members, [
      { id: 'n1', address: '127.0.0.1:7001' },
      { id: 'n2', address: '127.0.0.1:7002' },
      { id: 'n3', address: '127.0.0.1:7103' },
      { id: 'n4', address: 'gw4.local:5684' },
    ]);
    assert.equal(transitionProblem(config, plan.next), null, 'the core accepts it as one step');
    const learner = new AddressUpdates(() => 0).plan(config, 'n4', '[::1]:5684');
    assert.equal(learner.kind, 'propose', 'a learner moves too');
  });

  it('proposes nothing for the same address, a non-member, a malformed address or a joint configuration', () => {
    const updates = new AddressUpdates(() => 0);
    assert.deepEqual(updates.plan(config, 'n2', '127.0.0.1:7002'), { kind: 'skip', reason: 'same' });
    assert.deepEqual(updates.plan(config, 'n2', '[::ffff:127.0.0.1]:7002'), { kind: 'skip', reason: 'same' });
    assert.deepEqual(updates.plan(config, 'n9', '127.0.0.1:7009'), { kind: 'skip', reason: 'not-member' });
    for (const bad of ['127.0.0.1', '127.0.0.1:0', ':7002', 'a:b:c', `${'h'.repeat(300)}:1`])
      assert.deepEqual(updates.plan(config, 'n2', bad), { kind: 'skip', reason: 'malformed' }, bad);
    const joint = { ...config, oldVoters: ['n1', 'n2'] };
    assert.deepEqual(updates.plan(joint, 'n2', '127.0.0.1:7102'), { kind: 'skip', reason: 'joint' });
  });

  it('proposes at most once per member per interval', () => {
    let now = 1000;
    const updates = new AddressUpdates(() => now, 2000);
    assert.equal(updates.plan(config, 'n3', '127.0.0.1:7103').kind, 'propose');
    now += 1999;
    assert.deepEqual(updates.plan(config, 'n3', '127.0.0.1:7203'), { kind: 'skip', reason: 'rate-limited' });
    assert.equal(updates.plan(config, 'n2', '127.0.0.1:7102').kind, 'propose', 'another member is not held back');
    now += 1;
    assert.equal(updates.plan(config, 'n3', '127.0.0.1:7203').kind, 'propose');
  });
});
