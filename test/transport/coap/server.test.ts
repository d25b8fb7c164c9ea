// Proves the CoAP server's message layer byte by byte, on the in-memory network with virtual
// time: piggybacked responses; duplicate detection (a retransmitted request is answered from
// the cache and its handler runs once; the same message id with another token is a new
// request); RST for pings, malformed and unexpected CONs and silence otherwise; the error
// responses (4.04, 4.05, 4.02, 5.05, 4.13, 5.00 also for a handler that throws at once, 5.03)
// with diagnostics; answers through the endpoint's `post` where it has one; the hooks the local
// endpoint will build on (conditional requests, notifications and their RST); restarting;
// and that arbitrary datagrams never crash it and leave it answering.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { CoapOption, CoapResponseCode, CoapType, formatCode } from '../../../transport/coap/codes.js';
import { firstOption, option, uintOption } from '../../../transport/coap/options.js';
import { failedPrecondition, validResponse } from '../../../transport/coap/conditions.js';
import { diagnosticResponse, type CoapRequest, type CoapResponse } from '../../../transport/coap/request.js';
import { decodeMessage } from '../../../transport/coap/message.js';
import { CoapServer } from '../../../transport/coap/server.js';
import type { DatagramEndpoint, DatagramHandler } from '../../../transport/datagram.js';
import { settle, VirtualTimers } from '../virtual-timers.js';
import { request, serverHarness, text } from './harness.js';
import { fcParams } from '../../fc-params.js';

const echo = {
  POST: (r: { payload: Uint8Array }) => Promise.resolve({ code: CoapResponseCode.Changed, payload: r.payload }),
};

