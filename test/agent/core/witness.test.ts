// Proves the witness member in the core (agent/core/witness.ts and its callers): a witness keeps
// each entry's term and index and configuration entries whole but no command payload, neither
// as the leader sends it nor as it stores it; it never campaigns, even when it hears from no
// leader at all; it votes and counts toward commitment and toward ReadIndex confirmation like a
// voter; it votes only for a candidate whose log is at least as up to date, so a commit that
// only the leader and the witness hold is never lost to the other voter (the cluster waits
// instead); leadership is never handed to it; and a snapshot reaches it without data. Each test
// runs real cores on the CoreCluster harness (no mocks) and inspects what they hand out.
import { strict as assert } from 'node:assert';
import {
  configurationProblems,
  decodeConfiguration,
  encodeConfiguration,
  planChange,
  sameConfiguration,
  simpleConfiguration,
  transitionProblem,
} from '../../../agent/core/configuration.js';
import type { SnapshotChunkRequest } from '../../../agent/core/ready.js';
import { CoreCluster, bytes } from './core-cluster.js';

const IDS = ['a', 'b', 'w'];

function witnessCluster(seed: number): CoreCluster {
  return new CoreCluster(IDS, seed, {}, new Map(), ['w']);
}

/** Elects a leader among a and b (the witness never leads) and lets it commit its no-op. */
function start(seed: number): { cluster: CoreCluster; leader: string; other: string } {
  const cluster = witnessCluster(seed);
  const leader = cluster.electLeader();
  assert.notEqual(leader, 'w', 'the witness never leads');
  cluster.tick(3);
  return { cluster, leader, other: leader === 'a' ? 'b' : 'a' };
}

