// Proves that handshakes survive lost flights thanks to retransmission (RFC 6347 §4.2.4),
// through a UDP relay that drops chosen datagrams: the first copies of the client's and the
// server's flights, the server's final flight (recovered when the client repeats its last
// flight), the client's last flight, and then seeded random loss over many sessions
// (the seed is printed; set DTLS_LOSS_SEED to reuse it).
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { Cleanup, Inbox, LossyRelay, echo, internalErrors, startClient, startServer } from './helpers.js';
import { scaledMs } from '../../timing.js';

const key = Buffer.from('lossy link key');
const lookup = (id: string): Uint8Array | null => (id.startsWith('node-') ? key : null);

describe('DTLS over a lossy link', function () {
  this.timeout(scaledMs(30_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  // The server's own timer is slow (1 s) so that on a loaded machine it does not add
  // retransmissions that would shift which datagram a scripted index drops.
  async function handshakeThrough(drop: (direction: 'up' | 'down', index: number) => boolean) {
    const server = await startServer(cleanup, { pskLookup: lookup, retransmitInitialMs: 1000 });
    echo(server);
    const relay = await LossyRelay.start(cleanup, server.localAddress().port, drop);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key, retransmitInitialMs: 100 });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('through'), '127.0.0.1', relay.port());
    await inbox.waitFor('node-a:through');
    return { server, client, relay };
  }

  it('recovers from lost first copies of flights in both directions', async () => {
    // Up: ClientHello (0) and the first ClientHello with cookie (3).
    // Down: HelloVerifyRequest (0), ServerHello flight (2).
    const { client, relay } = await handshakeThrough((dir, i) =>
      dir === 'up' ? i === 0 || i === 3 : i === 0 || i === 2,
    );
    assert.equal(relay.dropped.up + relay.dropped.down, 4);
    assert.ok(client.stats().retransmissions >= 3, `client retransmitted ${client.stats().retransmissions} times`);
  });

  it('recovers a lost final server flight when the client repeats its last flight', async () => {
    // Down: HelloVerifyRequest (0), ServerHello flight (1), ChangeCipherSpec+Finished (2).
    const { server, client, relay } = await handshakeThrough((dir, i) => dir === 'down' && i === 2);
    assert.equal(relay.dropped.down, 1);
    assert.ok(client.stats().retransmissions >= 1);
    assert.ok(server.stats().retransmissions >= 1, 'the server answered the repeated flight');
    assert.equal(server.stats().handshakesCompleted, 1);
  });

  it('recovers a lost client key exchange flight', async () => {
    // Up: ClientHello (0), ClientHello with cookie (1), ClientKeyExchange+CCS+Finished (2).
    const { server, relay } = await handshakeThrough((dir, i) => dir === 'up' && i === 2);
    assert.equal(relay.dropped.up, 1);
    assert.equal(server.stats().handshakesCompleted, 1);
  });

  it("waits for a client on RFC 6347's timers (1 s, doubling) whose last flight is lost three times", async () => {
    // OpenSSL and libcoap repeat their last flight 1, 3 and 7 s after sending it (RFC 6347
    // §4.2.4.1); the server must still hold the handshake when the fourth copy arrives.
    // Up: ClientHello (0), ClientHello with cookie (1), ClientKeyExchange+CCS+Finished (2..4 lost).
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const relay = await LossyRelay.start(
      cleanup,
      server.localAddress().port,
      (dir, i) => dir === 'up' && i >= 2 && i <= 4,
    );
    const client = await startClient(cleanup, { identity: 'node-a', psk: key, retransmitInitialMs: 1000 });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('late'), '127.0.0.1', relay.port());
    await inbox.waitFor('node-a:late');
    assert.equal(relay.dropped.up, 3);
    assert.equal(server.stats().handshakesExpired, 0);
    assert.equal(server.stats().handshakesCompleted, 1);
  });

  it('completes many handshakes under seeded random loss', async () => {
    const seed = Number(process.env.DTLS_LOSS_SEED ?? Date.now() % 1_000_000);
    console.log(`      SEED=${seed} (DTLS_LOSS_SEED)`);
    const prng = new SeededPrng(seed);
    const server = await startServer(cleanup, {
      pskLookup: lookup,
      retransmitInitialMs: 50,
      retransmitMaxMs: 400,
      retransmitCountMax: 10,
    });
    const relay = await LossyRelay.start(cleanup, server.localAddress().port, () => prng.chance(0.1));
    const clients = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        startClient(cleanup, {
          identity: `node-${i}`,
          psk: key,
          retransmitInitialMs: 50,
          retransmitMaxMs: 400,
          retransmitCountMax: 10,
        }),
      ),
    );
    try {
      await Promise.all(clients.map((c) => c.connect('127.0.0.1', relay.port())));
    } catch (error) {
      console.log(`      failed with SEED=${seed}`);
      throw error;
    }
    assert.equal(server.stats().sessions, 20);
    assert.ok(relay.dropped.up + relay.dropped.down > 0, 'the relay dropped something');
  });
});
