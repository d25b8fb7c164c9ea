// Proves the server's peer key cache: property — whatever the sequence of peers (plain and
// with an identity, repeated, more of them than the cache holds), keyOf gives what peerKeyOf
// builds; and it holds at most its limit (it starts again empty when full).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { PeerKeys, peerKeyOf } from '../../../transport/coap/peer-keys.js';
import type { DatagramPeer } from '../../../transport/datagram.js';
import { fcParams } from '../../fc-params.js';

const peer: fc.Arbitrary<DatagramPeer> = fc.record({
  address: fc.constantFrom('127.0.0.1', '10.0.0.2', '::1', 'fe80::1'),
  port: fc.integer({ min: 40000, max: 40010 }),
  identity: fc.option(fc.constantFrom('kv', 'admin', 'n1'), { freq: 4 }),
});

describe('PeerKeys', () => {
  it('gives the key peerKeyOf builds, through any sequence of peers and clearings', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(peer, { maxLength: 60 }), (entriesMax, peers) => {
        const keys = new PeerKeys(entriesMax);
        for (const p of peers) assert.equal(keys.keyOf({ ...p }), peerKeyOf(p));
        assert.ok(keys.size <= entriesMax);
      }),
      fcParams(500, 'peer-keys as built'),
    );
  });
});
