// Proves that an HTTPS-PSK server can drop the live connections of one identity (what a
// node does when a member is removed or rekeyed): after a request from `a` and one from `b`
// over keep-alive connections, closeSessionsOf('a') closes a's connection only, sessionIdentities
// names who is connected, and once a's key is gone a's next request is refused (NET_AUTH)
// while b keeps being served.
import { strict as assert } from 'node:assert';
import { NetworkError } from '../../../contracts/errors.js';
import type { NodeId } from '../../../contracts/log.js';
import { createHttpsTransport, type HttpTransport } from '../../../transport/http/index.js';
import { append, echoHandler } from '../rpc-fixtures.js';
import { createTestSerializer } from '../test-serializer.js';

const serializer = createTestSerializer();

describe('HTTPS transport: closing the sessions of one identity', function () {
  this.timeout(30_000);
  const opened: HttpTransport[] = [];
  afterEach(async () => {
    for (const t of opened.splice(0)) {
      await t.client.close();
      await t.server.stop();
    }
  });

  it("closes only that identity's connections, and a revoked key opens no new one", async () => {
    const keys = new Map<string, Buffer>([
      ['a', Buffer.alloc(32, 1)],
      ['b', Buffer.alloc(32, 2)],
    ]);
    // What the server accepts; the clients keep presenting their keys.
    const accepted = new Map(keys);
    const make = (id: NodeId): HttpTransport => {
      const transport = createHttpsTransport({
        serializer,
        listenAddress: '127.0.0.1',
        listenPort: 0,
        clientCredentials: { identity: id, keyForPeer: () => keys.get(id) ?? null },
        serverCredentials: { keyForIdentity: (identity) => accepted.get(identity) ?? null },
      });
      opened.push(transport);
      return transport;
    };
    const server = make('s');
    server.server.setHandler(echoHandler(() => 0, []));
    await server.server.start();
    const address = `127.0.0.1:${server.server.localAddress().port}`;
    const a = make('a');
    const b = make('b');
    for (const peer of [a, b]) peer.client.setPeers([{ id: 's', address }]);
    await a.client.send('s', append(1, 10), 5000);
    await b.client.send('s', append(1, 10), 5000);
    assert.deepEqual(server.server.sessionIdentities().sort(), ['a', 'b']);
    assert.equal(server.server.closeSessionsOf('a'), 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(server.server.sessionIdentities(), ['b']);
    accepted.delete('a');
    const refused = await a.client.send('s', append(1, 10), 5000).then(
      () => null,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof NetworkError, String(refused));
    assert.equal(refused.code, 'NET_AUTH');
    assert.equal((await b.client.send('s', append(1, 10), 5000)).lastLogIndex, 2);
  });
});
