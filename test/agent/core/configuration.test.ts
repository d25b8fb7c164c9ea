// Proves that a configuration change never places a member where another member is reached
// (agent/core/configuration.ts, transitionProblem): a peer's replies count for the member the
// request went to, so one process at a shared address would answer, vote and count toward a
// quorum for two members. Checked on the pure transition function and on a real leader core
// (CoreCluster), which refuses the proposal; a configuration that already holds such a pair can
// still change, so that the operator can remove one of them.
import { strict as assert } from 'node:assert';
import {
  memberReachedAt,
  planChange,
  simpleConfiguration,
  transitionProblem,
} from '../../../agent/core/configuration.js';
import type { ClusterConfiguration } from '../../../contracts/log.js';
import { CoreCluster } from './core-cluster.js';

const three = (): ClusterConfiguration => ({
  ...simpleConfiguration(['n1', 'n2', 'n3']),
  members: [
    { id: 'n1', address: '127.0.0.1:21000' },
    { id: 'n2', address: 'GW2.example:21002' },
    { id: 'n3', address: '127.0.0.1:21004' },
  ],
});

function plan(current: ClusterConfiguration, id: string, address: string): ClusterConfiguration {
  const result = planChange(current, { kind: 'add-learner', id, address });
  assert.ok(result.ok, 'the learner change itself is well formed');
  return result.next;
}

describe('configuration: one peer address per member', () => {
  it('refuses a new member at an address another member is reached at', () => {
    const current = three();
    const problem = transitionProblem(current, plan(current, 'n5', '127.0.0.1:21004'));
    assert.match(problem ?? '', /n5 cannot be reached at 127\.0\.0\.1:21004: n3 is reached there/);
    assert.match(transitionProblem(current, plan(current, 'n5', 'gw2.EXAMPLE:21002')) ?? '', /n2 is reached there/);
    assert.equal(transitionProblem(current, plan(current, 'n5', '127.0.0.1:21006')), null);
  });

  it("refuses moving a member to another member's address", () => {
    const current = three();
    const moved = {
      ...current,
      members: current.members.map((m) => (m.id === 'n3' ? { ...m, address: '127.0.0.1:21000' } : m)),
    };
    assert.match(
      transitionProblem(current, moved) ?? '',
      /n3 cannot be reached at 127\.0\.0\.1:21000: n1 is reached there/,
    );
  });

  it('lets a configuration that already holds a shared address change, and ignores empty addresses', () => {
    const shared = {
      ...three(),
      members: [...three().members, { id: 'n5', address: '127.0.0.1:21004' }],
      learners: ['n5'],
    };
    const removal = planChange(shared, { kind: 'remove', id: 'n5' });
    assert.ok(removal.ok);
    assert.equal(transitionProblem(shared, removal.next), null);
    const inProcess = {
      ...simpleConfiguration(['a', 'b']),
      members: [
        { id: 'a', address: '' },
        { id: 'b', address: '' },
      ],
    };
    assert.equal(transitionProblem(inProcess, plan(inProcess, 'c', '')), null);
    assert.equal(memberReachedAt(inProcess, '', 'c'), null);
  });

  it('a leader core refuses to propose a member at a taken address', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 7);
    const leader = cluster.electLeader();
    cluster.tick(3);
    cluster.drop = (from, to) => from === 'l' || to === 'l' || from === 'm' || to === 'm';
    const first = cluster
      .core(leader)
      .proposeConfiguration(plan(cluster.core(leader).getConfiguration(), 'l', '10.0.0.9:5684'));
    assert.ok(first.ok);
    cluster.tick(3);
    const second = cluster
      .core(leader)
      .proposeConfiguration(plan(cluster.core(leader).getConfiguration(), 'm', '10.0.0.9:5684'));
    assert.ok(!second.ok && second.reason === 'invalid-change');
    assert.match(
      second.ok ? '' : (second.message ?? ''),
      /m cannot be reached at 10\.0\.0\.9:5684: l is reached there/,
    );
  });
});
