// Proves the CoAP peer transport end to end over real UDP on loopback: RPC round trips with
// the InboundContext filled in; many pipelined requests answered out of order; 64 KiB and
// 1 MiB bodies in both directions; every request handled exactly once through a client
// endpoint that loses a fifth of the datagrams each way (seeded); the caller's deadline
// honoured; error responses mapped to NetworkError codes with their diagnostics; malformed
// datagrams leave the server answering; the authenticated identity of a (DTLS-like)
// endpoint reaching the handler; and a refusal by a limit counted in the metrics handed to
// createPeerTransport (server dimension "peer"); and the address a sender advertises reaching
// the handler, one too long for the room of a whole-body request not sent; and a request body,
// whole or reassembled from pieces, reaching the codec in a buffer of its own that later
// requests leave alone, which the InboundContext says (bytesOwned).
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { SeededPrng } from '../../../contracts/prng.js';
import { NetworkError } from '../../../contracts/errors.js';
import type { ResponseMessage } from '../../../contracts/messages.js';
import type { InboundContext } from '../../../contracts/network.js';
import type { RpcSerializer } from '../../../contracts/serializer.js';
import {
  createCoapTransport,
  createUdpCoapTransport,
  PEER_WHOLE_BODY_BYTES_MAX,
  type CoapTransport,
  type CoapTransportOptions,
} from '../../../transport/coap/index.js';
import { CoapMethodCode, CoapOption, CoapType, formatCode } from '../../../transport/coap/codes.js';
import { encodeMessage } from '../../../transport/coap/message.js';
import { stringOption } from '../../../transport/coap/options.js';
import { PEER_ADDRESS_BYTES_MAX } from '../../../transport/coap/rpc-client.js';
import { createPeerTransport } from '../../../transport/index.js';
import { openUdpEndpoint } from '../../../transport/udp.js';
import { LossyEndpoint } from '../lossy-endpoint.js';
import { MemoryNetwork } from '../memory-datagram.js';
import { append, echoHandler, snapshotChunk } from '../rpc-fixtures.js';
import { createTestSerializer } from '../test-serializer.js';

const serializer = createTestSerializer();

interface Pair {
  readonly a: CoapTransport;
  readonly b: CoapTransport;
  close(): Promise<void>;
}

/** Node a's client talks to node b's server, a's client endpoint optionally lossy. */
async function pair(
  options: CoapTransportOptions = {},
  lossRate = 0,
  clientSerializer: RpcSerializer = serializer,
): Promise<Pair> {
  const prng = new SeededPrng(7);
  const b = createUdpCoapTransport({ serializer, listenAddress: '127.0.0.1', listenPort: 0 }, options);
  const a = createCoapTransport(
    {
      serializer: clientSerializer,
      openServerEndpoint: () => openUdpEndpoint(),
      openClientEndpoint: async () => new LossyEndpoint(await openUdpEndpoint(), () => prng.chance(lossRate)),
      prng: new SeededPrng(8),
    },
    options,
  );
  await b.server.start();
  a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
  const opened = {
    a,
    b,
    close: async () => {
      await a.client.close();
      await b.server.stop();
    },
  };
  openPairs.push(opened);
  return opened;
}

/** Pairs still open: closed after each test, so that a failed test leaves no socket behind. */
const openPairs: Pair[] = [];

