// Proves the HTTPS peer transport (TLS 1.2 PSK, no certificates) on loopback: the handler
// sees the PSK identity the server accepted; many requests run at once and a 1 MiB body
// passes; a wrong key, an unknown identity or a missing key is refused cleanly as NET_AUTH
// (the server keeps serving good peers); an identity check failing in the handler is 403;
// a client that offers only TLS 1.3 / certificate suites cannot connect; and the peer address
// a sender advertises reaches the handler.
import { strict as assert } from 'node:assert';
import { connect } from 'node:tls';
import { SeededPrng } from '../../../contracts/prng.js';
import { NetworkError } from '../../../contracts/errors.js';
import type { NodeId } from '../../../contracts/log.js';
import type { InboundContext } from '../../../contracts/network.js';
import { createHttpsTransport, type HttpTransport } from '../../../transport/http/index.js';
import { append, echoHandler, snapshotChunk } from '../rpc-fixtures.js';
import { createTestSerializer } from '../test-serializer.js';

const serializer = createTestSerializer();
const KEYS: Record<string, Buffer> = {
  a: Buffer.from('a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1', 'hex'),
  b: Buffer.from('b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2', 'hex'),
};
const opened: HttpTransport[] = [];

/** Node `id` presenting `key` (its own by default) to every peer, advertising `advertisedAddress` if given. */
function node(id: NodeId, key: Buffer | null = KEYS[id] ?? null, advertisedAddress?: string): HttpTransport {
  const transport = createHttpsTransport(
    {
      serializer,
      listenAddress: '127.0.0.1',
      listenPort: 0,
      clientCredentials: { identity: id, keyForPeer: () => key },
      serverCredentials: { keyForIdentity: (identity) => KEYS[identity] ?? null, identityHint: id },
    },
    advertisedAddress === undefined ? {} : { advertisedAddress },
  );
  opened.push(transport);
  return transport;
}

async function serving(server: HttpTransport, seen: InboundContext[] = []): Promise<string> {
  server.server.setHandler(echoHandler(() => 0, seen));
  await server.server.start();
  return `127.0.0.1:${server.server.localAddress().port}`;
}

describe('HTTPS transport (TLS 1.2 PSK)', function () {
  this.timeout(60_000);
  afterEach(async () => {
    for (const t of opened.splice(0)) {
      await t.client.close();
      await t.server.stop();
    }
  });

  it('hands the accepted PSK identity to the handler', async () => {
    const seen: InboundContext[] = [];
    const address = await serving(node('b'), seen);
    const a = node('a');
    a.client.setPeers([{ id: 'b', address }]);
    assert.equal((await a.client.send('b', append(1, 100), 5000)).lastLogIndex, 2);
    assert.equal(seen[0]?.peerIdentity, 'a');
  });

  it('hands the peer address a sender advertises to the handler, and not a malformed one', async () => {
    const seen: InboundContext[] = [];
    const address = await serving(node('b'), seen);
    for (const [advertised, expected] of [
      ['127.0.0.1:7001', '127.0.0.1:7001'],
      ['not an address', undefined],
    ] as const) {
      const a = node('a', KEYS['a'], advertised);
      a.client.setPeers([{ id: 'b', address }]);
      await a.client.send('b', append(1, 10), 5000);
      assert.equal(seen.at(-1)?.peerAddress, expected);
    }
  });

  it('runs 64 requests at once and carries a 1 MiB chunk', async () => {
    const b = node('b');
    const delays = new SeededPrng(9);
    b.server.setHandler(echoHandler(() => delays.intBetween(0, 10)));
    await b.server.start();
    const a = node('a');
    a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
    const responses = await Promise.all(Array.from({ length: 64 }, (_, i) => a.client.send('b', append(i), 10_000)));
    responses.forEach((r, i) => assert.equal(r.lastLogIndex, i));
    assert.equal(
      (await a.client.send('b', snapshotChunk(0, new Uint8Array(1024 * 1024), 1024 * 1024), 10_000)).bytesStored,
      1024 * 1024,
    );
  });

  it('refuses a wrong key, an unknown identity and a missing key as NET_AUTH, and keeps serving', async () => {
    const address = await serving(node('b'));
    const wrongKey = node('a', Buffer.alloc(16, 9));
    const stranger = node('z', Buffer.alloc(16, 1));
    const keyless = node('a', null);
    for (const client of [wrongKey, stranger, keyless]) {
      client.client.setPeers([{ id: 'b', address }]);
      await assert.rejects(
        client.client.send('b', append(1), 5000),
        (error: unknown) => error instanceof NetworkError && error.code === 'NET_AUTH',
      );
    }
    const good = node('a');
    good.client.setPeers([{ id: 'b', address }]);
    assert.equal((await good.client.send('b', append(7), 5000)).lastLogIndex, 7);
  });

  it('answers 403 when the handler finds the identity does not match the claimed sender', async () => {
    const b = node('b');
    b.server.setHandler((request, context) =>
      Promise.reject(new NetworkError('NET_AUTH', `identity ${context.peerIdentity ?? '-'} claims ${request.type}`)),
    );
    await b.server.start();
    const a = node('a');
    a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
    await assert.rejects(a.client.send('b', append(1), 5000), { code: 'NET_AUTH', message: /403.*identity a/ });
  });

  it('does not let a TLS 1.3 client in', async () => {
    const b = node('b');
    await serving(b);
    const port = b.server.localAddress().port;
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', rejectUnauthorized: false });
      socket.once('secureConnect', () => resolve('connected'));
      socket.once('error', (error: Error & { code?: string }) => resolve(error.code ?? 'error'));
    });
    assert.notEqual(outcome, 'connected');
  });
});
