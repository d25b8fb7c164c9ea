// Proves the HTTP peer transport on loopback: RPC round trips with the InboundContext filled
// in (no identity); keep-alive (sequential requests share one connection); 120 pipelined
// requests answered out of order; 64 KiB and 1 MiB bodies both ways; the caller's deadline;
// 413 for a body over the server's limit with the connection still usable after it; each
// failure mapped to its NetworkError code with the diagnostic; and the raw statuses
// 404/405/415 for foreign requests.
import { strict as assert } from 'node:assert';
import { request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { SeededPrng } from '../../../contracts/prng.js';
import { NetworkError } from '../../../contracts/errors.js';
import type { ResponseMessage } from '../../../contracts/messages.js';
import type { InboundContext } from '../../../contracts/network.js';
import type { RpcSerializer } from '../../../contracts/serializer.js';
import { createHttpTransport, type HttpTransport, type HttpTransportOptions } from '../../../transport/http/index.js';
import { append, echoHandler, snapshotChunk } from '../rpc-fixtures.js';
import { createTestSerializer } from '../test-serializer.js';

const serializer = createTestSerializer();
const opened: HttpTransport[] = [];

async function pair(
  options: HttpTransportOptions = {},
  clientSerializer: RpcSerializer = serializer,
): Promise<{ a: HttpTransport; b: HttpTransport; port: number }> {
  const b = createHttpTransport({ serializer, listenAddress: '127.0.0.1', listenPort: 0 }, options);
  const a = createHttpTransport({ serializer: clientSerializer, listenAddress: '127.0.0.1', listenPort: 0 }, options);
  opened.push(a, b);
  await b.server.start();
  const port = b.server.localAddress().port;
  a.client.setPeers([{ id: 'b', address: `127.0.0.1:${port}` }]);
  return { a, b, port };
}

function raw(port: number, method: string, path: string, contentType: string, body: string): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { 'content-type': contentType } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve([response.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')]));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('HTTP transport', function () {
  this.timeout(60_000);
  afterEach(async () => {
    for (const t of opened.splice(0)) {
      await t.client.close();
      await t.server.stop();
    }
  });

  it('carries RPCs over one keep-alive connection and fills in the InboundContext', async () => {
    const { a, b } = await pair();
    const seen: InboundContext[] = [];
    b.server.setHandler(echoHandler(() => 0, seen));
    for (let i = 0; i < 20; i += 1) assert.equal((await a.client.send('b', append(i, 10), 2000)).lastLogIndex, i + 1);
    assert.equal(seen[0]?.peerIdentity, null);
    assert.equal(new Set(seen.map((c) => c.remoteAddress)).size, 1, 'one connection served every request');
    assert.match(seen[0]?.remoteAddress ?? '', /^127\.0\.0\.1:\d+$/);
  });

  it('runs 120 requests at once and matches responses that complete out of order', async () => {
    const { a, b } = await pair();
    const delays = new SeededPrng(5);
    b.server.setHandler(echoHandler(() => delays.intBetween(0, 20)));
    const responses = await Promise.all(
      Array.from({ length: 120 }, (_, i) => a.client.send('b', append(i * 2), 10_000)),
    );
    responses.forEach((r, i) => assert.equal(r.lastLogIndex, i * 2));
  });

  it('moves a 64 KiB AppendEntries, a 1 MiB snapshot chunk and a 1 MiB response', async () => {
    const { a, b } = await pair();
    b.server.setHandler(echoHandler());
    assert.equal((await a.client.send('b', append(3, 64 * 1024), 10_000)).lastLogIndex, 4);
    assert.equal(
      (await a.client.send('b', snapshotChunk(0, new Uint8Array(1024 * 1024).fill(1), 1024 * 1024), 10_000))
        .bytesStored,
      1024 * 1024,
    );
    const forwarded = await a.client.send(
      'b',
      { type: 'ClientForwardRequest', sourceId: 'a', kind: 'read', payload: new Uint8Array(0), timeoutMs: 1024 * 1024 },
      10_000,
    );
    assert.equal(forwarded.result.length, 1024 * 1024);
  });

  it('rejects with NET_TIMEOUT once the caller deadline has passed', async () => {
    const { a, b } = await pair();
    b.server.setHandler(() => new Promise<ResponseMessage>(() => undefined));
    const started = performance.now();
    await assert.rejects(a.client.send('b', append(1), 300), { name: 'NetworkError', code: 'NET_TIMEOUT' });
    assert.ok(performance.now() - started >= 299);
  });

  it('answers a body over bodyBytesMax 413, and the next request still goes through', async () => {
    const { a, b } = await pair({ server: { bodyBytesMax: 16 * 1024 } });
    b.server.setHandler(echoHandler());
    await assert.rejects(a.client.send('b', append(1, 20 * 1024), 2000), { code: 'NET_TOO_LARGE', message: /413/ });
    assert.equal((await a.client.send('b', append(2), 2000)).lastLogIndex, 2);
  });

  it('refuses a response over the client bodyBytesMax with NET_TOO_LARGE', async () => {
    const { a, b } = await pair({ client: { bodyBytesMax: 64 * 1024 } });
    b.server.setHandler(echoHandler());
    await assert.rejects(
      a.client.send(
        'b',
        { type: 'ClientForwardRequest', sourceId: 'a', kind: 'read', payload: new Uint8Array(0), timeoutMs: 100_000 },
        2000,
      ),
      { code: 'NET_TOO_LARGE' },
    );
  });

  it('maps failures to NetworkError codes with the server diagnostic', async () => {
    const { a, b, port } = await pair();
    let failure: Error = new NetworkError('NET_AUTH', 'claims to be c');
    b.server.setHandler(() => Promise.reject(failure));
    await assert.rejects(a.client.send('b', append(1), 2000), { code: 'NET_AUTH', message: /401.*claims to be c/ });
    failure = new Error('boom');
    await assert.rejects(a.client.send('b', append(1), 2000), { code: 'NET_REJECTED', message: /500.*boom/ });
    await assert.rejects(a.client.send('c', append(1), 2000), { code: 'NET_UNREACHABLE', message: /unknown peer c/ });
    await b.server.stop();
    await assert.rejects(a.client.send('b', append(1), 2000), { code: 'NET_UNREACHABLE' });
    assert.ok(port > 0);
  });

  it('answers an undecodable body 400 with the codec diagnostic', async () => {
    const garbling: RpcSerializer = { ...serializer, encode: () => Buffer.from('{"not": "a message"}') };
    const { a, b } = await pair({}, garbling);
    b.server.setHandler(echoHandler());
    await assert.rejects(a.client.send('b', append(1), 2000), {
      code: 'NET_REJECTED',
      message: /400.*CODEC_MALFORMED/,
    });
  });

  it('answers foreign requests 404, 405 and 415', async () => {
    const { b, port } = await pair();
    b.server.setHandler(echoHandler());
    assert.deepEqual((await raw(port, 'POST', '/raft/Nope', 'application/json', '{}'))[0], 404);
    assert.deepEqual((await raw(port, 'GET', '/raft/AppendEntries', 'application/json', ''))[0], 405);
    assert.deepEqual((await raw(port, 'POST', '/raft/AppendEntries', 'text/plain', 'x'))[0], 415);
  });
});
