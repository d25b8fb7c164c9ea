// Proves what a client sees when the server pushes out its half-open handshake: the server
// answers the client's second flight, now about a handshake it no longer has, with a plaintext
// fatal unexpected_message alert (instead of leaving the client to retransmit until it times
// out), and our client starts the handshake over (handshakeRestartsMax) and gets its session.
// The scenario is forced: a server with room for one half-open handshake, a relay that loses
// the client's first second flight, and meanwhile a stranger's cookie-completing hello that
// pushes the client's handshake out.
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import { HandshakeType } from '../../../transport/dtls/constants.js';
import { parseHelloVerifyRequest } from '../../../transport/dtls/handshake-messages.js';
import { splitRecords } from '../../../transport/dtls/record.js';
import { clientHelloRecord } from './flooder.js';
import { Cleanup, LossyRelay, internalErrors, startClient, startServer, until } from './helpers.js';
import { scaledMs } from '../../timing.js';

const key = Buffer.from('eviction test key');
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? key : null);

/** Completes a cookie exchange with the server from a fresh port, then goes silent; resolves on the ServerHello. */
async function strangerHello(cleanup: Cleanup, serverPort: number): Promise<void> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  cleanup.add(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  const random = new Uint8Array(32).fill(7);
  await new Promise<void>((resolve) => {
    socket.on('message', (datagram) => {
      const record = splitRecords(datagram, 4).records[0];
      const type = record?.fragment[0];
      if (type === HandshakeType.serverHello) resolve();
      if (type !== HandshakeType.helloVerifyRequest || record === undefined) return;
      const hvr = parseHelloVerifyRequest(record.fragment.subarray(12));
      assert.ok(hvr);
      socket.send(clientHelloRecord(random, hvr.cookie, 1), serverPort, '127.0.0.1');
    });
    socket.send(clientHelloRecord(random, new Uint8Array(0), 0), serverPort, '127.0.0.1');
  });
}

describe('DTLS half-open handshake pushed out', function () {
  this.timeout(scaledMs(30_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  it('tells the client, which starts over and completes', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, handshakesInProgressMax: 1 });
    const serverPort = server.localAddress().port;
    const strangers: Promise<void>[] = [];
    // Client datagrams: 0 ClientHello, 1 ClientHello with the cookie, 2 the second flight.
    const relay = await LossyRelay.start(cleanup, serverPort, (direction, index) => {
      if (direction !== 'up' || index !== 2) return false;
      strangers.push(strangerHello(cleanup, serverPort));
      return true;
    });
    const client = await startClient(cleanup, { identity: 'node-a', psk: key, retransmitInitialMs: 500 });
    await client.connect('127.0.0.1', relay.port());
    assert.equal(strangers.length, 1, 'the second flight was lost once');
    await Promise.all(strangers);
    // Both from 127.0.0.1, so the per-address limit (also 1) is the one reached.
    assert.equal(
      server.stats().handshakesEvicted.address,
      2,
      'the stranger pushed the client out, and the client the stranger',
    );
    assert.ok(server.stats().alertsSent >= 1, 'the server said it lost the handshake');
    assert.equal(client.stats().handshakesRestarted, 1);
    assert.equal(client.stats().handshakesCompleted, 1);
    await until(() => server.stats().sessions === 1, 'the session on the server');
  });

  it('fails fast (no restart left) instead of timing out when handshakeRestartsMax is 0', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, handshakesInProgressMax: 1 });
    const serverPort = server.localAddress().port;
    const relay = await LossyRelay.start(cleanup, serverPort, (direction, index) => {
      if (direction !== 'up' || index !== 2) return false;
      void strangerHello(cleanup, serverPort);
      return true;
    });
    const client = await startClient(cleanup, {
      identity: 'node-a',
      psk: key,
      retransmitInitialMs: 500,
      handshakeRestartsMax: 0,
    });
    const started = Date.now();
    await assert.rejects(client.connect('127.0.0.1', relay.port()), { code: 'NET_UNREACHABLE' });
    // One retransmission of the second flight (500 ms) and its answer, not the 30 s handshake timeout.
    assert.ok(Date.now() - started < 5000, `failed after ${Date.now() - started} ms`);
    assert.equal(client.stats().handshakesRestarted, 0);
  });
});
