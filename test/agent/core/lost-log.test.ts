// Proves what a leader says of a follower that lost its log (replication.ts, reportLostLog): a
// follower restarted on an empty data folder while it stayed a member answers every append with
// a log that ends below the match it had acknowledged. Raft cannot catch it up (next never goes
// below match + 1), so the leader probes it once per heartbeat round, not again at each
// rejection (which sent it the same append for ever, as fast as it answered, reading the entries
// back from storage each time), and names the follower, its last index and its match in one
// warning, once per leadership and only after the follower made no progress for an election
// timeout; a follower that only lags, or catches up, gets no such warning.
// And what the wiped follower itself does when the leader that saw its acknowledgements is gone:
// holding no log, it votes for no candidate whose log holds entries (it would elect a leader
// without an entry it had acknowledged as committed), says so once, and votes again once a
// leader has sent it entries; a cluster's first election, every log empty, is unaffected.
import { strict as assert } from 'node:assert';
import { CoreCluster, TEST_OPTIONS, bytes } from './core-cluster.js';
import { RaftCore } from '../../../agent/core/raft.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { SeededPrng } from '../../../contracts/prng.js';
import type { CoreEvent } from '../../../agent/core/ready.js';
import type { NodeId } from '../../../contracts/log.js';

const IDS = ['a', 'b', 'c'];

function warnings(cluster: CoreCluster, id: NodeId): string[] {
  return (cluster.readies.get(id) ?? [])
    .flatMap((ready) => ready.events)
    .flatMap((event: CoreEvent) => (event.kind === 'warning' ? [event.message] : []));
}

function propose(cluster: CoreCluster, leader: NodeId, count: number): void {
  for (let i = 0; i < count; i += 1) {
    assert.ok(cluster.core(leader).propose(bytes(`command ${i}`)).ok);
    cluster.stabilize();
  }
}

/** `id` starts again on an empty data folder: term 0, no vote, no log, no snapshot. */
function wipe(cluster: CoreCluster, id: NodeId): void {
  const core = new RaftCore(
    { prng: new SeededPrng(99) },
    { ...TEST_OPTIONS, id },
    { hardState: { currentTerm: 0, votedFor: null }, snapshot: null, entries: [], bootstrap: simpleConfiguration(IDS) },
  );
  cluster.cores.set(id, core);
}

/** The appends the leader sent `to` in Readies from `from` on. */
function appendsTo(cluster: CoreCluster, leader: NodeId, to: NodeId, from: number): number {
  return (cluster.readies.get(leader) ?? [])
    .slice(from)
    .flatMap((ready) => ready.messages)
    .filter((m) => m.kind === 'request' && m.to === to && m.request.type === 'AppendEntriesRequest').length;
}

function setup(): { cluster: CoreCluster; leader: NodeId; follower: NodeId } {
  const cluster = new CoreCluster(IDS);
  const leader = cluster.electLeader();
  const follower = IDS.find((id) => id !== leader) ?? 'c';
  propose(cluster, leader, 5);
  cluster.tick(2);
  return { cluster, leader, follower };
}

describe('a follower that lost its log', () => {
  it('is named once by the leader, with its last index and the match it acknowledged', () => {
    const { cluster, leader, follower } = setup();
    const match =
      cluster
        .core(leader)
        .getProgress()
        .find((p) => p.id === follower)?.match ?? 0;
    assert.ok(match >= 5, `the follower acknowledged ${match}`);
    wipe(cluster, follower);
    const mark = cluster.readies.get(leader)?.length ?? 0;
    assert.ok(cluster.core(leader).propose(bytes('after the wipe')).ok);
    cluster.stabilize(1000);
    assert.ok(appendsTo(cluster, leader, follower, mark) <= 2, 'a rejection at match sends nothing more at once');
    for (let round = 0; round < 6; round += 1) {
      propose(cluster, leader, 2);
      cluster.tick(TEST_OPTIONS.electionTimeoutMinTicks);
      cluster.stabilize();
    }
    assert.equal(cluster.core(leader).getRole(), 'leader', 'the leader keeps leading with the third node');
    const said = warnings(cluster, leader);
    assert.equal(said.length, 1, `one warning: ${JSON.stringify(said)}`);
    assert.match(
      said[0] ?? '',
      new RegExp(`^${follower} answers that its log ends at 0, below the ${match} it acknowledged`),
    );
    assert.match(said[0] ?? '', /wiped or replaced data folder/);
  });

  it('is not reported for a follower that only lags and then catches up', () => {
    const { cluster, leader, follower } = setup();
    cluster.drop = (from, to) => to === follower || from === follower;
    propose(cluster, leader, 20);
    cluster.tick(TEST_OPTIONS.electionTimeoutMinTicks * 3);
    cluster.stabilize();
    cluster.drop = () => false;
    cluster.tick(TEST_OPTIONS.electionTimeoutMinTicks);
    cluster.stabilize();
    const progress = cluster
      .core(leader)
      .getProgress()
      .find((p) => p.id === follower);
    assert.equal(progress?.match, cluster.core(leader).getLastIndex(), 'it caught up');
    assert.deepEqual(warnings(cluster, leader), []);
  });

  it('refuses its vote to a candidate that lacks what it had acknowledged, when a new leader must be elected', () => {
    const cluster = new CoreCluster(IDS);
    const leader = cluster.electLeader();
    const [lagging, wiped] = IDS.filter((id) => id !== leader) as [NodeId, NodeId];
    propose(cluster, leader, 3);
    // `lagging` misses five entries, which the leader commits with `wiped`.
    cluster.drop = (from, to) => from === lagging || to === lagging;
    propose(cluster, leader, 5);
    const committed = cluster.core(leader).getCommitIndex();
    assert.ok(committed > cluster.core(lagging).getLastIndex(), 'lagging lacks committed entries');
    // The leader goes away; `wiped` restarts on an empty folder; `lagging` is back.
    wipe(cluster, wiped);
    cluster.drop = (from, to) => from === leader || to === leader;
    cluster.tick(TEST_OPTIONS.electionTimeoutMaxTicks * 10);
    assert.notEqual(cluster.core(leader).getRole(), 'leader', 'the old leader, cut off, stepped down');
    assert.deepEqual(
      [lagging, wiped].filter((id) => cluster.core(id).getRole() === 'leader'),
      [],
      'no leader without the committed entries',
    );
    const said = warnings(cluster, wiped);
    assert.equal(said.length, 1, JSON.stringify(said));
    assert.match(
      said[0] ?? '',
      new RegExp(`^refused to vote for ${lagging}, whose log runs to \\d+: this node holds no log`),
    );
    // The old leader comes back: elected anew (the wiped node refuses it too, the lagging one votes
    // for it), it catches the wiped node up as any new leader does.
    cluster.drop = () => false;
    cluster.tick(TEST_OPTIONS.electionTimeoutMaxTicks * 10);
    assert.equal(cluster.leaders().length, 1);
    assert.equal(cluster.core(wiped).getLastIndex(), cluster.core(cluster.leaders()[0]!).getLastIndex());
    for (const id of IDS) assert.ok(cluster.core(id).getCommitIndex() >= committed, `${id} keeps the commits`);
  });

  it("leaves a cluster's first election, every log empty, as it was", () => {
    const cluster = new CoreCluster(IDS);
    cluster.electLeader();
    for (const id of IDS) assert.deepEqual(warnings(cluster, id), []);
  });
});
