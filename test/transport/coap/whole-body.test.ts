// Proves request bodies sent whole, in one message, where one datagram holds them
// (wholeBodyBytesMax): a 4 KiB body reaches the handler in one request instead of four
// Block1 round trips; a body over the option still goes block-wise; a server that answers a
// whole body with 4.13 and a Block1 size (RFC 7959 §2.9.3) gets it again block-wise from block
// 0; and the server refuses a whole body over its bodyBytesMax with 4.13 and Size1 before any
// handler runs, counting it by the limit's name.
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoapClient } from '../../../transport/coap/client.js';
import { CoapOption, CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import { decodeMessage, encodeMessage } from '../../../transport/coap/message.js';
import { decodeBlock, decodeUint, encodeBlock, firstOption, option } from '../../../transport/coap/options.js';
import { request, serverHarness } from './harness.js';

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

async function upload(size: number, wholeBodyBytesMax?: number) {
  const h = await serverHarness();
  const bodies: Uint8Array[] = [];
  h.server.addResource('/kv/*', {
    PUT: (r) => {
      bodies.push(r.payload);
      return Promise.resolve({ code: CoapResponseCode.Changed });
    },
  });
  const client = new CoapClient(
    { openEndpoint: () => Promise.resolve(h.network.open('10.0.0.3')), timers: h.timers, prng: new SeededPrng(4) },
    wholeBodyBytesMax === undefined ? {} : { wholeBodyBytesMax },
  );
  const response = await client.request(
    h.serverEndpoint.localAddress(),
    { method: 'PUT', path: ['kv', 'a'], payload: pattern(size) },
    10_000,
  );
  await client.close();
  return { response, bodies, requests: h.server.stats.requests };
}

describe('CoAP request bodies sent whole', () => {
  it('sends a 4 KiB body in one request when wholeBodyBytesMax allows, else in four Block1 blocks', async () => {
    const whole = await upload(4096, 8192);
    assert.equal(whole.response.code, CoapResponseCode.Changed);
    assert.equal(whole.requests, 1, 'one request, no 2.31 round trips');
    assert.equal(whole.bodies.length, 1);
    assert.ok(Buffer.from(whole.bodies[0] ?? []).equals(pattern(4096)));
    const blocks = await upload(4096);
    assert.equal(blocks.requests, 4, 'the default goes block-wise');
    assert.ok(Buffer.from(blocks.bodies[0] ?? []).equals(pattern(4096)));
  });

  it('sends a body over wholeBodyBytesMax block-wise', async () => {
    const over = await upload(9000, 8192);
    assert.equal(over.requests, 9);
    assert.ok(Buffer.from(over.bodies[0] ?? []).equals(pattern(9000)));
  });

  it('sends a whole body again block-wise when the server answers 4.13 with a Block1 size', async () => {
    const h = await serverHarness();
    const seen: { block: ReturnType<typeof decodeBlock>; bytes: number }[] = [];
    // A stand-in server that takes only 512-byte blocks.
    h.serverEndpoint.onMessage((data, peer) => {
      const decoded = decodeMessage(data);
      if (!decoded.ok) return;
      const m = decoded.message;
      const value = firstOption(m.options, CoapOption.Block1);
      const block = value === null ? null : decodeBlock(value);
      seen.push({ block, bytes: m.payload.length });
      const code =
        block === null
          ? CoapResponseCode.RequestEntityTooLarge
          : block.more
            ? CoapResponseCode.Continue
            : CoapResponseCode.Changed;
      const reply = encodeMessage({
        type: CoapType.ACK,
        code,
        messageId: m.messageId,
        token: m.token,
        options: [option(CoapOption.Block1, encodeBlock({ num: block?.num ?? 0, more: block?.more ?? false, szx: 5 }))],
        payload: new Uint8Array(0),
      });
      void h.serverEndpoint.send(reply, peer.address, peer.port);
    });
    const client = new CoapClient(
      { openEndpoint: () => Promise.resolve(h.network.open('10.0.0.4')), timers: h.timers, prng: new SeededPrng(5) },
      { wholeBodyBytesMax: 8192 },
    );
    const response = await client.request(
      h.serverEndpoint.localAddress(),
      { method: 'PUT', path: ['kv', 'a'], payload: pattern(1536) },
      10_000,
    );
    assert.equal(response.code, CoapResponseCode.Changed);
    assert.deepEqual(seen, [
      { block: null, bytes: 1536 },
      { block: { num: 0, more: true, szx: 5 }, bytes: 512 },
      { block: { num: 1, more: true, szx: 5 }, bytes: 512 },
      { block: { num: 2, more: false, szx: 5 }, bytes: 512 },
    ]);
    await client.close();
  });

  it('refuses a whole body over bodyBytesMax with 4.13 and Size1 before the handler runs', async () => {
    const h = await serverHarness({ bodyBytesMax: 2048 });
    let runs = 0;
    h.server.addResource('/kv/*', {
      PUT: () => {
        runs += 1;
        return Promise.resolve({ code: CoapResponseCode.Changed });
      },
    });
    await h.send(request({ method: 'PUT', messageId: 1, path: '/kv/a', payload: pattern(2049) }));
    await h.send(request({ method: 'PUT', messageId: 2, path: '/kv/a', payload: pattern(2048) }));
    assert.equal(h.received[0]?.code, CoapResponseCode.RequestEntityTooLarge);
    assert.equal(decodeUint(firstOption(h.received[0]?.options ?? [], CoapOption.Size1) ?? new Uint8Array(), 4), 2048);
    assert.equal(h.received[1]?.code, CoapResponseCode.Changed);
    assert.equal(runs, 1, 'only the body within the bound reached the handler');
    assert.equal(h.server.stats.limitRefusals['bodyBytesMax'], 1);
  });
});
