// Proves the simulator's membership checks (agent/sim/membership-check.ts) can fail, on made-up
// inputs: two configurations with disjoint quorums are found (a voter change without a joint step),
// adjacent steps of joint consensus are not; a leader without a quorum of each half of a joint
// configuration is reported, as are a removed leader that still leads once its removal is
// committed and a leader that stays in a joint configuration it committed.
import { strict as assert } from 'node:assert';
import { MembershipChecker, disjointQuorums, isQuorum } from '../../../agent/sim/membership-check.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import type { RaftCore } from '../../../agent/core/raft.js';
import type { ClusterConfiguration } from '../../../contracts/log.js';
import type { RequestMessage, ResponseMessage } from '../../../contracts/messages.js';

const joint = (voters: string[], old: string[]): ClusterConfiguration => ({
  ...simpleConfiguration(voters),
  oldVoters: old,
});

/** The part of a core the checker reads. */
function fakeCore(fields: {
  role?: string;
  term?: number;
  config: ClusterConfiguration;
  uncommitted?: boolean;
  commitTerm?: number;
}): RaftCore {
  return {
    getRole: () => fields.role ?? 'leader',
    getTerm: () => fields.term ?? 3,
    getConfiguration: () => fields.config,
    hasUncommittedConfiguration: () => fields.uncommitted ?? false,
    getCommitIndex: () => 10,
    termAt: () => fields.commitTerm ?? fields.term ?? 3,
  } as unknown as RaftCore;
}

function vote(checker: MembershipChecker, voter: string, candidate: string, term: number): void {
  const request = { type: 'RequestVoteRequest', term, candidateId: candidate } as RequestMessage;
  const response = { type: 'RequestVoteResponse', term, voteGranted: true } as ResponseMessage;
  checker.onResponse(voter, request, response);
}

describe('simulator: membership checks', () => {
  it('counts a joint quorum in both halves', () => {
    const config = joint(['a', 'b', 'd', 'e'], ['a', 'b', 'c']);
    assert.equal(isQuorum(config, new Set(['a', 'b', 'd'])), true);
    assert.equal(isQuorum(config, new Set(['a', 'd', 'e'])), false, 'one of three old voters');
    assert.equal(isQuorum(config, new Set(['a', 'b', 'c'])), false, 'two of four new voters');
  });

  it('finds disjoint quorums of a voter change made without a joint step, none across joint steps', () => {
    const three = simpleConfiguration(['a', 'b', 'c']);
    const five = simpleConfiguration(['a', 'b', 'c', 'd', 'e']);
    const split = disjointQuorums(three, five);
    assert.ok(split !== null);
    assert.equal(isQuorum(three, new Set(split.left)), true);
    assert.equal(isQuorum(five, new Set(split.right)), true);
    const middle = joint(['a', 'b', 'c', 'd', 'e'], ['a', 'b', 'c']);
    assert.equal(disjointQuorums(three, middle), null);
    assert.equal(disjointQuorums(middle, five), null);
    assert.equal(
      disjointQuorums(simpleConfiguration(['a', 'b', 'c', 'd']), simpleConfiguration(['a', 'b', 'c'])),
      null,
    );
  });

  it('reports a configuration entry that skips the joint step, in log order whatever the order applied', () => {
    const violations: string[] = [];
    const checker = new MembershipChecker((message) => violations.push(message));
    checker.onConfigurationApplied(20, simpleConfiguration(['a', 'b', 'c', 'd', 'e']));
    checker.onConfigurationApplied(5, simpleConfiguration(['a', 'b', 'c']));
    assert.equal(violations.length, 1);
    assert.match(violations[0] ?? '', /Disjoint majorities: configuration 5 .* at 20/);
    checker.onConfigurationApplied(12, joint(['a', 'b', 'c', 'd', 'e'], ['a', 'b', 'c']));
    assert.equal(violations.length, 1, 'the joint step between them overlaps both');
  });

  it('reports a leader elected without a majority of each half of a joint configuration', () => {
    const violations: string[] = [];
    const checker = new MembershipChecker((message) => violations.push(message));
    const config = joint(['a', 'd', 'e'], ['a', 'b', 'c']);
    vote(checker, 'd', 'a', 4);
    checker.onLeader('a', 4, fakeCore({ term: 4, config }));
    assert.match(violations[0] ?? '', /Election quorum: a leads term 4 with the votes of a,d only/);
    vote(checker, 'b', 'a', 5);
    vote(checker, 'd', 'a', 5);
    checker.onLeader('a', 5, fakeCore({ term: 5, config }));
    assert.equal(violations.length, 1, 'a,b,d is a quorum of both halves');
  });

  it('reports a removed leader that still leads, and a leader that stays in a joint configuration', () => {
    const violations: string[] = [];
    const checker = new MembershipChecker((message) => violations.push(message));
    checker.checkLeader('a', fakeCore({ config: simpleConfiguration(['b', 'c', 'd']), uncommitted: true }));
    assert.deepEqual(violations, [], 'its removal is not committed yet');
    checker.checkLeader('a', fakeCore({ config: simpleConfiguration(['b', 'c', 'd']) }));
    assert.match(violations[0] ?? '', /Removed leader: a still leads term 3/);
    checker.checkLeader('a', fakeCore({ config: joint(['a', 'b'], ['a', 'b', 'c']), commitTerm: 2 }));
    assert.equal(violations.length, 1, 'no entry of its term committed yet');
    checker.checkLeader('a', fakeCore({ config: joint(['a', 'b'], ['a', 'b', 'c']) }));
    assert.match(violations[1] ?? '', /Joint configuration: leader a committed in term 3/);
  });
});
