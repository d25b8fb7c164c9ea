// Proves that the handshake watch warns about authentication failures only: growth of the
// DTLS server's handshakesAuthFailed counter gives one warning (and a metric) per period,
// while handshakes that failed for load (evicted or expired half-open ones, counted in
// handshakesFailed alone) give none. A fake endpoint stands in for the DTLS server; sinon's
// fake timers drive the period.
import { strict as assert } from 'node:assert';
import sinon from 'sinon';
import { watchHandshakeFailures } from '../../../agent/membership/handshake-watch.js';
import type { HandshakeCounting } from '../../../agent/membership/handshake-watch.js';
import type { DiagnosticLogger } from '../../../contracts/logger.js';
import type { Metrics } from '../../../contracts/metrics.js';

class FakeServer implements HandshakeCounting {
  handshakesFailed = 0;
  handshakesAuthFailed = 0;
  closed = false;
  stats(): { handshakesFailed: number; handshakesAuthFailed: number } {
    return { handshakesFailed: this.handshakesFailed, handshakesAuthFailed: this.handshakesAuthFailed };
  }
  send(): Promise<void> {
    return Promise.resolve();
  }
  onMessage(): void {}
  localAddress(): { address: string; port: number } {
    return { address: '127.0.0.1', port: 1 };
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

describe('watchHandshakeFailures', () => {
  const sandbox = sinon.createSandbox();
  afterEach(() => sandbox.restore());

  it('warns once per period about failed authentication, and not about load', async () => {
    const clock = sandbox.useFakeTimers();
    const warnings: unknown[] = [];
    const logger: DiagnosticLogger = {
      log() {},
      trace() {},
      debug() {},
      info() {},
      warning: (message, fields) => warnings.push({ message, fields }),
      error() {},
      critical() {},
    };
    const increments: number[] = [];
    const metrics: Metrics = {
      increment: (_name, by = 1) => void increments.push(by),
      setGauge() {},
      observe() {},
      observeDurationMs() {},
      flush: () => Promise.resolve(),
    };
    const server = new FakeServer();
    const watched = watchHandshakeFailures(server, 'n1', logger, metrics, 1000);
    server.handshakesFailed += 50; // a flood's evicted and expired half-open handshakes
    clock.tick(1000);
    assert.equal(warnings.length, 0, 'load is not an authentication failure');
    server.handshakesFailed += 2;
    server.handshakesAuthFailed += 2;
    clock.tick(1000);
    assert.equal(warnings.length, 1);
    assert.deepEqual(increments, [2]);
    clock.tick(5000);
    assert.equal(warnings.length, 1, 'no repeat without new failures');
    await watched.close();
    assert.equal(server.closed, true);
  });

  it('warns about failures that go on at most once a minute, with the count since the line before', async () => {
    const clock = sandbox.useFakeTimers();
    const lines: Record<string, unknown>[] = [];
    const logger: DiagnosticLogger = {
      log() {},
      trace() {},
      debug() {},
      info() {},
      warning: (_message, fields) => void lines.push(fields ?? {}),
      error() {},
      critical() {},
    };
    let counted = 0;
    const metrics: Metrics = {
      increment: (_name, by = 1) => void (counted += by),
      setGauge() {},
      observe() {},
      observeDurationMs() {},
      flush: () => Promise.resolve(),
    };
    const server = new FakeServer();
    const watched = watchHandshakeFailures(server, 'n1', logger, metrics, 2000);
    // A member left out by a recovery: 3 failed handshakes a second for 10 minutes.
    for (let second = 0; second < 600; second += 1) {
      server.handshakesAuthFailed += 3;
      clock.tick(1000);
    }
    assert.equal(lines.length, 10, JSON.stringify(lines));
    assert.equal(lines[0]?.failed, 6);
    assert.deepEqual(
      lines.slice(1).map((line) => [line.failed, line.sinceMs]),
      Array.from({ length: 9 }, () => [180, 60_000]),
    );
    assert.equal(counted, 1800, 'the metric counts every failure');
    await watched.close();
  });

  it('leaves out failures logged elsewhere, and warns about a peer that keeps failing once a minute', async () => {
    const clock = sandbox.useFakeTimers();
    const warnings: { failed: unknown }[] = [];
    const logger: DiagnosticLogger = {
      log() {},
      trace() {},
      debug() {},
      info() {},
      warning: (_message, fields) => warnings.push({ failed: fields?.failed }),
      error() {},
      critical() {},
    };
    const server = new FakeServer();
    let explained = 0;
    const watched = watchHandshakeFailures(server, 'n1', logger, null, 1000, { explained: () => explained });
    // A removed member's identity: refused by the key lookup, which logged it; the DTLS layer counts it too.
    explained += 3;
    server.handshakesAuthFailed += 3;
    clock.tick(1000);
    assert.deepEqual(warnings, [], 'logged once already, by the membership manager');
    // A stale key, retried every second for two minutes.
    for (let s = 0; s < 120; s += 1) {
      server.handshakesAuthFailed += 1;
      clock.tick(1000);
    }
    assert.deepEqual(warnings, [{ failed: 1 }, { failed: 60 }], 'once, then once a minute with the count');
    await watched.close();
  });
});
