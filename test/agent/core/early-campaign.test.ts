// Proves CoreOptions.earlyFirstCampaign (agent/core/state.ts): in a brand-new cluster (no term,
// no vote, no log) the voter with the lowest id campaigns after one heartbeat interval and wins,
// so a fresh cluster has a leader well before the shortest randomized election timeout, and it
// retries as often while its peers are still starting; the other voters keep their randomized
// timeouts; a node that starts with a term or a log keeps its randomized timeout too; and
// without the option nobody campaigns before the shortest timeout.
import { strict as assert } from 'node:assert';
import { CoreCluster } from './core-cluster.js';

const HEARTBEAT_TICKS = 3;
/** electionTimeoutMinTicks of core-cluster.ts's TEST_OPTIONS. */
const ELECTION_MIN_TICKS = 10;
const early = { heartbeatTicks: HEARTBEAT_TICKS, earlyFirstCampaign: true };

describe('early first campaign of a fresh cluster', () => {
  it('elects the lowest-id voter after one heartbeat interval', () => {
    const cluster = new CoreCluster(['c', 'a', 'b'], 4, early);
    cluster.tick(HEARTBEAT_TICKS - 1);
    assert.deepEqual(cluster.leaders(), []);
    cluster.tick(1);
    assert.deepEqual(cluster.leaders(), ['a']);
    assert.equal(cluster.core('a').getTerm(), 1);
  });

  it('retries every heartbeat interval while its peers are not up yet', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 4, early);
    // b and c are still starting: nothing reaches them for two heartbeat intervals.
    cluster.drop = () => true;
    cluster.tick(2 * HEARTBEAT_TICKS);
    assert.equal(cluster.core('a').getRole(), 'precandidate');
    assert.equal(cluster.core('a').getTerm(), 0);
    cluster.drop = () => false;
    cluster.tick(HEARTBEAT_TICKS);
    assert.deepEqual(cluster.leaders(), ['a'], 'elected at its next retry, before the shortest election timeout');
    assert.ok(3 * HEARTBEAT_TICKS < ELECTION_MIN_TICKS);
  });

  it('leaves the other voters their randomized timeouts', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 4, early);
    // a is down: b and c wait at least the shortest election timeout.
    cluster.drop = (from, to) => from === 'a' || to === 'a';
    cluster.tick(ELECTION_MIN_TICKS - 1, ['b', 'c']);
    for (const id of ['b', 'c']) assert.equal(cluster.core(id).getRole(), 'follower');
    cluster.tick(2 * ELECTION_MIN_TICKS, ['b', 'c']);
    assert.equal(cluster.leaders().length, 1);
  });

  it('does not hurry a node that starts with a term or a log', () => {
    const withTerm = new CoreCluster(['a', 'b', 'c'], 4, early, new Map([['a', { term: 1, terms: [] }]]));
    const withLog = new CoreCluster(['a', 'b', 'c'], 4, early, new Map([['a', { term: 1, terms: [1] }]]));
    for (const cluster of [withTerm, withLog]) {
      cluster.tick(ELECTION_MIN_TICKS - 1);
      assert.deepEqual(cluster.leaders(), []);
      assert.equal(cluster.core('a').getRole(), 'follower');
    }
  });

  it('is off by default: nobody campaigns before the shortest election timeout', () => {
    const cluster = new CoreCluster(['a', 'b', 'c'], 4, { heartbeatTicks: HEARTBEAT_TICKS });
    cluster.tick(ELECTION_MIN_TICKS - 1);
    assert.deepEqual(cluster.leaders(), []);
    for (const id of ['a', 'b', 'c']) assert.equal(cluster.core(id).getRole(), 'follower');
  });
});
