// Proves the simulator's durability, state and logging checks and its durability faults: runs
// with the faults a disk and a network add to a crash (a crash right after an answer, a crash that
// keeps part of the unsynced tail, messages held for seconds) pass every check and the faults act;
// and each check fails when fed what a broken node would do (the checks can fail): an answer
// before the write (Property 9), a durable term or vote going back (10, 17), an older term
// answering a leader (22), two replicas with different states at one index (5, 14, 19), and a
// role change that is never logged (21).
import { strict as assert } from 'node:assert';
import { DurabilityChecker } from '../../agent/sim/durability-check.js';
import { StateChecker } from '../../agent/sim/state-check.js';
import { TransitionLogChecker } from '../../agent/sim/transition-log-check.js';
import { runSimulation } from '../../agent/sim/run.js';
import { SafetyChecker } from '../../agent/sim/safety.js';
import type { RaftCore } from '../../agent/core/raft.js';
import type { ClusterConfiguration } from '../../contracts/log.js';
import { parseFaults } from '../../agent/cli/sim.js';
import { MemoryDisk } from '../../storage/memory.js';
import type { LogEntry } from '../../contracts/log.js';
import type { AppendEntriesRequest, RequestVoteRequest } from '../../contracts/messages.js';

function entry(index: number, term: number): LogEntry {
  return { index, term, type: 'command', command: new Uint8Array([index]) };
}

function diskWith(term: number, votedFor: string | null, entries: readonly LogEntry[]): MemoryDisk {
  const disk = new MemoryDisk();
  disk.hardState = { currentTerm: term, votedFor };
  disk.entries = [...entries];
  return disk;
}

const VOTE: RequestVoteRequest = {
  type: 'RequestVoteRequest',
  term: 3,
  candidateId: 'c',
  lastLogIndex: 0,
  lastLogTerm: 0,
  transfer: false,
};

const APPEND: AppendEntriesRequest = {
  type: 'AppendEntriesRequest',
  term: 3,
  leaderId: 'l',
  prevLogIndex: 1,
  prevLogTerm: 1,
  entries: [entry(2, 3), entry(3, 3)],
  leaderCommit: 1,
};

const ACK = {
  type: 'AppendEntriesResponse',
  term: 3,
  success: true,
  conflictIndex: null,
  conflictTerm: null,
  lastLogIndex: 3,
} as const;