describe('CoAP transport over UDP', function () {
  this.timeout(60_000);
  afterEach(async () => {
    for (const p of openPairs.splice(0)) await p.close();
  });

  it('carries an RPC and fills in the InboundContext', async () => {
    const p = await pair();
    const seen: InboundContext[] = [];
    p.b.server.setHandler(echoHandler(() => 0, seen));
    const response = await p.a.client.send('b', append(41, 10), 2000);
    assert.deepEqual(response, {
      type: 'AppendEntriesResponse',
      term: 1,
      success: true,
      conflictIndex: null,
      conflictTerm: null,
      lastLogIndex: 42,
    });
    assert.equal(seen[0]?.peerIdentity, null);
    assert.match(seen[0]?.remoteAddress ?? '', /^127\.0\.0\.1:\d+$/);
    assert.ok(p.b.server.isRunning());
    await p.close();
    assert.equal(p.b.server.isRunning(), false);
  });

  it('decodes each body from a buffer of its own, whole or reassembled, and says so to the handler', async () => {
    const bodies: Uint8Array[] = [];
    const spy: RpcSerializer = Object.assign(Object.create(serializer) as RpcSerializer, {
      decodeAs: ((type, bytes) => {
        bodies.push(bytes);
        return serializer.decodeAs(type, bytes);
      }) satisfies RpcSerializer['decodeAs'],
    });
    const b = createUdpCoapTransport({ serializer: spy, listenAddress: '127.0.0.1', listenPort: 0 });
    const a = createCoapTransport({
      serializer,
      openServerEndpoint: openUdpEndpoint,
      openClientEndpoint: openUdpEndpoint,
    });
    openPairs.push({ a, b, close: () => a.client.close().then(() => b.server.stop()) });
    await b.server.start();
    a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
    const seen: InboundContext[] = [];
    b.server.setHandler(echoHandler(() => 0, seen));
    // Whole, then in 15 KiB pieces (and Size1), then whole again.
    const requests = [append(1, 3000), append(2, PEER_WHOLE_BODY_BYTES_MAX * 2), append(3, 100), append(4, 6000)];
    for (const request of requests) await a.client.send('b', request, 10_000);
    const copies = bodies.map((body) => body.slice());
    assert.equal(bodies.length, requests.length);
    assert.equal(new Set(bodies.map((body) => body.buffer)).size, requests.length);
    bodies.forEach((body, i) => {
      assert.ok(body.buffer.byteLength <= body.byteLength + 256, `body ${i}: a buffer of this message alone`);
      assert.deepEqual(body, copies[i], `body ${i}: unchanged by the requests after it`);
      assert.deepEqual(serializer.decodeAs('AppendEntriesRequest', body), requests[i]);
    });
    assert.deepEqual(
      seen.map((context) => context.bytesOwned),
      requests.map(() => true),
    );
  });

  it('pipelines 120 requests to one peer and matches responses that come back out of order', async () => {
    const p = await pair();
    const delays = new SeededPrng(11);
    p.b.server.setHandler(echoHandler(() => delays.intBetween(0, 20)));
    const responses = await Promise.all(
      Array.from({ length: 120 }, (_, i) => p.a.client.send('b', append(i * 3), 10_000)),
    );
    responses.forEach((r, i) => assert.equal(r.lastLogIndex, i * 3));
    await p.close();
  });

  it('moves a 64 KiB AppendEntries, 1 MiB of snapshot chunks and a 1 MiB response', async () => {
    const p = await pair();
    p.b.server.setHandler(echoHandler());
    assert.equal((await p.a.client.send('b', append(9, 64 * 1024), 10_000)).lastLogIndex, 10);
    const chunk = new Uint8Array(256 * 1024).fill(3);
    for (let offset = 0; offset < 1024 * 1024; offset += chunk.length) {
      assert.equal(
        (await p.a.client.send('b', snapshotChunk(offset, chunk, 1024 * 1024), 10_000)).bytesStored,
        offset + chunk.length,
      );
    }
    const forwarded = await p.a.client.send(
      'b',
      { type: 'ClientForwardRequest', sourceId: 'a', kind: 'read', payload: new Uint8Array(0), timeoutMs: 1024 * 1024 },
      20_000,
    );
    assert.equal(forwarded.result.length, 1024 * 1024);
    assert.ok(forwarded.result.every((byte) => byte === 7));
    await p.close();
  });

  it('sends an AppendEntries up to the DTLS record limit in one datagram, and a larger one block-wise', async () => {
    const b = createUdpCoapTransport({ serializer, listenAddress: '127.0.0.1', listenPort: 0 });
    const sent: number[] = [];
    const a = createCoapTransport({
      serializer,
      openServerEndpoint: () => openUdpEndpoint(),
      openClientEndpoint: async () =>
        new LossyEndpoint(await openUdpEndpoint(), (direction, data) => {
          if (direction === 'out') sent.push(data.length);
          return false;
        }),
    });
    openPairs.push({ a, b, close: () => a.client.close().then(() => b.server.stop()) });
    await b.server.start();
    a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
    b.server.setHandler(echoHandler());
    assert.equal(a.client.wholeRequestBytesMax, PEER_WHOLE_BODY_BYTES_MAX);
    // The test serializer is JSON with base64 bytes: 3/4 of the budget less the envelope fills it.
    const whole = append(9, Math.floor((PEER_WHOLE_BODY_BYTES_MAX * 3) / 4) - 300);
    const wholeBytes = serializer.encode(whole).length;
    assert.ok(wholeBytes > PEER_WHOLE_BODY_BYTES_MAX - 500 && wholeBytes <= PEER_WHOLE_BODY_BYTES_MAX, `${wholeBytes}`);
    assert.equal((await a.client.send('b', whole, 10_000)).lastLogIndex, 10);
    assert.deepEqual(sent.length, 1, 'one datagram');
    assert.ok((sent[0] ?? 0) <= 16_384, `${sent[0]} bytes fit one DTLS record`);
    sent.length = 0;
    const larger = append(9, Math.floor((PEER_WHOLE_BODY_BYTES_MAX * 3) / 4) + 300);
    assert.ok(serializer.encode(larger).length > PEER_WHOLE_BODY_BYTES_MAX);
    assert.equal((await a.client.send('b', larger, 10_000)).lastLogIndex, 10);
    // Peers are coraft agents: the larger body goes in 15 KiB pieces (pieces.ts), each within one record.
    assert.equal(sent.length, Math.ceil(serializer.encode(larger).length / (15 * 1024)), 'one datagram per piece');
    assert.ok(
      sent.every((bytes) => bytes <= 16_384),
      `${sent.join(',')} bytes: each fits one DTLS record`,
    );
  });

  it('sends 1 KiB Q-Block1 blocks, no pieces, under a one-frame whole-body limit (1152 bytes)', async () => {
    const b = createUdpCoapTransport({ serializer, listenAddress: '127.0.0.1', listenPort: 0 });
    const sent: number[] = [];
    const a = createCoapTransport(
      {
        serializer,
        openServerEndpoint: () => openUdpEndpoint(),
        openClientEndpoint: async () =>
          new LossyEndpoint(await openUdpEndpoint(), (direction, data) => {
            if (direction === 'out') sent.push(data.length);
            return false;
          }),
      },
      { client: { wholeBodyBytesMax: 1152 } },
    );
    openPairs.push({ a, b, close: () => a.client.close().then(() => b.server.stop()) });
    await b.server.start();
    a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
    b.server.setHandler(echoHandler());
    const request = append(9, 15_000);
    assert.equal((await a.client.send('b', request, 10_000)).lastLogIndex, 10);
    assert.equal(sent.length, Math.ceil(serializer.encode(request).length / 1024), 'one datagram per 1 KiB block');
    assert.ok(Math.max(...sent) <= 1024 + 128, `${Math.max(...sent)} bytes: each within one frame`);
  });

  it('hands the advertised address to the handler, and keeps a whole request within a CID record', async () => {
    const longest = `${'h'.repeat(PEER_ADDRESS_BYTES_MAX - 6)}:65535`;
    const cases: [string, string | undefined][] = [
      ['127.0.0.1:7001', '127.0.0.1:7001'],
      [longest, longest],
      [`h${longest}`, undefined],
    ];
    for (const [advertised, expected] of cases) {
      const b = createUdpCoapTransport({ serializer, listenAddress: '127.0.0.1', listenPort: 0 });
      const sent: number[] = [];
      const a = createCoapTransport(
        {
          serializer,
          openServerEndpoint: () => openUdpEndpoint(),
          openClientEndpoint: async () =>
            new LossyEndpoint(await openUdpEndpoint(), (direction, data) => {
              if (direction === 'out') sent.push(data.length);
              return false;
            }),
        },
        { advertisedAddress: advertised },
      );
      openPairs.push({ a, b, close: () => a.client.close().then(() => b.server.stop()) });
      await b.server.start();
      a.client.setPeers([{ id: 'b', address: `127.0.0.1:${b.server.localAddress().port}` }]);
      const seen: InboundContext[] = [];
      b.server.setHandler(echoHandler(() => 0, seen));
      const whole = append(9, Math.floor((PEER_WHOLE_BODY_BYTES_MAX * 3) / 4) - 300);
      assert.equal((await a.client.send('b', whole, 10_000)).lastLogIndex, 10);
      assert.equal(seen[0]?.peerAddress, expected, advertised);
      assert.equal(sent.length, 1);
      // A tls12_cid record holds 2^14 - 1 bytes of content (its real type takes one).
      assert.ok((sent[0] ?? 0) <= 16_383, `${sent[0]} bytes fit one DTLS record with a CID`);
    }
  });

  it('handles every request exactly once through 20% loss in each direction', async () => {
    const p = await pair({ client: { ackTimeoutMs: 20, maxRetransmit: 20, retransmitDelayMaxMs: 100 } }, 0.2);
    const handled = new Map<number, number>();
    const inner = echoHandler();
    p.b.server.setHandler(async (request, context) => {
      if (request.type === 'AppendEntriesRequest')
        handled.set(request.prevLogIndex, (handled.get(request.prevLogIndex) ?? 0) + 1);
      return inner(request, context);
    });
    const responses = await Promise.all(
      Array.from({ length: 60 }, (_, i) => p.a.client.send('b', append(i, i % 3 === 0 ? 4000 : 10), 30_000)),
    );
    responses.forEach((r, i) => assert.equal(r.lastLogIndex, i + 1));
    assert.equal(handled.size, 60);
    for (const [index, count] of handled) assert.equal(count, 1, `request ${index} handled once`);
    await p.close();
  });

  it('rejects with NET_TIMEOUT once the caller deadline has passed', async () => {
    const p = await pair();
    p.b.server.setHandler(() => new Promise<ResponseMessage>(() => undefined));
    const started = performance.now();
    await assert.rejects(p.a.client.send('b', append(1), 300), { name: 'NetworkError', code: 'NET_TIMEOUT' });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 299, `rejected after ${elapsed} ms, not before the deadline`);
    await p.close();
  });

  it('maps failures to NetworkError codes with the server diagnostic', async () => {
    const p = await pair({ server: { bodyBytesMax: 16 * 1024 } });
    let failure: Error = new NetworkError('NET_AUTH', 'claims to be c');
    p.b.server.setHandler(() => Promise.reject(failure));
    await assert.rejects(p.a.client.send('b', append(1), 2000), { code: 'NET_AUTH', message: /4\.01.*claims to be c/ });
    failure = new Error('boom');
    await assert.rejects(p.a.client.send('b', append(1), 2000), { code: 'NET_REJECTED', message: /5\.00.*boom/ });
    await assert.rejects(p.a.client.send('b', append(1, 20_000), 2000), { code: 'NET_TOO_LARGE', message: /4\.13/ });
    await assert.rejects(p.a.client.send('c', append(1), 2000), { code: 'NET_UNREACHABLE', message: /unknown peer c/ });
    assert.throws(() => p.a.client.setPeers([{ id: 'x', address: 'no-port' }]), { code: 'CONFIG_INVALID' });
    await p.close();
  });

  it('answers an undecodable body 4.00 with the codec diagnostic', async () => {
    const garbling: RpcSerializer = { ...serializer, encode: () => Buffer.from('{"not": "a message"}') };
    const p = await pair({}, 0, garbling);
    p.b.server.setHandler(echoHandler());
    await assert.rejects(p.a.client.send('b', append(1), 2000), {
      code: 'NET_REJECTED',
      message: /4\.00.*CODEC_MALFORMED/,
    });
    await p.close();
  });

  it('keeps answering after malformed datagrams', async () => {
    const p = await pair();
    p.b.server.setHandler(echoHandler());
    const socket = createSocket('udp4');
    const port = p.b.server.localAddress().port;
    const junk = [
      [],
      [0x40],
      [0x4f, 1, 2, 3],
      [0x40, 0x02, 0, 1, 0xff],
      [0x40, 0x02, 0, 2, 0xbf],
      Array.from({ length: 1400 }, (_, i) => i & 0xff),
    ];
    await Promise.all(
      junk.map(
        (bytes) =>
          new Promise<void>((resolve) => socket.send(Uint8Array.from(bytes), port, '127.0.0.1', () => resolve())),
      ),
    );
    socket.close();
    assert.equal((await p.a.client.send('b', append(5), 2000)).lastLogIndex, 5);
    await p.close();
  });

  it('hands the endpoint-authenticated identity to the handler, and answers a failed check 4.03', async () => {
    const network = new MemoryNetwork();
    const server = createCoapTransport({
      serializer,
      openServerEndpoint: () => Promise.resolve(network.open('10.0.0.1')),
      openClientEndpoint: () => Promise.resolve(network.open('10.0.0.1')),
    });
    const client = createCoapTransport({
      serializer,
      openServerEndpoint: () => Promise.resolve(network.open('10.0.0.2')),
      openClientEndpoint: () => Promise.resolve(network.open('10.0.0.2', 'node-a')),
    });
    const seen: InboundContext[] = [];
    const inner = echoHandler(() => 0, seen);
    server.server.setHandler((request, context) =>
      request.type === 'TimeoutNowRequest'
        ? Promise.reject(new NetworkError('NET_AUTH', 'identity mismatch'))
        : inner(request, context),
    );
    await server.server.start();
    const { address, port } = server.server.localAddress();
    client.client.setPeers([{ id: 'b', address: `${address}:${port}` }]);
    await client.client.send('b', append(1), 1000);
    assert.equal(seen[0]?.peerIdentity, 'node-a');
    await assert.rejects(client.client.send('b', { type: 'TimeoutNowRequest', term: 1, leaderId: 'a' }, 1000), {
      code: 'NET_AUTH',
      message: /4\.03/,
    });
    await client.client.close();
    await server.server.stop();
  });

  it('counts a refusal by a limit of the peer server in the metrics given to createPeerTransport', async () => {
    const counts: string[] = [];
    const metrics = {
      increment: (name: string, _n?: number, d?: object) => void counts.push(`${name}${JSON.stringify(d)}`),
      setGauge: () => undefined,
      observe: () => undefined,
      observeDurationMs: () => undefined,
      flush: () => Promise.resolve(),
    };
    const peer = createPeerTransport(
      { name: 'coap', listenAddress: '127.0.0.1', listenPort: 0, options: { server: { bodyBytesMax: 1024 } } },
      { serializer, metrics },
    );
    await peer.server.start();
    const socket = createSocket('udp4');
    const answered = new Promise<number>((resolve) => socket.once('message', (data) => resolve(data[1] ?? 0)));
    const oversize = encodeMessage({
      type: CoapType.CON,
      code: CoapMethodCode.POST,
      messageId: 1,
      token: Uint8Array.from([1]),
      options: [stringOption(CoapOption.UriPath, 'raft'), stringOption(CoapOption.UriPath, 'AppendEntries')],
      payload: new Uint8Array(1100),
    });
    socket.send(oversize, peer.server.localAddress().port, '127.0.0.1');
    assert.equal(formatCode(await answered), '4.13');
    socket.close();
    await peer.server.stop();
    assert.deepEqual(counts, ['coap_limit_refusals_total{"server":"peer","limit":"bodyBytesMax"}']);
  });
});
