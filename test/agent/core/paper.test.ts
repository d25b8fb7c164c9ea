// One test per claim of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
// Consensus Algorithm", extended version) that the core must honour, each citing its section.
// Cores are driven directly through tick/step/takeReady on a synchronous in-process cluster;
// no mocks (after etcd-io/raft raft_paper_test.go).
import { strict as assert } from 'node:assert';
import { CoreCluster, bytes } from './core-cluster.js';
import type { StartLog } from './core-cluster.js';
import { RaftCore } from '../../../agent/core/raft.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { TEST_OPTIONS } from './core-cluster.js';
import type { Ready } from '../../../agent/core/ready.js';

function lone(id: string, voters: string[], term = 0, options = {}): RaftCore {
  return new RaftCore(
    { prng: new SeededPrng(11) },
    { ...TEST_OPTIONS, ...options, id },
    {
      hardState: { currentTerm: term, votedFor: null },
      snapshot: null,
      entries: [],
      bootstrap: simpleConfiguration(voters),
    },
  );
}

function drain(core: RaftCore): Ready[] {
  const readies: Ready[] = [];
  while (core.hasReady()) {
    const ready = core.takeReady();
    readies.push(ready);
    core.advance(ready);
  }
  return readies;
}

function responses(readies: Ready[]): unknown[] {
  return readies.flatMap((r) =>
    r.messages.filter((m) => m.kind === 'response').map((m) => (m.kind === 'response' ? m.response : null)),
  );
}

