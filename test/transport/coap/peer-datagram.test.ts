// Proves the peer transport's whole-request path over real DTLS endpoints on loopback: an
// AppendEntries up to PEER_WHOLE_BODY_BYTES_MAX leaves the client as one application datagram
// (one DTLS record) and is answered; a 64 KiB one goes in 15 KiB pieces, a record each; and the
// receiver enforces its own record limit (applicationDataBytesMax): a whole request over it is
// dropped and counted as tooLarge, never reaches the handler, the sender times out, and the
// session keeps serving requests that fit.
import { strict as assert } from 'node:assert';
import type { RequestMessage } from '../../../contracts/messages.js';
import { createCoapTransport, PEER_WHOLE_BODY_BYTES_MAX, type CoapTransport } from '../../../transport/coap/index.js';
import type { DtlsServerEndpoint } from '../../../transport/dtls/server.js';
import type { DtlsClientEndpoint } from '../../../transport/dtls/client.js';
import { Cleanup, startClient, startServer } from '../dtls/helpers.js';
import { append, echoHandler } from '../rpc-fixtures.js';
import { createTestSerializer } from '../test-serializer.js';

const serializer = createTestSerializer();
const key = Buffer.from('peer datagram test key');
const lookup = (id: string): Uint8Array | null => (id === 'a' ? key : null);

/** Node a's CoAP client over a DTLS client endpoint, to node b's server over a DTLS server endpoint. */
async function coapsPair(cleanup: Cleanup, serverRecordBytesMax?: number) {
  const serverEndpoint: DtlsServerEndpoint = await startServer(cleanup, {
    pskLookup: lookup,
    ...(serverRecordBytesMax === undefined ? {} : { applicationDataBytesMax: serverRecordBytesMax }),
  });
  const clientEndpoint: DtlsClientEndpoint = await startClient(cleanup, { identity: 'a', psk: key });
  const b: CoapTransport = createCoapTransport({
    serializer,
    openServerEndpoint: () => Promise.resolve(serverEndpoint),
    openClientEndpoint: () => Promise.reject(new Error('b sends nothing')),
  });
  const a: CoapTransport = createCoapTransport({
    serializer,
    openServerEndpoint: () => Promise.reject(new Error('a serves nothing')),
    openClientEndpoint: () => Promise.resolve(clientEndpoint),
  });
  await b.server.start();
  a.client.setPeers([{ id: 'b', address: `127.0.0.1:${serverEndpoint.localAddress().port}` }]);
  const handled: RequestMessage[] = [];
  const echo = echoHandler();
  b.server.setHandler((request, context) => {
    handled.push(request);
    return echo(request, context);
  });
  cleanup.add(() => a.client.close());
  return { a, serverEndpoint, clientEndpoint, handled };
}

/** An AppendEntries whose encoding (JSON, base64 bytes) is just under the whole-request limit. */
function largestWhole(): RequestMessage {
  const request = append(9, Math.floor((PEER_WHOLE_BODY_BYTES_MAX * 3) / 4) - 300);
  const size = serializer.encode(request).length;
  assert.ok(size > PEER_WHOLE_BODY_BYTES_MAX - 500 && size <= PEER_WHOLE_BODY_BYTES_MAX, `${size}`);
  return request;
}

describe('CoAP peer transport over DTLS: whole requests', function () {
  this.timeout(20_000);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('sends an AppendEntries up to the whole-request limit as one record in one datagram', async () => {
    const p = await coapsPair(cleanup);
    await p.a.client.send('b', append(1), 5000);
    const before = p.clientEndpoint.stats().datagramsSent;
    const response = await p.a.client.send('b', largestWhole(), 5000);
    assert.equal(response.type === 'AppendEntriesResponse' && response.lastLogIndex, 10);
    assert.equal(p.clientEndpoint.stats().datagramsSent - before, 1);
    assert.equal(p.serverEndpoint.stats().dropped.tooLarge, 0);
  });

  it('sends a 64 KiB AppendEntries in 15 KiB pieces, one record each within the receiver limit', async () => {
    const p = await coapsPair(cleanup);
    await p.a.client.send('b', append(1), 5000);
    const request = append(9, 48 * 1024); // JSON with base64 bytes: about 64 KiB encoded
    const bodyBytes = serializer.encode(request).length;
    assert.ok(bodyBytes > 60_000, `${bodyBytes}`);
    for (const probe of [true, false]) {
      const before = p.clientEndpoint.stats().datagramsSent;
      const response = await p.a.client.send('b', request, 5000);
      assert.equal(response.type === 'AppendEntriesResponse' && response.lastLogIndex, 10);
      // The first body probes with piece 0 alone; either way each piece is one record, sent once.
      const pieces = Math.ceil(bodyBytes / (15 * 1024));
      assert.equal(p.clientEndpoint.stats().datagramsSent - before, pieces, `probe ${probe}`);
    }
    assert.equal(p.serverEndpoint.stats().dropped.tooLarge, 0, 'every piece fits the 16 KiB record limit');
    assert.equal(p.handled.length, 3);
  });

  it('drops a whole request over the receiver record limit, counted, and keeps the session', async () => {
    const p = await coapsPair(cleanup, 4096);
    await p.a.client.send('b', append(1), 5000);
    await assert.rejects(p.a.client.send('b', largestWhole(), 300), { code: 'NET_TIMEOUT' });
    assert.ok(p.serverEndpoint.stats().dropped.tooLarge >= 1, 'the oversized record is counted');
    assert.equal(p.handled.length, 1, 'the handler never saw it');
    const response = await p.a.client.send('b', append(2, 1000), 5000);
    assert.equal(response.type === 'AppendEntriesResponse' && response.lastLogIndex, 3);
  });
});
