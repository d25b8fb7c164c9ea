// Proves that the plain coap and http peer transports refuse, before anything is sent and as
// NET_ADDRESS (which the node logs at warn, agent/runtime/send-refusals.ts), what the coaps one
// refuses: a member known at this node's own peer address (it would be sent to itself) or at
// another member's (one process there would answer for both), from the one address book
// (transport/peer-book.ts); and that coap refuses a peer of the IP family its socket cannot
// reach (transport/address-family.ts) instead of failing the send as a peer that is down.
import { strict as assert } from 'node:assert';
import { createPeerTransport, type PeerTransport } from '../../transport/index.js';
import { append } from './rpc-fixtures.js';
import { createTestSerializer } from './test-serializer.js';

const serializer = createTestSerializer();
/** Ports nothing listens on: a send that is not refused fails or times out instead. */
const OWN = '127.0.0.1:22010';
const OTHER = '127.0.0.1:22011';

describe('address refusals of the coap and http peer transports', () => {
  for (const name of ['coap', 'http'] as const) {
    it(`${name}: refuses a member at this node's own address and two members at one address`, async () => {
      const t: PeerTransport = createPeerTransport(
        { name, listenAddress: '127.0.0.1', listenPort: 0, options: { ownAddress: OWN } },
        { serializer },
      );
      try {
        t.client.setPeers([
          { id: 'n4', address: OWN },
          { id: 'n2', address: OTHER },
          { id: 'n3', address: OTHER },
        ]);
        await assert.rejects(t.client.send('n4', append(1, 1), 1000), {
          code: 'NET_ADDRESS',
          message: /peer n4 is reached at 127\.0\.0\.1:22010, where this node itself listens/,
        });
        await assert.rejects(t.client.send('n2', append(1, 1), 1000), {
          code: 'NET_ADDRESS',
          message: /peers n2 and n3 are both reached at 127\.0\.0\.1:22011/,
        });
      } finally {
        await t.client.close();
      }
    });
  }

  it('coap: refuses a peer of the family its socket cannot reach, naming both addresses', async function () {
    const t = createPeerTransport({ name: 'coap', listenAddress: '::1', listenPort: 0 }, { serializer });
    try {
      await t.server.start();
    } catch {
      this.skip(); // no IPv6 loopback on this machine
    }
    try {
      t.client.setPeers([{ id: 'n2', address: OTHER }]);
      await assert.rejects(t.client.send('n2', append(1, 1), 1000), {
        code: 'NET_ADDRESS',
        message: /IPv6 \(bound to ::1\) and cannot send to the IPv4 address 127\.0\.0\.1:22011/,
      });
    } finally {
      await t.client.close();
      await t.server.stop();
    }
  });
});
