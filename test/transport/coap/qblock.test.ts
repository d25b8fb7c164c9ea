// Proves Q-Block1 (RFC 9177 §4) between our client and our server on the in-memory network
// with virtual time: a 64 KiB body goes in payload sets of MAX_PAYLOADS blocks, so the client
// waits on 7 round trips instead of 64 (plus one probe the first time it meets a server); lost
// blocks come back through a 4.08 listing them and the body arrives intact; a server that
// answers the probe with 4.02 Bad Option gets the body again with Block1, and the client
// remembers that per server; `qblock1: false` keeps Block1. Each count is read from the
// datagrams on the wire.
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoapClient } from '../../../transport/coap/client.js';
import type { CoapClientOptions } from '../../../transport/coap/config.js';
import { CoapOption, CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import { decodeMessage, encodeMessage, type CoapMessage } from '../../../transport/coap/message.js';
import { decodeBlock, encodeBlock, firstOption, option } from '../../../transport/coap/options.js';
import type { Datagram } from '../memory-datagram.js';
import { serverHarness } from './harness.js';

function pattern(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

/** The decoded request messages the client sent, in order. */
function clientRequests(log: readonly Datagram[], clientAddress: string): CoapMessage[] {
  const out: CoapMessage[] = [];
  for (const d of log) {
    if (d.from.address !== clientAddress) continue;
    const decoded = decodeMessage(d.data);
    if (decoded.ok && decoded.message.code !== 0) out.push(decoded.message);
  }
  return out;
}

function qnum(m: CoapMessage): number {
  const value = firstOption(m.options, CoapOption.QBlock1);
  return value === null ? -1 : (decodeBlock(value)?.num ?? -1);
}

async function setup(options: Partial<CoapClientOptions> = {}) {
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
    options,
  );
  const put = (size: number) =>
    client.request(
      h.serverEndpoint.localAddress(),
      { method: 'PUT', path: ['kv', 'a'], payload: pattern(size) },
      10_000,
    );
  return { h, client, bodies, put };
}

describe('CoAP Q-Block1 (RFC 9177)', () => {
  it('sends a 64 KiB body in payload sets: 8 round trips with the probe, then 7, instead of 64', async () => {
    const { h, client, bodies, put } = await setup();
    const first = await put(65_536);
    assert.equal(first.code, CoapResponseCode.Changed);
    assert.ok(Buffer.from(bodies[0] ?? []).equals(pattern(65_536)));
    let sent = clientRequests(h.network.log, '10.0.0.3');
    assert.equal(sent.length, 64, 'each block once, nothing resent');
    const confirmable = sent.filter((m) => m.type === CoapType.CON).map(qnum);
    assert.deepEqual(confirmable, [0, 9, 19, 29, 39, 49, 59, 63], 'the probe, then the last block of each set');
    h.network.log.length = 0;
    await put(65_536);
    sent = clientRequests(h.network.log, '10.0.0.3');
    assert.deepEqual(
      sent.filter((m) => m.type === CoapType.CON).map(qnum),
      [9, 19, 29, 39, 49, 59, 63],
      'a known server gets no probe',
    );
    assert.ok(Buffer.from(bodies[1] ?? []).equals(pattern(65_536)));
    assert.equal(h.server.blockStats().block1HeldBytes, 0);
    await client.close();
  });

  it('recovers lost blocks through 4.08: the missing ones go again and the body arrives intact', async () => {
    const { h, client, bodies, put } = await setup();
    await put(4096); // learns that the server takes Q-Block1
    const dropped = new Set([3, 4, 15]);
    const answers: number[] = [];
    h.network.fate = (d) => {
      const decoded = decodeMessage(d.data);
      if (!decoded.ok) return 'deliver';
      if (d.from.address === '10.0.0.1') answers.push(decoded.message.code);
      const num = qnum(decoded.message);
      return d.from.address === '10.0.0.3' && dropped.delete(num) ? 'drop' : 'deliver';
    };
    h.network.log.length = 0;
    const response = await put(20_000);
    assert.equal(response.code, CoapResponseCode.Changed);
    assert.ok(Buffer.from(bodies[1] ?? []).equals(pattern(20_000)));
    assert.equal(dropped.size, 0);
    const incomplete = answers.filter((c) => c === CoapResponseCode.RequestEntityIncomplete).length;
    assert.equal(incomplete, 2, 'one 4.08 per set with holes');
    const resent = clientRequests(h.network.log, '10.0.0.3').map(qnum);
    assert.equal(resent.filter((n) => n === 3).length, 2);
    assert.equal(resent.filter((n) => n === 0).length, 1, 'blocks that arrived are not resent');
    await client.close();
  });

  it('delivers every body intact and handles each once through a network that drops and duplicates', async () => {
    // Property: whatever a seeded lossy network does to the datagrams, every request that gets
    // a response got it from exactly one run of the handler with the exact body sent.
    for (const seed of [1, 2, 3]) {
      const h = await serverHarness();
      const seen: string[] = [];
      h.server.addResource('/kv/*', {
        PUT: (r) => {
          seen.push(Buffer.from(r.payload).toString('base64'));
          return Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(r.path.join('/')) });
        },
      });
      const prng = new SeededPrng(seed);
      h.network.fate = () => {
        if (prng.chance(0.1)) return 'drop';
        if (prng.chance(0.05)) return 'duplicate';
        return 'deliver';
      };
      const client = new CoapClient(
        {
          openEndpoint: () => Promise.resolve(h.network.open('10.0.0.3')),
          timers: h.timers,
          prng: new SeededPrng(seed),
        },
        { ackTimeoutMs: 50, maxRetransmit: 10 },
      );
      const bodies = Array.from({ length: 6 }, (_, i) => pattern(20_000 + i * 7_777).map((b) => b ^ i));
      const results = bodies.map((payload, i) =>
        client.request(h.serverEndpoint.localAddress(), { method: 'PUT', path: ['kv', `k${i}`], payload }, 60_000),
      );
      for (let i = 0; i < 400 && client.outstandingCount > 0; i += 1) await h.timers.advance(50);
      // Every request succeeds: a rejection fails the test.
      const responses = await Promise.all(results);
      responses.forEach((r, i) => {
        assert.equal(Buffer.from(r.payload).toString(), `kv/k${i}`);
        const body = Buffer.from(bodies[i] ?? []).toString('base64');
        assert.equal(seen.filter((b) => b === body).length, 1, `seed ${seed}: body ${i} handled once, intact`);
      });
      assert.equal(seen.length, new Set(seen).size, 'no body handled twice');
      await client.close();
    }
  });

  it('falls back to Block1 when the server answers the probe with 4.02, and remembers it', async () => {
    const { h } = await setup();
    const seen: string[] = [];
    // A stand-in for a server without Q-Block1: 4.02 for option 19, plain Block1 otherwise.
    h.serverEndpoint.onMessage((data, peer) => {
      const decoded = decodeMessage(data);
      if (!decoded.ok || decoded.message.code === 0) return;
      const m = decoded.message;
      const b1 = firstOption(m.options, CoapOption.Block1);
      const block = b1 === null ? null : decodeBlock(b1);
      seen.push(qnum(m) >= 0 ? 'q' : 'b');
      const code =
        qnum(m) >= 0
          ? CoapResponseCode.BadOption
          : block?.more === true
            ? CoapResponseCode.Continue
            : CoapResponseCode.Changed;
      const extra = block === null ? [] : [option(CoapOption.Block1, encodeBlock(block))];
      const reply = { type: CoapType.ACK, code, messageId: m.messageId, token: m.token, options: extra };
      void h.serverEndpoint.send(encodeMessage({ ...reply, payload: new Uint8Array(0) }), peer.address, peer.port);
    });
    const client = new CoapClient({
      openEndpoint: () => Promise.resolve(h.network.open('10.0.0.3')),
      timers: h.timers,
      prng: new SeededPrng(5),
    });
    const target = h.serverEndpoint.localAddress();
    const put = () => client.request(target, { method: 'PUT', path: ['kv', 'a'], payload: pattern(3000) }, 10_000);
    assert.equal((await put()).code, CoapResponseCode.Changed);
    assert.deepEqual(seen, ['q', 'b', 'b', 'b'], 'the probe, then the whole body with Block1');
    seen.length = 0;
    assert.equal((await put()).code, CoapResponseCode.Changed);
    assert.deepEqual(seen, ['b', 'b', 'b'], 'no second probe');
    await client.close();
  });

  it('keeps Block1 with qblock1: false', async () => {
    const { h, client, put } = await setup({ qblock1: false });
    await put(4096);
    const sent = clientRequests(h.network.log, '10.0.0.3');
    assert.equal(sent.length, 4);
    assert.ok(sent.every((m) => m.type === CoapType.CON && qnum(m) === -1));
    await client.close();
  });
});
