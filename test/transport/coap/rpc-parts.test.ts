// Proves that the CoAP peer client sends an AppendEntries with entries as the pieces its serializer
// gives (RpcSerializer.encodeParts, which the CBOR codec fills with the log's own commands): the
// client endpoint is handed those very pieces (sendParts), and the server decodes the same request.
// A heartbeat, any other request, and a request the serializer gives no pieces for go as one body.
// Real UDP on loopback; the serializer is the transport tests' JSON one, given an encodeParts that
// cuts its encoding in three.
import { strict as assert } from 'node:assert';
import type { RequestMessage } from '../../../contracts/messages.js';
import type { RpcSerializer } from '../../../contracts/serializer.js';
import type { DatagramEndpoint } from '../../../transport/datagram.js';
import { createCoapTransport, createUdpCoapTransport } from '../../../transport/coap/index.js';
import { openUdpEndpoint } from '../../../transport/udp.js';
import { append, echoHandler } from '../rpc-fixtures.js';
import { createTestSerializer } from '../test-serializer.js';

const base = createTestSerializer();

/** The test serializer with encodeParts: three pieces of its encoding, recorded; none for a request without entries. */
function partsSerializer(given: (readonly Uint8Array[])[]): RpcSerializer {
  return Object.assign(Object.create(base) as RpcSerializer, {
    encodeParts: (message: RequestMessage): readonly Uint8Array[] | null => {
      if (message.type !== 'AppendEntriesRequest' || message.entries.length === 0) return null;
      const bytes = base.encode(message);
      const pieces = [bytes.subarray(0, 5), bytes.subarray(5, 40), bytes.subarray(40)];
      given.push(pieces);
      return pieces;
    },
  });
}

/** A client endpoint that records the bodies it is handed as pieces and what it sends whole. */
async function recordingEndpoint(parts: (readonly Uint8Array[])[], whole: Uint8Array[]): Promise<DatagramEndpoint> {
  const inner = await openUdpEndpoint();
  return {
    send: (data, address, port) => {
      whole.push(data);
      return inner.send(data, address, port);
    },
    sendParts: (head, body, address, port) => {
      parts.push(body);
      return inner.sendParts(head, body, address, port);
    },
    onMessage: (handler) => inner.onMessage(handler),
    localAddress: () => inner.localAddress(),
    close: () => inner.close(),
  };
}

describe('CoAP peer client: AppendEntries sent as pieces', function () {
  this.timeout(20_000);

  it('hands the endpoint the serializer’s pieces themselves; other requests go as one body', async () => {
    const given: (readonly Uint8Array[])[] = [];
    const parts: (readonly Uint8Array[])[] = [];
    const whole: Uint8Array[] = [];
    const b = createUdpCoapTransport({ serializer: base, listenAddress: '127.0.0.1', listenPort: 0 });
    const a = createCoapTransport({
      serializer: partsSerializer(given),
      openServerEndpoint: () => openUdpEndpoint(),
      openClientEndpoint: () => recordingEndpoint(parts, whole),
    });
    try {
      await b.server.start();
      a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
      const received: RequestMessage[] = [];
      const echo = echoHandler();
      b.server.setHandler((request, context) => {
        received.push(request);
        return echo(request, context);
      });
      const withEntries = append(9, 4096);
      assert.equal((await a.client.send('b', withEntries, 10_000)).lastLogIndex, 10);
      assert.equal(given.length, 1);
      assert.equal(parts.length, 1, 'one datagram, sent as parts');
      const sentPieces = parts[0] ?? [];
      const givenPieces = given[0] ?? [];
      assert.equal(sentPieces.length, givenPieces.length);
      sentPieces.forEach((piece, i) => assert.equal(piece, givenPieces[i], 'the serializer’s piece itself'));
      assert.deepEqual(received[0], withEntries);
      // A heartbeat: the serializer gives no pieces, the body goes as one buffer.
      await a.client.send('b', append(10), 10_000);
      assert.equal(given.length, 1);
      assert.equal(parts.length, 2);
      assert.equal(parts[1]?.length, 1, 'one piece: the whole body');
      assert.deepEqual(received[1], append(10));
    } finally {
      await a.client.close();
      await b.server.stop();
    }
  });
});