describe('Raft paper claims', () => {
  it('§5.1: a leader that sees a higher term becomes a follower of that term (Property 22)', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 2);
    const leader = cluster.electLeader();
    const core = cluster.core(leader);
    const term = core.getTerm();
    const result = core.step({
      kind: 'response',
      from: leader === 'a' ? 'b' : 'a',
      seq: 1,
      request: {
        type: 'AppendEntriesRequest',
        term,
        leaderId: leader,
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [],
        leaderCommit: 0,
      },
      response: {
        type: 'AppendEntriesResponse',
        term: term + 3,
        success: false,
        conflictIndex: null,
        conflictTerm: null,
        lastLogIndex: 0,
      },
    });
    assert.ok(result.ok);
    assert.equal(core.getRole(), 'follower');
    assert.equal(core.getTerm(), term + 3);
  });

  it('§5.1: a request with a stale term is rejected with the current term', () => {
    const core = lone('a', ['a', 'b', 'c'], 5);
    core.step({
      kind: 'request',
      from: 'b',
      replyTo: 1,
      request: {
        type: 'AppendEntriesRequest',
        term: 4,
        leaderId: 'b',
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [],
        leaderCommit: 0,
      },
    });
    assert.deepEqual(responses(drain(core)), [
      {
        type: 'AppendEntriesResponse',
        term: 5,
        success: false,
        conflictIndex: null,
        conflictTerm: null,
        lastLogIndex: 0,
      },
    ]);
    assert.equal(core.getTerm(), 5);
  });

  it('§5.2: a follower that hears nothing starts an election: term + 1, a vote for itself, RequestVote to all', () => {
    const core = lone('a', ['a', 'b', 'c'], 1, { preVote: false });
    for (let i = 0; i < TEST_OPTIONS.electionTimeoutMaxTicks; i += 1) core.tick();
    assert.equal(core.getRole(), 'candidate');
    assert.equal(core.getTerm(), 2);
    const [ready] = drain(core);
    assert.ok(ready);
    assert.deepEqual(ready.hardState, { currentTerm: 2, votedFor: 'a' });
    const targets = ready.messages.map((m) => (m.kind === 'request' ? `${m.to}:${m.request.type}` : '')).sort();
    assert.deepEqual(targets, ['b:RequestVoteRequest', 'c:RequestVoteRequest']);
  });

  it('§5.2: each server votes for at most one candidate per term, first come first served', () => {
    const core = lone('a', ['a', 'b', 'c'], 1);
    const vote = (from: string, token: number): void => {
      core.step({
        kind: 'request',
        from,
        replyTo: token,
        request: {
          type: 'RequestVoteRequest',
          term: 2,
          candidateId: from,
          lastLogIndex: 0,
          lastLogTerm: 0,
          transfer: false,
        },
      });
    };
    vote('b', 1);
    vote('c', 2);
    const granted = responses(drain(core)).map((r) => (r as { voteGranted: boolean }).voteGranted);
    assert.deepEqual(granted, [true, false]);
  });

  it('§5.2: the vote is persisted in the Ready of the grant, so it is durable before it is sent (Property 9)', () => {
    const core = lone('a', ['a', 'b', 'c'], 1);
    core.step({
      kind: 'request',
      from: 'b',
      replyTo: 1,
      request: {
        type: 'RequestVoteRequest',
        term: 2,
        candidateId: 'b',
        lastLogIndex: 0,
        lastLogTerm: 0,
        transfer: false,
      },
    });
    const [ready] = drain(core);
    assert.deepEqual(ready?.hardState, { currentTerm: 2, votedFor: 'b' });
    assert.equal(ready?.messages.length, 1);
  });

  it('§5.2: a candidate that receives AppendEntries from a leader of its term becomes a follower', () => {
    const core = lone('a', ['a', 'b', 'c'], 1, { preVote: false });
    for (let i = 0; i < TEST_OPTIONS.electionTimeoutMaxTicks; i += 1) core.tick();
    assert.equal(core.getRole(), 'candidate');
    core.step({
      kind: 'request',
      from: 'b',
      replyTo: 9,
      request: {
        type: 'AppendEntriesRequest',
        term: core.getTerm(),
        leaderId: 'b',
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [],
        leaderCommit: 0,
      },
    });
    assert.equal(core.getRole(), 'follower');
    assert.equal(core.getLeaderId(), 'b');
  });

  it('§5.2: election timeouts are randomized within [min, max)', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 30; seed += 1) {
      const core = new RaftCore(
        { prng: new SeededPrng(seed) },
        { ...TEST_OPTIONS, id: 'a', preVote: false },
        {
          hardState: { currentTerm: 0, votedFor: null },
          snapshot: null,
          entries: [],
          bootstrap: simpleConfiguration(['a', 'b', 'c']),
        },
      );
      let ticks = 0;
      while (core.getRole() === 'follower') {
        core.tick();
        ticks += 1;
      }
      assert.ok(
        ticks >= TEST_OPTIONS.electionTimeoutMinTicks && ticks < TEST_OPTIONS.electionTimeoutMaxTicks,
        `timeout ${ticks}`,
      );
      seen.add(ticks);
    }
    assert.ok(seen.size > 3, 'timeouts vary');
  });

  it('§5.3: a follower rejects AppendEntries whose previous entry it does not hold', () => {
    const core = lone('a', ['a', 'b', 'c'], 1);
    core.step({
      kind: 'request',
      from: 'b',
      replyTo: 1,
      request: {
        type: 'AppendEntriesRequest',
        term: 1,
        leaderId: 'b',
        prevLogIndex: 3,
        prevLogTerm: 1,
        entries: [],
        leaderCommit: 0,
      },
    });
    const [response] = responses(drain(core));
    assert.deepEqual(response, {
      type: 'AppendEntriesResponse',
      term: 1,
      success: false,
      conflictIndex: 1,
      conflictTerm: null,
      lastLogIndex: 0,
    });
  });

  it('§5.3, Figure 7: a new leader brings every follower log to match its own', () => {
    // Figure 7: the leader's log (term 8) and followers (a) to (f), as terms per index.
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: Record<string, readonly number[]> = {
      fa: [1, 1, 1, 4, 4, 5, 5, 6, 6],
      fb: [1, 1, 1, 4],
      fc: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      fd: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      fe: [1, 1, 1, 4, 4, 4, 4],
      ff: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    };
    for (const [name, log] of Object.entries(followers)) {
      const starts = new Map<string, StartLog>([
        ['ld', { term: 7, terms: leaderLog }],
        [name, { term: 7, terms: log }],
        ['x1', { term: 7, terms: leaderLog }],
        ['x2', { term: 7, terms: leaderLog }],
        ['x3', { term: 7, terms: leaderLog }],
      ]);
      const ids = ['ld', name, 'x1', 'x2', 'x3'];
      const cluster = new CoreCluster(ids, 3, { preVote: false }, starts);
      // Only the leader's timer runs, so it campaigns first and wins with the x nodes' votes.
      while (cluster.core('ld').getRole() !== 'leader') cluster.tick(1, ['ld']);
      cluster.tick(5, ['ld']);
      const leader = cluster.core('ld');
      const follower = cluster.core(name);
      assert.equal(follower.getLastIndex(), leader.getLastIndex(), `${name} log length`);
      for (let i = 1; i <= leader.getLastIndex(); i += 1)
        assert.equal(follower.termAt(i), leader.termAt(i), `${name} index ${i}`);
    }
  });

  it('§5.4.1: a voter denies its vote to a candidate whose log is less up-to-date', () => {
    const starts = new Map<string, StartLog>([['a', { term: 3, terms: [1, 2, 3] }]]);
    const cluster = new CoreCluster(['a', 'b', 'c'], 1, {}, starts);
    const core = cluster.core('a');
    core.step({
      kind: 'request',
      from: 'b',
      replyTo: 1,
      request: {
        type: 'RequestVoteRequest',
        term: 4,
        candidateId: 'b',
        lastLogIndex: 5,
        lastLogTerm: 2,
        transfer: false,
      },
    });
    core.step({
      kind: 'request',
      from: 'c',
      replyTo: 2,
      request: {
        type: 'RequestVoteRequest',
        term: 4,
        candidateId: 'c',
        lastLogIndex: 3,
        lastLogTerm: 3,
        transfer: false,
      },
    });
    const granted = responses(drain(core)).map((r) => (r as { voteGranted: boolean }).voteGranted);
    assert.deepEqual(granted, [false, true]);
  });

  it('§5.4.2, Figure 8: a leader does not commit an entry of an older term by counting replicas', () => {
    // The leader holds an entry of term 2 that the others lack; it leads term 4 (after 3). b is
    // cut off; c receives entry 2 but not the leader's term-4 no-op at index 3.
    const starts = new Map<string, StartLog>([
      ['a', { term: 3, terms: [1, 2] }],
      ['b', { term: 3, terms: [1] }],
      ['c', { term: 3, terms: [1] }],
    ]);
    const cluster = new CoreCluster(['a', 'b', 'c'], 1, { preVote: false, maxEntriesPerAppend: 1 }, starts);
    cluster.dropRequest = (_from, to, request) =>
      (to === 'b' && request.type !== 'RequestVoteRequest') ||
      (request.type === 'AppendEntriesRequest' &&
        request.entries.some((e) => e.index === 3) &&
        cluster.core('c').getLastIndex() >= 2);
    while (cluster.core('a').getRole() !== 'leader') cluster.tick(1, ['a']);
    cluster.tick(5, ['a']);
    const leader = cluster.core('a');
    assert.equal(leader.getProgress().find((p) => p.id === 'c')?.match, 2, 'entry 2 is on a majority (a and c)');
    assert.equal(leader.getCommitIndex(), 0, 'the term-2 entry is not committed by counting');
    cluster.dropRequest = (_from, to) => to === 'b';
    cluster.tick(3, ['a']);
    assert.equal(leader.getCommitIndex(), 3, 'once the term-4 entry is replicated, both commit');
  });

  it('§5.5: a follower handles a duplicate AppendEntries idempotently', () => {
    const core = lone('a', ['a', 'b', 'c'], 1);
    const request = {
      type: 'AppendEntriesRequest' as const,
      term: 1,
      leaderId: 'b',
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ term: 1, index: 1, type: 'command' as const, command: bytes('x') }],
      leaderCommit: 0,
    };
    core.step({ kind: 'request', from: 'b', replyTo: 1, request });
    core.step({ kind: 'request', from: 'b', replyTo: 2, request });
    const answers = responses(drain(core)).map((r) => (r as { success: boolean }).success);
    assert.deepEqual(answers, [true, true]);
    assert.equal(core.getLastIndex(), 1);
  });

  it('thesis §9.6: a pre-vote that fails leaves the term unchanged', () => {
    const core = lone('a', ['a', 'b', 'c'], 4);
    for (let i = 0; i < TEST_OPTIONS.electionTimeoutMaxTicks; i += 1) core.tick();
    assert.equal(core.getRole(), 'precandidate');
    assert.equal(core.getTerm(), 4);
    const [ready] = drain(core);
    assert.equal(ready?.hardState, null, 'a pre-candidate persists nothing');
    const request = ready?.messages[0];
    assert.ok(request?.kind === 'request' && request.request.type === 'PreVoteRequest');
    core.step({
      kind: 'response',
      from: 'b',
      seq: request.seq,
      request: request.request,
      response: { type: 'PreVoteResponse', term: 4, voteGranted: false },
    });
    core.step({
      kind: 'response',
      from: 'c',
      seq: request.seq + 1,
      request: request.request,
      response: { type: 'PreVoteResponse', term: 4, voteGranted: false },
    });
    assert.equal(core.getRole(), 'follower');
    assert.equal(core.getTerm(), 4);
  });
});
