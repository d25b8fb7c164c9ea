// Proves the per-peer round-trip estimator (transport/coap/rtt-estimator.ts) follows RFC 6298:
// the first sample sets SRTT = R and RTTVAR = R/2, later ones move them by 1/8 and 1/4, the RTO
// is SRTT + max(G, 4 RTTVAR) within its bounds; an expiry backs the RTO off to twice the
// expired timeout (not twice per expiry), also before any sample; the next sample recomputes
// it; an estimate not refreshed for lifetimeMs is forgotten; and the table forgets the least
// recently measured peer past peersMax.
import { strict as assert } from 'node:assert';
import { RttEstimator } from '../../../transport/coap/rtt-estimator.js';

const estimator = (peersMax = 8): RttEstimator =>
  new RttEstimator({ rtoMinMs: 20, rtoMaxMs: 8_000, peersMax, lifetimeMs: 10_000 });

describe('RttEstimator', () => {
  it('computes SRTT, RTTVAR and the RTO as RFC 6298 §2 gives', () => {
    const rtt = estimator();
    assert.equal(rtt.rtoMs('a', 0), null, 'no RTO before a sample');
    rtt.sample('a', 100, 0);
    assert.deepEqual(rtt.view('a'), { srttMs: 100, rttvarMs: 50, rtoMs: 300 });
    rtt.sample('a', 200, 0);
    // RTTVAR = 3/4 50 + 1/4 |100 - 200| = 62.5; SRTT = 7/8 100 + 1/8 200 = 112.5.
    assert.deepEqual(rtt.view('a'), { srttMs: 112.5, rttvarMs: 62.5, rtoMs: 112.5 + 4 * 62.5 });
    for (let i = 0; i < 200; i += 1) rtt.sample('a', 100, 0);
    const steady = rtt.view('a');
    assert.ok(steady !== null && Math.abs(steady.srttMs - 100) < 0.01, 'SRTT converges on a steady RTT');
    assert.equal(steady.rtoMs, steady.srttMs + 1, 'RTTVAR near zero: the RTO is SRTT + G');
    assert.equal(rtt.rtoMs('b', 0), null, 'peers are kept apart');
  });

  it('keeps the RTO within its bounds', () => {
    const rtt = estimator();
    rtt.sample('fast', 0.2, 0);
    assert.equal(rtt.rtoMs('fast', 0), 20, 'at least rtoMinMs');
    rtt.sample('slow', 5_000, 0);
    assert.equal(rtt.rtoMs('slow', 0), 8_000, 'at most rtoMaxMs');
  });

  it('backs off to twice the expired timeout, once per expiry size, until a sample recomputes it', () => {
    const rtt = estimator();
    rtt.sample('a', 10, 0);
    assert.equal(rtt.rtoMs('a', 0), 30);
    // One loss that hits three outstanding messages: three expiries of the same timeout.
    for (let i = 0; i < 3; i += 1) rtt.backOff('a', 30, 0);
    assert.equal(rtt.rtoMs('a', 0), 60, 'twice the expired timeout, not doubled per expiry');
    rtt.backOff('a', 60, 0);
    assert.equal(rtt.rtoMs('a', 0), 120, 'a second expiry of the backed-off timeout doubles again');
    rtt.backOff('a', 100_000, 0);
    assert.equal(rtt.rtoMs('a', 0), 8_000, 'capped at rtoMaxMs');
    rtt.sample('a', 10, 0);
    assert.ok((rtt.rtoMs('a', 0) ?? 0) < 40, 'the next sample recomputes the RTO from SRTT and RTTVAR');
  });

  it('sets an RTO from an expiry before the first sample, and the first sample replaces it', () => {
    const rtt = estimator();
    rtt.backOff('slow', 150, 0);
    assert.equal(rtt.rtoMs('slow', 0), 300);
    assert.equal(rtt.view('slow'), null, 'no estimate yet');
    rtt.sample('slow', 200, 0);
    assert.deepEqual(rtt.view('slow'), { srttMs: 200, rttvarMs: 100, rtoMs: 600 });
  });

  it('forgets an estimate that no sample or expiry refreshed for lifetimeMs', () => {
    const rtt = estimator();
    rtt.backOff('quiet', 4_000, 0);
    rtt.sample('busy', 5, 0);
    rtt.sample('busy', 5, 9_000);
    assert.equal(rtt.rtoMs('quiet', 10_000), 8_000, 'still there at its lifetime');
    assert.equal(rtt.rtoMs('busy', 18_000), 20, 'a refreshed estimate lasts');
    assert.equal(rtt.rtoMs('quiet', 10_001), null, 'forgotten after it: the configured timeout applies again');
    assert.equal(rtt.size, 1);
  });

  it('forgets the least recently measured peer past peersMax', () => {
    const rtt = estimator(3);
    rtt.sample('a', 10, 0);
    rtt.sample('b', 10, 0);
    rtt.sample('c', 10, 0);
    rtt.sample('a', 10, 0);
    rtt.sample('d', 10, 0);
    assert.equal(rtt.size, 3);
    assert.equal(rtt.rtoMs('b', 0), null, 'b was measured least recently');
    assert.ok(rtt.rtoMs('a', 0) !== null && rtt.rtoMs('c', 0) !== null && rtt.rtoMs('d', 0) !== null);
    rtt.backOff('e', 10, 0);
    assert.equal(rtt.size, 3, 'an expiry of a new peer stays within the bound too');
  });

  it('refuses a negative or non-finite round trip', () => {
    const rtt = estimator();
    assert.throws(() => rtt.sample('a', -1, 0), /finite, non-negative/);
    assert.throws(() => rtt.sample('a', Number.NaN, 0), /finite, non-negative/);
  });
});
