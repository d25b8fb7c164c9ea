// Proves what a leader says of a follower that lost its log (replication.ts, reportLostLog): a
// follower restarted on an empty data folder while it stayed a member answers every append with
// a log that ends below the match it had acknowledged. Raft cannot catch it up (next never goes
// below match + 1), so the leader probes it once per heartbeat round, not again at each
// rejection (which sent it the same append for ever, as fast as it answered, reading the entries
// back from storage each time), and names the follower, its last index and its match in one
// warning, once per leadership and only after the follower made no progress for an election
// timeout; a follower that only lags, or catches up, gets no such warning.
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
});