describe('witness member (core)', () => {
  it('stores terms, indexes and configurations but no command payload, and applies no value', () => {
    const { cluster, leader, other } = start(1);
    for (let i = 0; i < 20; i += 1) assert.ok(cluster.core(leader).propose(bytes(`secret-value-${i}`)).ok);
    cluster.tick(3);
    const last = cluster.core(leader).getLastIndex();
    const full = cluster.core(other).entriesBetween(1, last);
    const stripped = cluster.core('w').entriesBetween(1, last);
    assert.equal(stripped.length, full.length);
    for (const [i, entry] of stripped.entries()) {
      assert.equal(entry.term, full[i]?.term);
      assert.equal(entry.index, full[i]?.index);
      assert.equal(entry.type, full[i]?.type);
      if (entry.type === 'command') assert.equal(entry.command.byteLength, 0, `entry ${entry.index} has no payload`);
    }
    assert.ok(
      full.some((e) => e.type === 'command' && e.command.byteLength > 0),
      'the voters hold the values',
    );
    assert.equal(cluster.core('w').getCommitIndex(), last, 'the witness follows the commit index');
    const sent = (cluster.readies.get(leader) ?? []).flatMap((r) => r.messages);
    for (const m of sent) {
      if (m.kind !== 'request' || m.to !== 'w' || m.request.type !== 'AppendEntriesRequest') continue;
      for (const e of m.request.entries) if (e.type === 'command') assert.equal(e.command.byteLength, 0);
    }
    const applied = cluster.applied.get('w') ?? [];
    assert.ok(applied.every((e) => e.type !== 'command' || e.command.byteLength === 0));
  });

  it('keeps configuration entries whole on the witness', () => {
    const { cluster, leader } = start(2);
    const current = cluster.core(leader).getConfiguration();
    const plan = planChange(current, { kind: 'add-learner', id: 'l', address: '127.0.0.1:9' });
    assert.ok(plan.ok);
    cluster.drop = (from, to) => from === 'l' || to === 'l';
    const proposed = cluster.core(leader).proposeConfiguration(plan.ok ? plan.next : current);
    assert.ok(proposed.ok);
    cluster.tick(3);
    const index = proposed.ok ? proposed.index : 0;
    const [entry] = cluster.core('w').entriesBetween(index, index);
    assert.equal(entry?.type, 'config');
    const decoded = decodeConfiguration(entry?.command ?? new Uint8Array());
    assert.ok(decoded !== null && plan.ok && sameConfiguration(decoded, plan.next));
    assert.ok(plan.ok && sameConfiguration(cluster.core('w').getConfiguration(), plan.next));
  });

  it('never campaigns, even when no leader is heard from for many election timeouts', () => {
    for (let seed = 1; seed <= 20; seed += 1) {
      const cluster = witnessCluster(seed);
      // The voters cannot reach anyone: only the witness's own timer runs.
      cluster.drop = (from, to) => from !== 'w' || to !== 'w';
      cluster.tick(300, ['w']);
      const roles = (cluster.readies.get('w') ?? []).flatMap((r) => (r.softState === null ? [] : [r.softState.role]));
      assert.deepEqual(
        [...new Set(roles)].filter((r) => r !== 'follower'),
        [],
        `seed ${seed}`,
      );
      assert.equal(cluster.core('w').getTerm(), 0, `seed ${seed}: the witness never raised its term`);
    }
  });

  it('commits with the leader and the witness while the other voter is down', () => {
    const { cluster, leader, other } = start(3);
    cluster.drop = (from, to) => from === other || to === other;
    const proposed = cluster.core(leader).propose(bytes('kept'));
    assert.ok(proposed.ok);
    cluster.tick(3);
    assert.equal(cluster.core(leader).getCommitIndex(), proposed.ok ? proposed.index : -1);
  });

  it('lets an up-to-date voter win with the witness vote when the leader is lost', () => {
    const { cluster, leader, other } = start(4);
    assert.ok(cluster.core(leader).propose(bytes('x')).ok);
    cluster.tick(3);
    cluster.drop = (from, to) => from === leader || to === leader;
    const before = cluster.core(leader).getCommitIndex();
    for (let i = 0; i < 200 && cluster.core(other).getRole() !== 'leader'; i += 1) cluster.tick(1, [other, 'w']);
    assert.equal(cluster.core(other).getRole(), 'leader');
    assert.ok(cluster.core(other).getCommitIndex() >= before, 'the new leader holds every committed entry');
  });

  it('refuses its vote to a voter that is behind, so a commit held by leader and witness is not lost', () => {
    const { cluster, leader, other } = start(5);
    cluster.drop = (from, to) => from === other || to === other;
    const proposed = cluster.core(leader).propose(bytes('only-on-the-leader'));
    assert.ok(proposed.ok);
    cluster.tick(3);
    assert.equal(cluster.core(leader).getCommitIndex(), proposed.ok ? proposed.index : -1, 'committed by {leader, w}');
    // The leader's disk is lost: only the voter that is behind and the witness remain.
    cluster.drop = (from, to) => from === leader || to === leader;
    cluster.tick(400, [other, 'w']);
    assert.notEqual(cluster.core(other).getRole(), 'leader', 'the voter that is behind never wins the witness vote');
    assert.ok(cluster.core(other).getCommitIndex() < (proposed.ok ? proposed.index : 0));
  });

  it('counts the witness toward ReadIndex confirmation', () => {
    const { cluster, leader, other } = start(6);
    cluster.drop = (from, to) => from === other || to === other;
    assert.ok(cluster.core(leader).readIndex(7).ok);
    cluster.tick(2);
    const reads = (cluster.readies.get(leader) ?? []).flatMap((r) => r.readStates);
    assert.deepEqual(
      reads.map((r) => r.token),
      [7],
    );
    assert.notEqual(reads[0]?.index, null, 'confirmed by the leader and the witness');
  });

  it('sends the witness only entries the leader has synced (the voter gets them at once)', () => {
    const { cluster, leader, other } = start(9);
    const core = cluster.core(leader);
    const proposed = core.propose(bytes('not yet durable'));
    assert.ok(proposed.ok);
    const index = proposed.ok ? proposed.index : 0;
    const sentTo = (ready: ReturnType<typeof core.takeReady>, to: string): number[] =>
      ready.messages.flatMap((m) =>
        m.kind === 'request' && m.to === to && m.request.type === 'AppendEntriesRequest'
          ? m.request.entries.map((e) => e.index)
          : [],
      );
    const first = core.takeReady();
    assert.deepEqual(
      first.entries.map((e) => e.index),
      [index],
      'the entry is being persisted',
    );
    assert.ok(sentTo(first, other).includes(index), 'a full member gets it while the leader persists it');
    assert.ok(!sentTo(first, 'w').includes(index), 'the witness does not');
    core.advance(first);
    const second = core.takeReady();
    assert.ok(sentTo(second, 'w').includes(index), 'the witness gets it once the leader synced it');
  });

  it('sends the witness nothing no full member that can campaign holds, when the leader removes itself', () => {
    const cluster = new CoreCluster(['a', 'b', 'c', 'w'], 10, {}, new Map(), ['w']);
    const leader = cluster.electLeader();
    cluster.tick(3);
    const core = cluster.core(leader);
    const plan = planChange(core.getConfiguration(), { kind: 'remove', id: leader });
    assert.ok(plan.ok);
    const joint = core.proposeConfiguration(plan.ok ? plan.next : core.getConfiguration());
    assert.ok(joint.ok);
    const jointIndex = joint.ok ? joint.index : 0;
    // The full members never get what follows the joint configuration: C_new cannot commit, so
    // the leader goes on leading (and taking proposals) while the witness still answers.
    cluster.dropRequest = (from, to, request) =>
      from === leader &&
      to !== 'w' &&
      request.type === 'AppendEntriesRequest' &&
      request.entries.some((e) => e.index > jointIndex);
    cluster.tick(3);
    const configIndex = core.getLastIndex();
    assert.equal(core.getConfiguration().oldVoters, null, 'C_new is in force');
    assert.ok(!core.getConfiguration().voters.includes(leader));
    const mark = cluster.readies.get(leader)?.length ?? 0;
    const proposed = core.propose(bytes('after my removal'));
    assert.ok(proposed.ok);
    cluster.tick(3);
    const sent = (cluster.readies.get(leader) ?? []).slice(mark).flatMap((r) => r.messages);
    const indexesTo = (to: string): number[] =>
      sent.flatMap((m) =>
        m.kind === 'request' && m.to === to && m.request.type === 'AppendEntriesRequest'
          ? m.request.entries.map((e) => e.index)
          : [],
      );
    assert.equal(core.getLastIndex(), configIndex + 1, 'the leader took the proposal');
    // The leader no longer campaigns (C_new leaves it out) and no full member holds C_new: had the
    // witness taken C_new, it would refuse b and c its vote for ever once the leader is gone.
    assert.equal(cluster.core('w').getLastIndex(), jointIndex, 'the witness holds what b and c hold');
    assert.ok(
      indexesTo('w').every((i) => i <= jointIndex),
      'the witness gets nothing the full members lack',
    );
    // Once a full member of C_new holds it, the witness gets it too.
    cluster.dropRequest = () => false;
    cluster.tick(30);
    assert.ok(cluster.core('w').getLastIndex() >= configIndex);
  });

  it('lets a leader that removed itself campaign again until its removal commits, when the witness is ahead', () => {
    // Property: a leader that leaves the configuration and steps down before C_new commits may hold
    // an entry that the witness holds too but the only other full voter lacks (sent while the
    // leader was still a full voter of the joint configuration). The witness refuses that voter;
    // the old leader must be able to win once more, commit C_new, and step down.
    const { cluster, leader, other } = start(12);
    const core = cluster.core(leader);
    const plan = planChange(core.getConfiguration(), { kind: 'remove', id: leader });
    assert.ok(plan.ok);
    // The joint configuration reaches the other voter; the witness's copy waits.
    cluster.hold = (from, to) => from === leader && to === 'w';
    const joint = core.proposeConfiguration(plan.ok ? plan.next : core.getConfiguration());
    assert.ok(joint.ok);
    const jointIndex = joint.ok ? joint.index : 0;
    cluster.stabilize();
    // An entry after it goes to the witness only (the leader is still a full voter of C_old).
    cluster.dropRequest = (from, to, request) =>
      from === leader &&
      to === other &&
      request.type === 'AppendEntriesRequest' &&
      request.entries.some((e) => e.index > jointIndex);
    assert.ok(core.propose(bytes('held by the leader and the witness')).ok);
    cluster.stabilize();
    cluster.hold = () => false;
    cluster.release();
    cluster.stabilize();
    assert.equal(cluster.core('w').getLastIndex(), jointIndex + 1, 'the witness holds the entry');
    assert.equal(cluster.core(other).getLastIndex(), jointIndex, 'the other voter does not');
    assert.ok(!core.getConfiguration().voters.includes(leader), 'C_new, without the leader, is in force');
    // The other voter goes down: the leader loses C_new's quorum and steps down (check-quorum).
    cluster.drop = (from, to) => from === other || to === other;
    cluster.tick(40);
    assert.notEqual(core.getRole(), 'leader');
    cluster.drop = () => false;
    cluster.dropRequest = () => false;
    cluster.tick(300);
    assert.deepEqual(cluster.leaders(), [other], 'the other voter leads C_new');
    const config = cluster.core(other).getConfiguration();
    assert.ok(config.oldVoters === null && !config.voters.includes(leader));
    assert.ok(cluster.core(other).getCommitIndex() >= jointIndex + 2, 'C_new is committed');
    assert.equal(cluster.core(other).getLastIndex(), cluster.core('w').getLastIndex());
  });

  it('lets the lowest-id full voter, not a witness, campaign first in a brand-new cluster', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 11, { earlyFirstCampaign: true }, new Map(), ['a']);
    // One heartbeat interval plus the exchange: b goes first; a (the witness) never campaigns.
    cluster.tick(3);
    assert.deepEqual(cluster.leaders(), ['b']);
  });

  it('never hands leadership to the witness', () => {
    const { cluster, leader } = start(7);
    const result = cluster.core(leader).transferLeadership('w');
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : (result.message ?? ''), /witness/);
  });

  it('sends the witness a snapshot without data', () => {
    const { cluster, leader, other } = start(8);
    cluster.drop = (from, to) => from === 'w' || to === 'w';
    for (let i = 0; i < 10; i += 1) assert.ok(cluster.core(leader).propose(bytes(`v${i}`)).ok);
    cluster.tick(3);
    const core = cluster.core(leader);
    const index = core.getAppliedIndex();
    const snapshot = {
      lastIncludedIndex: index,
      lastIncludedTerm: core.termAt(index) ?? 0,
      configuration: core.getConfiguration(),
      data: bytes('the whole state machine with every value'),
    };
    cluster.compact(leader, snapshot, index + 1);
    cluster.drop = () => false;
    cluster.tick(30);
    const chunks = (cluster.readies.get(leader) ?? [])
      .flatMap((r) => r.messages)
      .flatMap((m) => (m.kind === 'request' && m.request.type === 'InstallSnapshotRequest' ? [m] : []));
    assert.ok(chunks.length > 0, 'the witness needed the snapshot');
    for (const m of chunks) {
      const request = m.request as SnapshotChunkRequest;
      assert.equal(m.to, 'w');
      assert.equal(request.dataBytes, 0);
      assert.equal(request.totalBytes, 0);
      assert.deepEqual(request.configuration, core.getConfiguration());
    }
    const restored = (cluster.readies.get('w') ?? []).flatMap((r) => (r.snapshot === null ? [] : [r.snapshot]));
    assert.equal(restored.length, 1);
    assert.equal(restored[0]?.dataBytes, 0);
    assert.equal(cluster.core('w').getCommitIndex(), cluster.core(other).getCommitIndex());
  });
});

