// Proves the heartbeat body cache (transport/heartbeat-payloads.ts, issue 17: CPU at rest): a
// heartbeat equal to the last one sent to the same peer is not encoded again and goes out as the
// same bytes a fresh encoding gives; a change of any field the codecs write (term, leader id,
// previous index or term, commit index) encodes it anew; a request with entries, or another
// RPC, is always encoded; each peer has its own entry, and the cache starts over past its bound;
// a cached body is a copy in a buffer of its own. And over the CoAP transport on loopback, a
// leader's repeated idle heartbeat is encoded once and reaches the peer whole each time.
import { strict as assert } from 'node:assert';
import type { AppendEntriesRequest, RequestMessage, RpcMessage } from '../../contracts/messages.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import { HEARTBEAT_PAYLOAD_PEERS_MAX, HeartbeatPayloads } from '../../transport/heartbeat-payloads.js';
import { createCoapTransport, createUdpCoapTransport } from '../../transport/coap/index.js';
import { openUdpEndpoint } from '../../transport/udp.js';
import { SeededPrng } from '../../contracts/prng.js';
import { append, echoHandler } from './rpc-fixtures.js';
import { createTestSerializer } from './test-serializer.js';

const serializer = createTestSerializer();

/** The test serializer, counting its encodings. */
function countingSerializer(): RpcSerializer & { encoded: number } {
  const counting = {
    name: serializer.name,
    contentFormat: serializer.contentFormat,
    mediaType: serializer.mediaType,
    encoded: 0,
    encode(message: RpcMessage): Uint8Array {
      counting.encoded += 1;
      return serializer.encode(message);
    },
    decode: (bytes: Uint8Array) => serializer.decode(bytes),
    decodeAs: serializer.decodeAs.bind(serializer),
  };
  return counting;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const heartbeat = (over: Partial<AppendEntriesRequest> = {}): AppendEntriesRequest => ({ ...append(41), ...over });

describe('heartbeat body cache', () => {
  it('encodes a repeated heartbeat once and sends the bytes a fresh encoding gives', () => {
    const codec = countingSerializer();
    const cache = new HeartbeatPayloads();
    const encode = (r: RequestMessage): Uint8Array => codec.encode(r);
    const first = cache.bodyOf('b', heartbeat(), encode);
    const again = cache.bodyOf('b', heartbeat(), encode);
    assert.equal(codec.encoded, 1);
    assert.equal(again, first);
    assert.equal(hex(again), hex(serializer.encode(heartbeat())));
    assert.equal(first.byteOffset, 0);
    assert.equal(first.buffer.byteLength, first.byteLength, 'a copy in a buffer of its own');
  });

  it('encodes anew when a field changes, and always encodes entries and other RPCs', () => {
    const codec = countingSerializer();
    const cache = new HeartbeatPayloads();
    const encode = (r: RequestMessage): Uint8Array => codec.encode(r);
    cache.bodyOf('b', heartbeat(), encode);
    const changes: Partial<AppendEntriesRequest>[] = [
      { term: 2 },
      { leaderId: 'x' },
      { prevLogIndex: 50 },
      { prevLogTerm: 3 },
      { leaderCommit: 7 },
    ];
    for (const change of changes) {
      const before = codec.encoded;
      const body = cache.bodyOf('b', heartbeat(change), encode);
      assert.equal(codec.encoded, before + 1, JSON.stringify(change));
      assert.equal(hex(body), hex(serializer.encode(heartbeat(change))));
    }
    const before = codec.encoded;
    cache.bodyOf('b', append(41, 10), encode);
    cache.bodyOf('b', append(41, 10), encode);
    const vote: RequestMessage = {
      type: 'RequestVoteRequest',
      term: 1,
      candidateId: 'a',
      lastLogIndex: 0,
      lastLogTerm: 0,
      transfer: false,
    };
    cache.bodyOf('b', vote, encode);
    cache.bodyOf('b', vote, encode);
    assert.equal(codec.encoded, before + 4);
  });

  it('keeps one body per peer within its bound, and forgets them on clear', () => {
    const codec = countingSerializer();
    const cache = new HeartbeatPayloads();
    const encode = (r: RequestMessage): Uint8Array => codec.encode(r);
    cache.bodyOf('b', heartbeat(), encode);
    cache.bodyOf('c', heartbeat(), encode);
    assert.equal(codec.encoded, 2, 'each peer its own');
    cache.bodyOf('b', heartbeat(), encode);
    assert.equal(codec.encoded, 2);
    for (let i = 0; i < HEARTBEAT_PAYLOAD_PEERS_MAX; i += 1) cache.bodyOf(`p${i}`, heartbeat(), encode);
    assert.ok(cache.size <= HEARTBEAT_PAYLOAD_PEERS_MAX);
    cache.clear();
    assert.equal(cache.size, 0);
    const before = codec.encoded;
    cache.bodyOf('b', heartbeat(), encode);
    assert.equal(codec.encoded, before + 1);
  });

  it('over CoAP on loopback, encodes an idle heartbeat once and delivers it whole every time', async () => {
    const codec = countingSerializer();
    const b = createUdpCoapTransport({ serializer, listenAddress: '127.0.0.1', listenPort: 0 });
    const a = createCoapTransport({
      serializer: codec,
      openServerEndpoint: () => openUdpEndpoint(),
      openClientEndpoint: () => openUdpEndpoint(),
      prng: new SeededPrng(8),
    });
    await b.server.start();
    try {
      const seen: RequestMessage[] = [];
      const echo = echoHandler(() => 0);
      b.server.setHandler(async (request, context) => {
        seen.push(request);
        return echo(request, context);
      });
      a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
      for (let i = 0; i < 3; i += 1) await a.client.send('b', heartbeat(), 2000);
      assert.equal(codec.encoded, 1);
      assert.deepEqual(seen, [heartbeat(), heartbeat(), heartbeat()]);
      await a.client.send('b', heartbeat({ leaderCommit: 9 }), 2000);
      assert.equal(codec.encoded, 2);
      assert.deepEqual(seen[3], heartbeat({ leaderCommit: 9 }));
    } finally {
      await a.client.close();
      await b.server.stop();
    }
  });
});