describe('simulator: durability faults and checks', function () {
  this.timeout(300_000);

  for (const seed of [31, 34]) {
    it(`SEED=${seed}: crashes after answers or mid-write and stale messages pass every check`, async () => {
      const faults: string[] = [];
      const summary = await runSimulation({
        seed,
        nodes: 3 + 2 * (seed % 2),
        durationMs: 8_000,
        clients: 3,
        faults: parseFaults('partition,loss,reorder,crash,stale,unsynced,ackcrash'),
        membership: true,
        raft: { snapshotThresholdBytes: 2048 },
        onFault: (_at, description) => faults.push(description),
      });
      assert.deepEqual(summary.violations, [], `SEED=${seed}`);
      assert.equal(summary.linearizable, true);
      assert.ok(summary.staleMessages > 0, 'messages were held for long');
      assert.ok(summary.unsyncedKept > 0, 'crashes kept unsynced writes');
      assert.ok(
        faults.some((f) => f.includes('crashed right after')),
        'nodes crashed right after answering',
      );
    });
  }

  it('fails an answer whose term, vote or entries are not on the disk yet (Property 9)', () => {
    const violations: string[] = [];
    const checker = new DurabilityChecker((m) => violations.push(m));
    const granted = { type: 'RequestVoteResponse', term: 3, voteGranted: true } as const;
    checker.onResponse('n', diskWith(3, 'c', []), VOTE, granted);
    checker.onResponse('n', diskWith(3, 'c', [entry(1, 1), entry(2, 3), entry(3, 3)]), APPEND, ACK);
    assert.deepEqual(violations, []);
    checker.onResponse('n', diskWith(2, null, []), VOTE, granted);
    assert.match(violations[0] ?? '', /answered a RequestVoteRequest in term 3 with term 2 on its disk/);
    checker.onResponse('n', diskWith(3, null, []), VOTE, granted);
    assert.match(violations[1] ?? '', /granted its vote of term 3 to c with null as the vote on its disk/);
    checker.onResponse('n', diskWith(3, 'l', [entry(1, 1), entry(2, 3)]), APPEND, ACK);
    assert.match(violations[2] ?? '', /acknowledged entries 2\.\.3 of term 3 but its disk holds nothing at 3/);
    checker.onResponse('n', diskWith(3, 'l', [entry(1, 2), entry(2, 3), entry(3, 3)]), APPEND, ACK);
    assert.match(violations[3] ?? '', /holds term 2 at 1 \(wanted term 1\)/);
  });

  it('fails a disk whose term goes back or whose vote changes within a term (Properties 10, 17)', () => {
    const violations: string[] = [];
    const checker = new DurabilityChecker((m) => violations.push(m));
    checker.checkHardState('n', diskWith(4, 'a', []));
    checker.checkHardState('n', diskWith(4, 'a', []));
    checker.checkHardState('n', diskWith(5, null, []));
    assert.deepEqual(violations, []);
    checker.checkHardState('n', diskWith(5, 'b', []));
    checker.checkHardState('n', diskWith(5, 'c', []));
    assert.match(violations[0] ?? '', /changed its vote of term 5 from b to c/);
    checker.checkHardState('n', diskWith(4, 'c', []));
    assert.match(violations[1] ?? '', /went back from term 5 to 4/);
    checker.forget('n');
    checker.checkHardState('n', diskWith(1, null, []));
    assert.equal(violations.length, 2, 'a wiped node starts over');
  });

  it("fails a node that answers a leader's later term in its older one (Property 22)", () => {
    const violations: string[] = [];
    const checker = new DurabilityChecker((m) => violations.push(m));
    checker.onResponse('n', diskWith(2, null, []), APPEND, { ...ACK, term: 2, success: false });
    assert.match(violations[0] ?? '', /answered a AppendEntriesRequest of term 3 in its older term 2/);
  });

  it("fails a commit durable on too few of a joint configuration's outgoing half, at once (Properties 12, 13)", () => {
    // Old voters a, b, c, d; new ones a, b, c: a and b form a majority of the new half only.
    const joint: ClusterConfiguration = {
      voters: ['a', 'b', 'c'],
      learners: [],
      oldVoters: ['a', 'b', 'c', 'd'],
      members: [],
    };
    const leader = (commit: number, uncommitted: boolean): RaftCore =>
      ({
        getRole: () => 'leader',
        getTerm: () => 2,
        getCommitIndex: () => commit,
        termAt: (index: number) => (index <= 3 ? 2 : null),
        getConfiguration: () => joint,
        hasUncommittedConfiguration: () => uncommitted,
      }) as unknown as RaftCore;
    const node = (id: string, last: number, core: RaftCore | null = null) => ({
      id,
      core,
      disk: diskWith(2, null, [entry(1, 2), entry(2, 2), entry(3, 2)].slice(0, last)),
      incarnation: 1,
    });
    const checker = new SafetyChecker();
    const nodes = (commit: number, uncommitted: boolean) => [
      node('a', 3, leader(commit, uncommitted)),
      node('b', 3),
      node('c', 2),
      node('d', 2),
    ];
    checker.checkCommitted(nodes(2, true));
    assert.deepEqual(checker.violations, []);
    checker.checkCommitted(nodes(3, true));
    assert.match(checker.violations[0] ?? '', /entry 3 is committed but durable only on a,b of a,b,c,d/);
  });

  it('fails two replicas that applied up to one index and hold different states (Properties 5, 14, 19)', () => {
    const violations: string[] = [];
    const checker = new StateChecker((m) => violations.push(m));
    checker.check('a', 7, () => new Uint8Array([1, 2]));
    checker.check('b', 7, () => new Uint8Array([1, 2]));
    checker.check('b', 8, () => new Uint8Array([3]));
    assert.deepEqual(violations, []);
    assert.equal(checker.compared, 1);
    checker.check('c', 7, () => new Uint8Array([1, 3]));
    assert.match(violations[0] ?? '', /c and a applied up to 7 but hold different states/);
  });

  it('fails a role change that is not logged within a second, and excuses a crash (Property 21)', () => {
    const violations: string[] = [];
    const checker = new TransitionLogChecker((m) => violations.push(m));
    const line = { level: 'info', message: 'became candidate', fields: { to: 'candidate', term: 2 } } as const;
    checker.check('n', 1, 'follower', 1, [], 0);
    checker.check('n', 1, 'candidate', 2, [], 10);
    checker.check('n', 1, 'candidate', 2, [line], 20);
    assert.equal(checker.found, 1);
    checker.check('n', 1, 'leader', 2, [line], 30);
    checker.check('n', 2, 'follower', 2, [line], 40);
    checker.check('n', 2, 'candidate', 3, [line], 50);
    checker.check('n', 2, 'candidate', 3, [line], 500);
    assert.deepEqual(violations, [], 'the crashed run is excused, the wait not over');
    checker.check('n', 2, 'candidate', 3, [line], 1_100);
    assert.match(violations[0] ?? '', /n became candidate in term 3 and logged no line of it/);
    // A leader that steps down and hears of a later term in one instant logs the change in its term.
    const down = { level: 'info', message: 'became follower', fields: { to: 'follower', term: 10 } } as const;
    checker.check('m', 1, 'leader', 10, [], 2_000);
    checker.check('m', 1, 'follower', 11, [down], 2_001);
    checker.check('m', 1, 'follower', 11, [down], 3_500);
    assert.equal(violations.length, 1);
  });
});