describe('witness configurations', () => {
  it('encodes witnesses only when there are some, and decodes them back', () => {
    const plain = simpleConfiguration(['a', 'b', 'c']);
    assert.equal(new TextDecoder().decode(encodeConfiguration(plain)).includes('witnesses'), false);
    const withWitness = simpleConfiguration(['a', 'b', 'w'], [], ['w']);
    assert.deepEqual(decodeConfiguration(encodeConfiguration(withWitness)), withWitness);
  });

  it('refuses a configuration whose voters are all witnesses, or a witness that is not a member', () => {
    const bytesOf = (value: unknown): Uint8Array => bytes(JSON.stringify(value));
    const base = { voters: ['w'], learners: [], oldVoters: null, members: [{ id: 'w', address: '' }] };
    assert.equal(decodeConfiguration(bytesOf({ ...base, witnesses: ['w'] })), null);
    assert.equal(decodeConfiguration(bytesOf({ ...base, voters: ['a', 'w'], witnesses: ['x'] })), null);
    assert.equal(decodeConfiguration(bytesOf({ ...base, voters: ['a', 'w'], witnesses: [] })), null);
  });

  it('refuses witnesses that make up a quorum of either half, so every quorum holds a full member', () => {
    assert.equal(configurationProblems(simpleConfiguration(['a', 'b', 'w'], [], ['w'])).length, 0);
    assert.equal(configurationProblems(simpleConfiguration(['a', 'w'], [], ['w'])).length, 0);
    assert.equal(configurationProblems(simpleConfiguration(['a', 'b', 'c', 'v', 'w'], [], ['v', 'w'])).length, 0);
    assert.match(
      configurationProblems(simpleConfiguration(['a', 'v', 'w'], [], ['v', 'w'])).join(),
      /witnesses make up a quorum of the voters/,
    );
    const fromTwoPlusOne = planChange(simpleConfiguration(['a', 'b', 'w'], [], ['w']), { kind: 'remove', id: 'b' });
    assert.ok(fromTwoPlusOne.ok, 'a and the witness: every quorum still holds a');
    const joint = {
      ...simpleConfiguration(['a', 'w'], [], ['v', 'w']),
      learners: ['v'],
      members: [],
    };
    const promoted = planChange({ ...joint, members: [] }, { kind: 'promote', id: 'v' });
    assert.equal(promoted.ok, false, 'promoting a second witness next to one full member is refused');
  });

  it('adds a witness as a witness learner, promotes it as a voter, and never converts a member in place', () => {
    const current = simpleConfiguration(['a', 'b']);
    const added = planChange(current, { kind: 'add-learner', id: 'w', address: '', witness: true });
    assert.ok(added.ok);
    if (!added.ok) return;
    assert.deepEqual(added.next.witnesses, ['w']);
    const promoted = planChange(added.next, { kind: 'promote', id: 'w' });
    assert.ok(promoted.ok);
    if (!promoted.ok) return;
    assert.deepEqual(promoted.next.witnesses, ['w']);
    assert.deepEqual(promoted.next.oldVoters, ['a', 'b']);
    const asVoter = { ...added.next, witnesses: undefined };
    const { witnesses: _dropped, ...withoutWitnesses } = asVoter;
    void _dropped;
    assert.match(transitionProblem(added.next, withoutWitnesses) ?? '', /witness and full member/);
    const removed = planChange(added.next, { kind: 'remove', id: 'w' });
    assert.ok(removed.ok);
    assert.equal(removed.ok ? removed.next.witnesses : 'x', undefined);
  });
});