describe('CoapServer', () => {
  it('answers a confirmable request with a piggybacked ACK carrying token and message id', async () => {
    const h = await serverHarness();
    h.server.addResource('/raft/AppendEntries', echo);
    await h.send(request({ messageId: 77, token: Uint8Array.from([9, 9]), payload: Buffer.from('hi') }));
    assert.equal(h.received.length, 1);
    const [response] = h.received;
    assert.equal(response?.type, CoapType.ACK);
    assert.equal(response?.messageId, 77);
    assert.deepEqual([...(response?.token ?? [])], [9, 9]);
    assert.equal(formatCode(response?.code ?? 0), '2.04');
    assert.equal(text(response?.payload ?? new Uint8Array()), 'hi');
  });

  it('answers a non-confirmable request with a NON response', async () => {
    const h = await serverHarness();
    h.server.addResource('/raft/AppendEntries', echo);
    await h.send(request({ type: CoapType.NON, messageId: 5, payload: Buffer.from('x') }));
    assert.equal(h.received[0]?.type, CoapType.NON);
    assert.equal(h.received[0]?.code, CoapResponseCode.Changed);
  });

  it('runs the handler once for a retransmitted request and replays the cached response', async () => {
    const h = await serverHarness();
    let runs = 0;
    h.server.addResource('/raft/AppendEntries', {
      POST: () => Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(`run ${++runs}`) }),
    });
    const datagram = request({ messageId: 1000, payload: Buffer.from('a') });
    await h.send(datagram);
    await h.send(datagram);
    await h.send(datagram);
    assert.equal(runs, 1);
    assert.equal(h.received.length, 3);
    for (const response of h.received) assert.equal(text(response.payload), 'run 1');
    assert.equal(h.server.stats.duplicates, 2);
  });

  it('ignores a duplicate whose handler is still running, then answers once', async () => {
    const h = await serverHarness();
    let release: () => void = () => undefined;
    let runs = 0;
    h.server.addResource('/raft/AppendEntries', {
      POST: () => {
        runs += 1;
        return new Promise((resolve) => {
          release = () => resolve({ code: CoapResponseCode.Changed });
        });
      },
    });
    const datagram = request({ messageId: 3 });
    await h.send(datagram);
    await h.send(datagram);
    assert.equal(h.received.length, 0);
    release();
    await h.send(new Uint8Array(0)); // settles; an empty datagram is dropped as malformed
    assert.equal(runs, 1);
    assert.equal(h.received.length, 1);
  });

  it('treats a reused message id with another token as a new request', async () => {
    const h = await serverHarness();
    let runs = 0;
    h.server.addResource('/raft/AppendEntries', {
      POST: () => Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(`run ${++runs}`) }),
    });
    await h.send(request({ messageId: 8, token: Uint8Array.from([1]) }));
    await h.send(request({ messageId: 8, token: Uint8Array.from([2]) }));
    assert.equal(runs, 2);
    assert.deepEqual(
      h.received.map((m) => text(m.payload)),
      ['run 1', 'run 2'],
    );
  });

  it('forgets requests after the duplicate cache lifetime', async () => {
    const h = await serverHarness({ duplicateCacheLifetimeMs: 1000 });
    let runs = 0;
    h.server.addResource('/raft/AppendEntries', {
      POST: () => Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(`${++runs}`) }),
    });
    const datagram = request({ messageId: 4 });
    await h.send(datagram);
    await h.timers.advance(999);
    await h.send(datagram);
    assert.equal(runs, 1);
    await h.timers.advance(1);
    await h.send(datagram);
    assert.equal(runs, 2);
  });

  it('answers a CoAP ping and an unexpected CON response with RST, and ignores other strays', async () => {
    const h = await serverHarness();
    await h.send(Uint8Array.from([0x40, 0x00, 0x12, 0x34])); // empty CON: ping
    await h.send(Uint8Array.from([0x40, 0x44, 0x00, 0x07])); // a CON 2.04 response
    await h.send(Uint8Array.from([0x60, 0x00, 0x00, 0x08])); // empty ACK
    await h.send(Uint8Array.from([0x50, 0x44, 0x00, 0x09])); // a NON response
    assert.deepEqual(
      h.received.map((m) => [m.type, m.messageId, m.code]),
      [
        [CoapType.RST, 0x1234, 0],
        [CoapType.RST, 7, 0],
      ],
    );
  });

  it('answers a malformed CON with RST and drops a malformed NON silently', async () => {
    const h = await serverHarness();
    await h.send(Uint8Array.from([0x40, 0x02, 0x00, 0x21, 0xff])); // marker without payload
    await h.send(Uint8Array.from([0x50, 0x02, 0x00, 0x22, 0xff]));
    assert.deepEqual(
      h.received.map((m) => [m.type, m.messageId]),
      [[CoapType.RST, 0x21]],
    );
    assert.equal(h.server.stats.malformed, 2);
  });

  it('answers unknown paths 4.04, wrong methods 4.05, unknown critical options 4.02 and proxying 5.05', async () => {
    const h = await serverHarness();
    h.server.addResource('/raft/AppendEntries', echo);
    await h.send(request({ messageId: 1, path: '/raft/x' }));
    await h.send(request({ messageId: 2, method: 'GET' }));
    await h.send(request({ messageId: 3, options: [option(2049 + 2, Uint8Array.from([1]))] }));
    await h.send(request({ messageId: 4, options: [option(CoapOption.ProxyUri, Buffer.from('coap://x/'))] }));
    await h.send(request({ messageId: 5, options: [option(2048, Uint8Array.from([1]))], payload: Buffer.from('ok') }));
    assert.deepEqual(
      h.received.map((m) => formatCode(m.code)),
      ['4.04', '4.05', '4.02', '5.05', '2.04'],
    );
    for (const m of h.received.slice(0, 4)) assert.ok(m.payload.length > 0, 'errors carry a diagnostic');
  });

  it('answers 4.13 with Size1 to a single-datagram body over the limit', async () => {
    const h = await serverHarness({ bodyBytesMax: 1024 });
    h.server.addResource('/raft/AppendEntries', echo);
    await h.send(request({ messageId: 1, payload: new Uint8Array(1025) }));
    assert.equal(formatCode(h.received[0]?.code ?? 0), '4.13');
    assert.deepEqual([...(firstOption(h.received[0]?.options ?? [], CoapOption.Size1) ?? [])], [4, 0]);
  });

  it('answers 5.00 with the message when the handler throws', async () => {
    const h = await serverHarness();
    h.server.addResource('/raft/AppendEntries', { POST: () => Promise.reject(new Error('disk on fire')) });
    await h.send(request({ messageId: 1 }));
    assert.equal(formatCode(h.received[0]?.code ?? 0), '5.00');
    assert.match(text(h.received[0]?.payload ?? new Uint8Array()), /disk on fire/);
  });

  it('answers 5.00 when the handler throws before returning a promise, and counts it in flight no longer', async () => {
    const h = await serverHarness({ requestsInFlightMax: 1 });
    h.server.addResource('/raft/AppendEntries', {
      POST: () => {
        throw new Error('no promise at all');
      },
    });
    await h.send(request({ messageId: 1 }));
    await h.send(request({ messageId: 2 }));
    assert.deepEqual(
      h.received.map((m) => [m.messageId, formatCode(m.code)]),
      [
        [1, '5.00'],
        [2, '5.00'],
      ],
    );
    assert.match(text(h.received[1]?.payload ?? new Uint8Array()), /no promise at all/);
  });

  it("answers through the endpoint's post when it has one, counting the failures it reports", async () => {
    const posted: Uint8Array[] = [];
    let deliver: DatagramHandler = () => undefined;
    const endpoint: DatagramEndpoint = {
      send: () => Promise.reject(new Error('send is not used where post is')),
      post: (data, _address, _port, onFailure) => {
        posted.push(data);
        if (posted.length === 2) onFailure(new Error('no buffer space'));
      },
      onMessage: (handler) => void (deliver = handler),
      localAddress: () => ({ address: '127.0.0.1', port: 5683 }),
      close: () => Promise.resolve(),
    };
    const server = new CoapServer({ openEndpoint: () => Promise.resolve(endpoint), timers: new VirtualTimers() });
    server.addResource('/raft/AppendEntries', echo);
    await server.start();
    const peer = { address: '127.0.0.1', port: 40000, identity: null };
    // Each its own token: two requests in progress with one token are refused (tokens-in-progress.test.ts).
    deliver(request({ messageId: 1, token: Uint8Array.from([1]), payload: Uint8Array.from([1]) }), peer);
    deliver(request({ messageId: 2, token: Uint8Array.from([2]), payload: Uint8Array.from([2]) }), peer);
    await settle();
    assert.deepEqual(
      posted.map((p) => decodeMessage(p)).map((d) => (d.ok ? [d.message.messageId, [...d.message.payload]] : null)),
      [
        [1, [1]],
        [2, [2]],
      ],
    );
    assert.equal(server.stats.sendFailures, 1);
    await server.stop();
  });

  it('answers 5.03 beyond requestsInFlightMax', async () => {
    const h = await serverHarness({ requestsInFlightMax: 2 });
    h.server.addResource('/raft/AppendEntries', { POST: () => new Promise(() => undefined) });
    for (let id = 1; id <= 3; id += 1) await h.send(request({ messageId: id, token: Uint8Array.from([id]) }));
    assert.deepEqual(
      h.received.map((m) => [m.messageId, formatCode(m.code)]),
      [[3, '5.03']],
    );
    const busy = h.received[0];
    assert.ok(busy !== undefined);
    // RFC 7252 §5.9.3.4: Max-Age says when to retry; without it a client would wait its default 60 s.
    assert.deepEqual([...(firstOption(busy.options, CoapOption.MaxAge) ?? [])], [1]);
    assert.match(text(busy.payload), /too many requests in progress; this one did not run, retry later/);
    assert.equal(h.server.stats.busy, 1);
  });

  it('passes method, path, query, options, token and peer identity to the handler', async () => {
    const h = await serverHarness({}, 'node-7');
    let seen: unknown = null;
    h.server.addResource('/kv/*', {
      PUT: (r) => {
        seen = {
          method: r.method,
          path: r.path,
          query: r.query,
          format: r.contentFormat,
          ifMatch: r.ifMatch.map((v) => [...v]),
          ifNoneMatch: r.ifNoneMatch,
          identity: r.peer.identity,
        };
        return Promise.resolve({
          ...diagnosticResponse(CoapResponseCode.Created, ''),
          etag: Uint8Array.from([5]),
          maxAge: 0,
        });
      },
    });
    await h.send(
      request({
        messageId: 1,
        method: 'PUT',
        path: '/kv/a/b',
        options: [
          option(CoapOption.IfMatch, Uint8Array.from([1, 2])),
          option(CoapOption.IfNoneMatch, new Uint8Array(0)),
          uintOption(CoapOption.ContentFormat, 60),
          option(CoapOption.UriQuery, Buffer.from('stale=1')),
        ],
      }),
    );
    assert.deepEqual(seen, {
      method: 'PUT',
      path: ['kv', 'a', 'b'],
      query: ['stale=1'],
      format: 60,
      ifMatch: [[1, 2]],
      ifNoneMatch: true,
      identity: 'node-7',
    });
    assert.equal(formatCode(h.received[0]?.code ?? 0), '2.01');
    assert.deepEqual([...(firstOption(h.received[0]?.options ?? [], CoapOption.ETag) ?? [])], [5]);
  });

  it('survives arbitrary datagrams and still answers afterwards', async () => {
    const h = await serverHarness();
    h.server.addResource('/raft/AppendEntries', echo);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 3 }), async (tail, type) => {
        await h.send(Uint8Array.from([0x40 | (type << 4) | (tail.length % 9), ...tail]));
        await h.send(tail);
      }),
      fcParams(300),
    );
    h.received.length = 0;
    await h.send(
      request({ messageId: 0xbeef, token: Uint8Array.from([0xaa, 0xbb, 0xcc]), payload: Buffer.from('still here') }),
    );
    assert.equal(text(h.received.at(-1)?.payload ?? new Uint8Array()), 'still here');
  });

  it('evaluates If-Match, If-None-Match and ETag validation against the current entity-tag', async () => {
    const h = await serverHarness();
    let current: Uint8Array | null = Uint8Array.from([1]);
    const answer = (r: CoapRequest): Promise<CoapResponse> =>
      Promise.resolve(
        failedPrecondition(r, current) ??
          validResponse(r, current) ?? { code: CoapResponseCode.Content, payload: Buffer.from('v') },
      );
    h.server.addResource('/kv/*', { GET: answer, PUT: answer });
    const put = (id: number, options: ReturnType<typeof option>[]) =>
      h.send(request({ messageId: id, token: Uint8Array.from([id]), method: 'PUT', path: '/kv/k', options }));
    await put(1, [option(CoapOption.IfMatch, Uint8Array.from([1]))]);
    await put(2, [option(CoapOption.IfMatch, Uint8Array.from([2]))]);
    await put(3, [option(CoapOption.IfMatch, new Uint8Array(0))]);
    await put(4, [option(CoapOption.IfNoneMatch, new Uint8Array(0))]);
    await h.send(
      request({
        messageId: 5,
        token: Uint8Array.from([5]),
        method: 'GET',
        path: '/kv/k',
        options: [option(CoapOption.ETag, Uint8Array.from([1]))],
      }),
    );
    current = null;
    await put(6, [option(CoapOption.IfNoneMatch, new Uint8Array(0))]);
    await put(7, [option(CoapOption.IfMatch, new Uint8Array(0))]);
    assert.deepEqual(
      h.received.map((m) => formatCode(m.code)),
      ['2.05', '4.12', '2.05', '4.12', '2.03', '2.05', '4.12'],
    );
  });

  it('sends notifications outside an exchange and reports a client RST to the listener', async () => {
    const h = await serverHarness();
    const resets: number[] = [];
    h.server.onReset((_peer, messageId) => resets.push(messageId));
    const { messageId } = await h.server.notify(
      { address: h.wire.address, port: h.wire.port, identity: null },
      Uint8Array.from([7, 7]),
      { code: CoapResponseCode.Content, observe: 5, payload: Buffer.from('n') },
    );
    await h.send(new Uint8Array(0));
    assert.equal(h.received[0]?.type, CoapType.NON);
    assert.equal(h.received[0]?.messageId, messageId);
    assert.deepEqual([...(firstOption(h.received[0]?.options ?? [], CoapOption.Observe) ?? [])], [5]);
    await h.send(Uint8Array.from([0x70, 0x00, messageId >> 8, messageId & 0xff]));
    assert.deepEqual(resets, [messageId]);
  });

  it('stops, forgets its caches, and serves again after a restart', async () => {
    const h = await serverHarness();
    let runs = 0;
    h.server.addResource('/raft/AppendEntries', {
      POST: () => Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(`${++runs}`) }),
    });
    await h.send(request({ messageId: 1 }));
    const firstPort = h.serverEndpoint.port;
    await h.server.stop();
    assert.equal(h.server.isRunning(), false);
    await h.server.start();
    assert.notEqual(h.serverEndpoint.port, firstPort);
    // The same message id and token again: a new request, since the cache was forgotten.
    await h.send(request({ messageId: 1 }));
    assert.deepEqual(
      h.received.map((m) => text(m.payload)),
      ['1', '2'],
    );
  });
});
