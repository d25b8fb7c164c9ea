// Proves block-wise transfer (RFC 7959) on the in-memory network: the server's Block1
// reassembly answers 2.31 per block and hands the handler the whole body, keeps concurrent
// transfers apart by Request-Tag, and refuses what breaks its bounds (out-of-order block
// 4.08, body over bodyBytesMax 4.13 with Size1, too many transfers 5.03, an expired transfer
// 4.08); Block2 serves a large response block by block, statelessly for GET; Size2 in a request
// gets the body's size, and only the first block of an Observe registration carries Observe; and the client
// and server together move 64 KiB and 1 MiB bodies both ways, also when the server asks for
// smaller blocks than the client sent (late negotiation, RFC 7959 §2.5).
import { strict as assert } from 'node:assert';
import { CoapClient } from '../../../transport/coap/client.js';
import { CoapOption, CoapResponseCode, formatCode } from '../../../transport/coap/codes.js';
import {
  decodeBlock,
  decodeUint,
  encodeBlock,
  firstOption,
  option,
  uintOption,
} from '../../../transport/coap/options.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { request, serverHarness, text } from './harness.js';
import type { CoapRequest } from '../../../transport/coap/request.js';

function block1(num: number, more: boolean, szx = 6, tag?: number) {
  return [
    option(CoapOption.Block1, encodeBlock({ num, more, szx })),
    ...(tag === undefined ? [] : [option(CoapOption.RequestTag, Uint8Array.from([tag]))]),
  ];
}

function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) out[i] = (i * 31 + seed * 7 + (i >> 10)) & 0xff;
  return out;
}

