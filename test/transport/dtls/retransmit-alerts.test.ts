// Proves the retransmission schedule of RFC 6347 §4.2.4 on a virtual clock (doubling from
// retransmitInitialMs, capped at retransmitMaxMs, giving up after retransmitCountMax, jitter
// within 1/8, final flights only repeated on demand) and the alert decisions: unauthenticated
// alerts on established sessions, close_notify, and which fatal alerts count as a refused key.
import { strict as assert } from 'node:assert';
import { judgeAlert } from '../../../transport/dtls/alerts.js';
import { AlertDescription, AlertLevel } from '../../../transport/dtls/constants.js';
import { FlightRetransmitter } from '../../../transport/dtls/flight-retransmitter.js';
import { DEFAULT_SESSION_OPTIONS } from '../../../transport/dtls/options.js';
import { StatsCounters } from '../../../transport/dtls/stats.js';
import { ManualTimers } from './fake-timers.js';

function retransmitter(jitterByte: number) {
  const timers = new ManualTimers();
  const sentAt: number[] = [];
  const gaveUp: number[] = [];
  const stats = new StatsCounters();
  const r = new FlightRetransmitter({
    options: { ...DEFAULT_SESSION_OPTIONS, retransmitInitialMs: 100, retransmitMaxMs: 800, retransmitCountMax: 5 },
    timers,
    stats,
    randomBytes: (n) => new Uint8Array(n).fill(jitterByte),
    transmit: () => sentAt.push(timers.nowMs()),
    giveUp: (count) => gaveUp.push(count),
    contain: (action) => action(),
  });
  return { r, timers, sentAt, gaveUp, stats };
}

describe('flight retransmission', () => {
  it('doubles the timeout up to the cap and gives up after the last retransmission', () => {
    const { r, timers, sentAt, gaveUp, stats } = retransmitter(0);
    r.send([{ kind: 'changeCipherSpec' }], true);
    timers.advance(10_000);
    assert.deepEqual(sentAt, [0, 100, 300, 700, 1500, 2300]);
    assert.deepEqual(gaveUp, [5]);
    assert.equal(stats.retransmissions, 5);
    assert.equal(timers.pendingCount(), 0);
  });

  it('adds at most 1/8 of jitter', () => {
    const { r, timers, sentAt } = retransmitter(255);
    r.send([{ kind: 'changeCipherSpec' }], true);
    timers.advance(100 + 12);
    assert.equal(sentAt.length, 2);
    assert.ok((sentAt[1] ?? 0) > 100 && (sentAt[1] ?? 0) <= 112.5);
  });

  it('restarts the schedule for a new flight and repeats a final flight only on demand', () => {
    const { r, timers, sentAt } = retransmitter(0);
    r.send([{ kind: 'changeCipherSpec' }], true);
    timers.advance(150);
    r.send([{ kind: 'changeCipherSpec' }], false);
    timers.advance(10_000);
    assert.deepEqual(sentAt, [0, 100, 150]);
    assert.ok(r.repeat());
    r.clear();
    assert.ok(!r.repeat());
  });
});

describe('alert decisions', () => {
  const ctx = (role: 'client' | 'server', established: boolean, epoch: number, serverSilentSoFar = false) => ({
    role,
    established,
    epoch,
    serverSilentSoFar,
  });

  it('lets only a client act on an unauthenticated fatal alert of an established session', () => {
    assert.deepEqual(judgeAlert(ctx('server', true, 0), AlertLevel.fatal, AlertDescription.unexpectedMessage), {
      kind: 'ignore',
    });
    assert.deepEqual(judgeAlert(ctx('client', true, 0), AlertLevel.fatal, AlertDescription.unexpectedMessage), {
      kind: 'fatal',
      reason: 'peer-alert',
    });
    assert.deepEqual(judgeAlert(ctx('client', true, 0), AlertLevel.warning, AlertDescription.closeNotify), {
      kind: 'ignore',
    });
  });

  it('ignores a stale unknown-session alert before the server answered a new handshake', () => {
    assert.deepEqual(judgeAlert(ctx('client', false, 0, true), AlertLevel.fatal, AlertDescription.unexpectedMessage), {
      kind: 'ignore',
    });
    assert.deepEqual(judgeAlert(ctx('client', false, 0, false), AlertLevel.fatal, AlertDescription.unexpectedMessage), {
      kind: 'fatal',
      reason: 'protocol',
    });
  });

  it('closes on close_notify and classifies handshake failures', () => {
    assert.deepEqual(judgeAlert(ctx('server', true, 1), AlertLevel.warning, AlertDescription.closeNotify), {
      kind: 'close',
      reason: 'peer-closed',
    });
    assert.deepEqual(judgeAlert(ctx('server', true, 1), AlertLevel.warning, AlertDescription.noRenegotiation), {
      kind: 'warning',
    });
    for (const d of [
      AlertDescription.badRecordMac,
      AlertDescription.decryptError,
      AlertDescription.unknownPskIdentity,
    ]) {
      assert.deepEqual(judgeAlert(ctx('client', false, 0), AlertLevel.fatal, d), { kind: 'fatal', reason: 'auth' });
    }
    assert.deepEqual(judgeAlert(ctx('client', false, 0), AlertLevel.fatal, AlertDescription.handshakeFailure), {
      kind: 'fatal',
      reason: 'protocol',
    });
    assert.deepEqual(judgeAlert(ctx('server', true, 1), AlertLevel.fatal, AlertDescription.internalError), {
      kind: 'fatal',
      reason: 'peer-alert',
    });
  });
});
