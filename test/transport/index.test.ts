// Proves that every peer transport name builds a working client and server: two nodes of
// each kind (coaps on identity-carrying in-memory endpoints standing in for DTLS) exchange an
// AppendEntries, and over the authenticating kinds the handler sees the sender's identity.
import { strict as assert } from 'node:assert';
import type { InboundContext } from '../../contracts/network.js';
import { createPeerTransport, type PeerTransport, type PeerTransportConfig } from '../../transport/index.js';
import { MemoryNetwork } from './memory-datagram.js';
import { append, echoHandler } from './rpc-fixtures.js';
import { createTestSerializer } from './test-serializer.js';

const serializer = createTestSerializer();
const PSK = Buffer.alloc(16, 5);
const network = new MemoryNetwork();

function config(name: PeerTransportConfig['name'], node: string): PeerTransportConfig {
  switch (name) {
    case 'coaps':
      return {
        name,
        openServerEndpoint: () => Promise.resolve(network.open(`10.1.0.${node === 'a' ? 1 : 2}`)),
        openClientEndpoint: () => Promise.resolve(network.open(`10.1.1.${node === 'a' ? 1 : 2}`, node)),
      };
    case 'https':
      return {
        name,
        listenAddress: '127.0.0.1',
        listenPort: 0,
        clientCredentials: { identity: node, keyForPeer: () => PSK },
        serverCredentials: { keyForIdentity: () => PSK },
      };
    case 'coap':
    case 'http':
      return { name, listenAddress: '127.0.0.1', listenPort: 0 };
  }
}

describe('createPeerTransport', () => {
  for (const [name, identity] of [
    ['coaps', 'a'],
    ['coap', null],
    ['https', 'a'],
    ['http', null],
  ] as const) {
    it(`builds a working ${name} transport`, async () => {
      const a: PeerTransport = createPeerTransport(config(name, 'a'), { serializer });
      const b: PeerTransport = createPeerTransport(config(name, 'b'), { serializer });
      const seen: InboundContext[] = [];
      b.server.setHandler(echoHandler(() => 0, seen));
      await b.server.start();
      const { address, port } = b.server.localAddress();
      a.client.setPeers([{ id: 'b', address: `${address}:${port}` }]);
      assert.equal((await a.client.send('b', append(4, 8), 5000)).lastLogIndex, 5);
      assert.equal(seen[0]?.peerIdentity, identity);
      await a.client.close();
      await b.server.stop();
    });
  }
});