describe('CoAP block-wise transfer', () => {
  it('reassembles Block1 blocks, answering 2.31 until the last and echoing Block1 on the final response', async () => {
    const h = await serverHarness();
    const bodies: number[] = [];
    h.server.addResource('/raft/AppendEntries', {
      POST: (r) => {
        bodies.push(r.payload.length);
        return Promise.resolve({ code: CoapResponseCode.Changed });
      },
    });
    const body = pattern(2500);
    await h.send(
      request({
        messageId: 1,
        options: [...block1(0, true), uintOption(CoapOption.Size1, 2500)],
        payload: body.subarray(0, 1024),
      }),
    );
    await h.send(request({ messageId: 2, options: block1(1, true), payload: body.subarray(1024, 2048) }));
    await h.send(request({ messageId: 3, options: block1(2, false), payload: body.subarray(2048) }));
    assert.deepEqual(
      h.received.map((m) => formatCode(m.code)),
      ['2.31', '2.31', '2.04'],
    );
    assert.deepEqual(decodeBlock(firstOption(h.received[2]?.options ?? [], CoapOption.Block1) ?? new Uint8Array()), {
      num: 2,
      more: false,
      szx: 6,
    });
    assert.deepEqual(bodies, [2500]);
  });

  it('keeps concurrent transfers to one resource apart by Request-Tag', async () => {
    const h = await serverHarness();
    const bodies: string[] = [];
    h.server.addResource('/raft/AppendEntries', {
      POST: (r) => {
        bodies.push(text(r.payload).slice(0, 1) + r.payload.length);
        return Promise.resolve({ code: CoapResponseCode.Changed });
      },
    });
    const a = Buffer.alloc(1500, 'a');
    const b = Buffer.alloc(1200, 'b');
    await h.send(
      request({
        messageId: 1,
        token: Uint8Array.from([1]),
        options: block1(0, true, 6, 1),
        payload: a.subarray(0, 1024),
      }),
    );
    await h.send(
      request({
        messageId: 2,
        token: Uint8Array.from([2]),
        options: block1(0, true, 6, 2),
        payload: b.subarray(0, 1024),
      }),
    );
    await h.send(
      request({
        messageId: 3,
        token: Uint8Array.from([2]),
        options: block1(1, false, 6, 2),
        payload: b.subarray(1024),
      }),
    );
    await h.send(
      request({
        messageId: 4,
        token: Uint8Array.from([1]),
        options: block1(1, false, 6, 1),
        payload: a.subarray(1024),
      }),
    );
    assert.deepEqual(bodies, ['b1200', 'a1500']);
  });

  it('refuses an out-of-order block with 4.08 and a body over bodyBytesMax with 4.13', async () => {
    const h = await serverHarness({ bodyBytesMax: 2048 });
    h.server.addResource('/raft/AppendEntries', { POST: () => Promise.resolve({ code: CoapResponseCode.Changed }) });
    await h.send(request({ messageId: 1, options: block1(1, true), payload: new Uint8Array(1024) }));
    await h.send(
      request({
        messageId: 2,
        options: [...block1(0, true), uintOption(CoapOption.Size1, 4096)],
        payload: new Uint8Array(1024),
      }),
    );
    await h.send(request({ messageId: 3, options: block1(0, true), payload: new Uint8Array(1024) }));
    await h.send(request({ messageId: 4, options: block1(1, true), payload: new Uint8Array(1024) }));
    await h.send(request({ messageId: 5, options: block1(2, false), payload: new Uint8Array(10) }));
    assert.deepEqual(
      h.received.map((m) => formatCode(m.code)),
      ['4.08', '4.13', '2.31', '2.31', '4.13'],
    );
    assert.deepEqual([...(firstOption(h.received[1]?.options ?? [], CoapOption.Size1) ?? [])], [8, 0]);
  });

  it('refuses a transfer beyond blockTransfersMax with 5.03 and forgets idle ones after their lifetime', async () => {
    const h = await serverHarness({ blockTransfersMax: 1, blockTransferLifetimeMs: 1000 });
    h.server.addResource('/raft/AppendEntries', { POST: () => Promise.resolve({ code: CoapResponseCode.Changed }) });
    await h.send(request({ messageId: 1, options: block1(0, true, 6, 1), payload: new Uint8Array(1024) }));
    await h.send(request({ messageId: 2, options: block1(0, true, 6, 2), payload: new Uint8Array(1024) }));
    await h.timers.advance(1000);
    await h.send(request({ messageId: 3, options: block1(1, false, 6, 1), payload: new Uint8Array(1) }));
    await h.send(request({ messageId: 4, options: block1(0, true, 6, 2), payload: new Uint8Array(1024) }));
    assert.deepEqual(
      h.received.map((m) => formatCode(m.code)),
      ['2.31', '5.03', '4.08', '2.31'],
    );
  });

  it('serves a large response as Block2 blocks, and a GET block by number without stored state', async () => {
    const h = await serverHarness();
    const body = pattern(3000);
    let runs = 0;
    h.server.addResource('/status', {
      GET: () => {
        runs += 1;
        return Promise.resolve({ code: CoapResponseCode.Content, payload: body, etag: Uint8Array.from([7]) });
      },
    });
    await h.send(request({ messageId: 1, method: 'GET', path: '/status' }));
    await h.send(
      request({
        messageId: 2,
        method: 'GET',
        path: '/status',
        options: [option(CoapOption.Block2, encodeBlock({ num: 1, more: false, szx: 6 }))],
      }),
    );
    await h.send(
      request({
        messageId: 3,
        method: 'GET',
        path: '/status',
        options: [option(CoapOption.Block2, encodeBlock({ num: 2, more: false, szx: 6 }))],
      }),
    );
    // A fresh client asks for block 1 at 512 bytes straight away: the handler runs again.
    await h.send(
      request({
        messageId: 4,
        token: Uint8Array.from([4]),
        method: 'GET',
        path: '/status',
        options: [option(CoapOption.Block2, encodeBlock({ num: 1, more: false, szx: 5 }))],
      }),
    );
    const blocks = h.received.map((m) => decodeBlock(firstOption(m.options, CoapOption.Block2) ?? new Uint8Array()));
    assert.deepEqual(blocks, [
      { num: 0, more: true, szx: 6 },
      { num: 1, more: true, szx: 6 },
      { num: 2, more: false, szx: 6 },
      { num: 1, more: true, szx: 5 },
    ]);
    assert.deepEqual(Buffer.concat(h.received.slice(0, 3).map((m) => m.payload)), Buffer.from(body));
    assert.deepEqual(Buffer.from(h.received[3]?.payload ?? []), Buffer.from(body.subarray(512, 1024)));
    assert.equal(runs, 2);
  });

  it('answers the later blocks of an Observe registration without Observe (RFC 7959 §2.6)', async () => {
    const h = await serverHarness();
    h.server.addResource('/status', {
      GET: () =>
        Promise.resolve({
          code: CoapResponseCode.Content,
          payload: pattern(3000),
          etag: Uint8Array.from([7]),
          observe: 5,
        }),
    });
    const block2 = (num: number) => option(CoapOption.Block2, encodeBlock({ num, more: false, szx: 6 }));
    await h.send(
      request({ messageId: 1, method: 'GET', path: '/status', options: [uintOption(CoapOption.Observe, 0)] }),
    );
    await h.send(request({ messageId: 2, method: 'GET', path: '/status', options: [block2(1)] }));
    await h.send(request({ messageId: 3, method: 'GET', path: '/status', options: [block2(2)] }));
    const observes = h.received.map((m) => {
      const value = firstOption(m.options, CoapOption.Observe);
      return value === null ? null : decodeUint(value, 3);
    });
    assert.deepEqual(observes, [5, null, null]);
    assert.equal(Buffer.concat(h.received.map((m) => m.payload)).length, 3000);
  });

  it('answers Size2 in a request with the size of the body, whole or in blocks (RFC 7959 §4)', async () => {
    const h = await serverHarness();
    h.server.addResource('/small', {
      GET: () => Promise.resolve({ code: CoapResponseCode.Content, payload: pattern(5) }),
    });
    h.server.addResource('/large', {
      GET: () =>
        Promise.resolve({ code: CoapResponseCode.Content, payload: pattern(3000), etag: Uint8Array.from([7]) }),
    });
    const size2 = uintOption(CoapOption.Size2, 0);
    await h.send(request({ messageId: 1, method: 'GET', path: '/small', options: [size2] }));
    await h.send(request({ messageId: 2, method: 'GET', path: '/large', options: [size2] }));
    await h.send(request({ messageId: 3, method: 'GET', path: '/small' }));
    const sizes = h.received.map((m) => {
      const value = firstOption(m.options, CoapOption.Size2);
      return value === null ? null : decodeUint(value, 4);
    });
    assert.deepEqual(sizes, [5, 3000, null]);
    assert.equal(h.received[0]?.payload.length, 5);
  });

  for (const [name, size, qblock1] of [
    ['64 KiB', 64 * 1024, false],
    ['1 MiB', 1024 * 1024, false],
    ['64 KiB', 64 * 1024, true],
    ['1 MiB', 1024 * 1024, true],
  ] as const) {
    const how = qblock1 ? 'Q-Block1' : 'Block1';
    it(`moves a ${name} request body (${how}) and a ${name} response body between client and server`, async () => {
      const h = await serverHarness();
      let received: Uint8Array = new Uint8Array(0);
      h.server.addResource('/raft/InstallSnapshot', {
        POST: (r: CoapRequest) => {
          received = r.payload;
          return Promise.resolve({ code: CoapResponseCode.Changed, payload: pattern(size, 2) });
        },
      });
      const client = new CoapClient(
        { openEndpoint: () => Promise.resolve(h.network.open('10.0.0.3')), timers: h.timers, prng: new SeededPrng(1) },
        { qblock1 },
      );
      const response = await client.request(
        h.serverEndpoint.localAddress(),
        { method: 'POST', path: ['raft', 'InstallSnapshot'], payload: pattern(size, 1) },
        60_000,
      );
      assert.ok(Buffer.from(received).equals(pattern(size, 1)), 'request body intact');
      assert.ok(Buffer.from(response.payload).equals(pattern(size, 2)), 'response body intact');
      assert.equal(response.code, CoapResponseCode.Changed);
      await client.close();
    });
  }

  it('follows a server that asks for smaller Block1 blocks', async () => {
    const h = await serverHarness();
    const wire = h.network.open('10.0.0.9');
    const client = new CoapClient(
      { openEndpoint: () => Promise.resolve(wire), timers: h.timers, prng: new SeededPrng(2) },
      { qblock1: false },
    );
    // A stand-in server that takes 1024 bytes, then asks for 256-byte blocks.
    const seen: { num: number; szx: number; bytes: number }[] = [];
    h.serverEndpoint.onMessage((data, peer) => void answerSmall(data, peer));
    const { decodeMessage, encodeMessage } = await import('../../../transport/coap/message.js');
    async function answerSmall(data: Uint8Array, peer: { address: string; port: number }): Promise<void> {
      const decoded = decodeMessage(data);
      if (!decoded.ok) return;
      const m = decoded.message;
      const b = decodeBlock(firstOption(m.options, CoapOption.Block1) ?? new Uint8Array());
      if (b === null) return;
      seen.push({ num: b.num, szx: b.szx, bytes: m.payload.length });
      const code = b.more ? CoapResponseCode.Continue : CoapResponseCode.Changed;
      const reply = encodeMessage({
        type: 2,
        code,
        messageId: m.messageId,
        token: m.token,
        options: [option(CoapOption.Block1, encodeBlock({ num: b.num, more: b.more, szx: 4 }))],
        payload: new Uint8Array(0),
      });
      await h.serverEndpoint.send(reply, peer.address, peer.port);
    }
    const response = await client.request(
      h.serverEndpoint.localAddress(),
      { method: 'POST', path: ['x'], payload: new Uint8Array(2048) },
      10_000,
    );
    assert.equal(response.code, CoapResponseCode.Changed);
    assert.deepEqual(seen.slice(0, 3), [
      { num: 0, szx: 6, bytes: 1024 },
      { num: 4, szx: 4, bytes: 256 },
      { num: 5, szx: 4, bytes: 256 },
    ]);
    assert.equal(
      seen.reduce((sum, s) => sum + s.bytes, 0),
      2048,
    );
    await client.close();
  });
});
