// Proves that a bug met while a server answers a ClientHello (here: a send that throws) leaves
// the half-open handshakes consistent once the server contains it the way DtlsServerEndpoint does
// (discarding the peer's key): no slot of the table is left without its handshake. Before the
// fix the ServerHello flight went out before the handshake was recorded, so the slot stayed for
// good and every expiry sweep after it failed on its "every slot has its handshake" assertion
// (an error logged each sweep, and no half-open handshake expired any more). Also that a lone
// half-open handshake (admitted into an empty table) is dropped at clientFlightTimeoutMs: the
// sweep used to be armed before the handshake was recorded, so it stayed unarmed and the
// handshake stayed until another one came. Virtual clock, no sockets.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readInitialHello } from '../../../transport/dtls/hello-verify.js';
import type { InitialHello } from '../../../transport/dtls/hello-verify.js';
import { splitRecords } from '../../../transport/dtls/record.js';
import type { RawRecord } from '../../../transport/dtls/record.js';
import { resolveServerOptions } from '../../../transport/dtls/server-options.js';
import { ServerHandshakes } from '../../../transport/dtls/server-handshakes.js';
import type { SessionHost } from '../../../transport/dtls/session.js';
import { StatsCounters } from '../../../transport/dtls/stats.js';
import { ManualTimers } from './fake-timers.js';
import { clientHelloRecord } from './flooder.js';

/** A verified ClientHello (the cookie is not checked below the endpoint) and its records. */
function hello(): { readonly hello: InitialHello; readonly records: readonly RawRecord[] } {
  const records = splitRecords(clientHelloRecord(randomBytes(32), randomBytes(32), 1), 4).records;
  const first = records[0];
  assert.ok(first !== undefined);
  const initial = readInitialHello(first);
  assert.ok(initial !== null && initial !== 'malformed');
  return { hello: initial, records };
}

/** ServerHandshakes with a virtual clock and a host whose sends fail while `failSends` is set. */
function fixture(): {
  readonly handshakes: ServerHandshakes;
  readonly timers: ManualTimers;
  readonly reported: unknown[];
  readonly sent: number[];
  failSends: boolean;
} {
  const options = resolveServerOptions({ pskLookup: () => null, clientFlightTimeoutMs: 1000 });
  const timers = new ManualTimers();
  const reported: unknown[] = [];
  const sent: number[] = [];
  const state = { failSends: false };
  const host: SessionHost = {
    options: options.session,
    timers,
    stats: new StatsCounters(),
    randomBytes,
    sendDatagram: (_data, _address, port) => {
      if (state.failSends) throw new Error('a bug while answering');
      sent.push(port);
    },
    contain: (_session, action) => action(),
    established: () => undefined,
    moved: () => undefined,
    ended: () => undefined,
    applicationData: () => undefined,
  };
  const handshakes = new ServerHandshakes({
    options,
    host,
    timers,
    counters: host.stats,
    report: (error) => reported.push(error),
    metrics: null,
  });
  return Object.assign(state, { handshakes, timers, reported, sent });
}

describe('ServerHandshakes', () => {
  it('keeps the table and the handshakes in step when answering a hello throws', () => {
    const f = fixture();
    f.failSends = true;
    const broken = hello();
    assert.throws(() => f.handshakes.start(broken.hello, broken.records, '127.0.0.1', 5000, '127.0.0.1:5000'), /a bug/);
    // What DtlsServerEndpoint does with an error thrown while it handles a peer's datagram.
    f.handshakes.discard('127.0.0.1:5000', 'internal');
    f.handshakes.checkInvariants();
    assert.equal(f.handshakes.size, 0);
    assert.equal(f.handshakes.bytes, 0);
    f.failSends = false;
    const next = hello();
    f.handshakes.start(next.hello, next.records, '127.0.0.1', 5001, '127.0.0.1:5001');
    assert.deepEqual(f.sent.slice(0, 1), [5001], 'the next hello is answered');
    f.handshakes.checkInvariants();
    f.handshakes.close();
  });

  it('drops a lone half-open handshake clientFlightTimeoutMs after its admission', () => {
    const f = fixture();
    for (const port of [5000, 5001]) {
      // Each time into an empty table: the first half-open handshake must arm the sweep itself.
      const lone = hello();
      f.handshakes.start(lone.hello, lone.records, '127.0.0.1', port, `127.0.0.1:${port}`);
      assert.equal(f.handshakes.size, 1);
      f.timers.advance(999);
      assert.equal(f.handshakes.size, 1, 'kept until clientFlightTimeoutMs');
      f.timers.advance(1001);
      assert.equal(f.handshakes.size, 0, 'dropped after clientFlightTimeoutMs');
      assert.equal(f.handshakes.bytes, 0);
    }
    assert.deepEqual(f.reported, []);
    f.handshakes.checkInvariants();
  });
});
