// Proves how the leader thins its periodic heartbeats while appends flow (replication.ts,
// heartbeatCovered): a follower in replicate state that was sent entries in the last half
// heartbeat interval gets no heartbeat that round, since the append already reset its election
// timer and carried the commit index. Properties, over seeded bursty load: no follower ever
// goes longer than 1.5 heartbeat intervals without a message from the leader, so no election
// starts and the leader keeps its term; heartbeats come back as soon as the appends stop; and a
// read still gets a heartbeat round of its own, confirmed by a quorum.
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoreCluster, bytes } from './core-cluster.js';

const HEARTBEAT_TICKS = 4;
// 2 × (4 + 2) <= 12: the gap a left-out heartbeat allows is at most half the election timeout.
const OPTIONS = { heartbeatTicks: HEARTBEAT_TICKS, electionTimeoutMinTicks: 12, electionTimeoutMaxTicks: 24 };

/** The requests the leader sent in Readies from `from` on: [to, has entries]. */
function sentSince(cluster: CoreCluster, leader: string, from: number): { to: string; entries: number }[] {
  const readies = cluster.readies.get(leader) ?? [];
  return readies
    .slice(from)
    .flatMap((ready) =>
      ready.messages.flatMap((m) =>
        m.kind === 'request' && m.request.type === 'AppendEntriesRequest'
          ? [{ to: m.to, entries: m.request.entries.length }]
          : [],
      ),
    );
}

describe('heartbeats while appends flow', () => {
  it('leaves out periodic heartbeats under steady appends and resumes them when the appends stop', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 4, OPTIONS);
    const leader = cluster.electLeader();
    cluster.tick(HEARTBEAT_TICKS * 2);
    const term = cluster.core(leader).getTerm();
    let mark = cluster.readies.get(leader)?.length ?? 0;
    for (let i = 0; i < 40; i += 1) {
      assert.ok(cluster.core(leader).propose(bytes(`w${i}`)).ok);
      cluster.tick(1);
    }
    const busy = sentSince(cluster, leader, mark);
    assert.equal(busy.filter((m) => m.entries === 0).length, 0, 'no heartbeat while every tick carries entries');
    assert.ok(busy.filter((m) => m.entries > 0).length >= 80, 'one append per follower per tick');
    mark = cluster.readies.get(leader)?.length ?? 0;
    cluster.tick(HEARTBEAT_TICKS * 3);
    const idle = sentSince(cluster, leader, mark);
    assert.ok(idle.filter((m) => m.entries === 0).length >= 4, 'heartbeats resume when the appends stop');
    assert.equal(cluster.core(leader).getTerm(), term);
    assert.deepEqual(cluster.leaders(), [leader]);
    for (const id of ['a', 'b', 'c'])
      assert.equal(cluster.core(id).getCommitIndex(), cluster.core(leader).getLastIndex());
  });

  it('keeps every heartbeat when a left-out one would leave a gap over half the election timeout', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 4, { ...OPTIONS, electionTimeoutMinTicks: 11 });
    const leader = cluster.electLeader();
    cluster.tick(HEARTBEAT_TICKS * 2);
    const mark = cluster.readies.get(leader)?.length ?? 0;
    for (let i = 0; i < 16; i += 1) {
      assert.ok(cluster.core(leader).propose(bytes(`w${i}`)).ok);
      cluster.tick(1);
    }
    assert.equal(sentSince(cluster, leader, mark).filter((m) => m.entries === 0).length, 8, 'a round every 4 ticks');
  });

  it('still sends a heartbeat round for a read while appends flow, and the read is confirmed', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 6, OPTIONS);
    const leader = cluster.electLeader();
    cluster.tick(HEARTBEAT_TICKS * 2);
    const readies = cluster.readies.get(leader) ?? [];
    assert.ok(cluster.core(leader).propose(bytes('before')).ok);
    cluster.tick(1);
    const mark = readies.length;
    assert.ok(cluster.core(leader).propose(bytes('with')).ok);
    const commitAtRead = cluster.core(leader).getCommitIndex();
    assert.ok(cluster.core(leader).readIndex(7).ok);
    cluster.stabilize();
    const sent = sentSince(cluster, leader, mark);
    assert.equal(sent.filter((m) => m.entries === 0).length, 2, 'a heartbeat to each follower for the read');
    const states = readies.slice(mark).flatMap((r) => r.readStates);
    assert.deepEqual(states, [{ token: 7, index: commitAtRead }]);
  });

  it('reaches every follower within 1.5 heartbeat intervals under seeded bursty load (200 seeds)', () => {
    const gapMax = HEARTBEAT_TICKS + Math.floor(HEARTBEAT_TICKS / 2);
    for (let seed = 1; seed <= 200; seed += 1) {
      const cluster = new CoreCluster(['a', 'b', 'c'], seed, OPTIONS);
      const leader = cluster.electLeader();
      cluster.tick(HEARTBEAT_TICKS * 2);
      const term = cluster.core(leader).getTerm();
      const load = new SeededPrng(seed);
      const lastHeard = new Map<string, number>([
        ['a', 0],
        ['b', 0],
        ['c', 0],
      ]);
      let mark = cluster.readies.get(leader)?.length ?? 0;
      for (let tick = 1; tick <= 150; tick += 1) {
        // Bursts: a run of ticks with proposals, then a run without.
        if (Math.floor(tick / load.intBetween(1, 8)) % 2 === 0) cluster.core(leader).propose(bytes(`t${tick}`));
        cluster.tick(1);
        for (const m of sentSince(cluster, leader, mark)) lastHeard.set(m.to, tick);
        mark = cluster.readies.get(leader)?.length ?? 0;
        for (const [id, heard] of lastHeard) {
          if (id === leader) continue;
          assert.ok(tick - heard <= gapMax, `seed ${seed}: ${id} heard nothing for ${tick - heard} ticks`);
        }
      }
      assert.equal(cluster.core(leader).getTerm(), term, `seed ${seed}: no election`);
    }
  });
});
