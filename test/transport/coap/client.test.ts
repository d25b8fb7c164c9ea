// Proves the CoAP client's exchange layer on the in-memory network with virtual time, so that
// every timing claim is exact: many requests outstanding to one server are matched to their
// responses by token whatever order those come in; a request's deadline is honoured to the
// millisecond (NET_TIMEOUT at the deadline, not before) whatever CoAP's own timers say; a lost
// datagram is retransmitted with doubling back-off, at most maxRetransmit times and never past
// the deadline; the outstanding bound refuses at once; RST, empty ACK + separate response,
// stray responses and close all behave as RFC 7252 says.
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import { CoapClient } from '../../../transport/coap/client.js';
import { CoapOption, CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import type { CoapClientOptions } from '../../../transport/coap/config.js';
import { decodeMessage, encodeMessage } from '../../../transport/coap/message.js';
import { firstOption } from '../../../transport/coap/options.js';
import { MemoryNetwork, type MemoryEndpoint } from '../memory-datagram.js';
import { VirtualTimers, settle } from '../virtual-timers.js';
import { serverHarness, text } from './harness.js';

const post = (payload: string) => ({
  method: 'POST' as const,
  path: ['raft', 'AppendEntries'],
  payload: Buffer.from(payload),
});

/** A client and a raw peer endpoint that records what reaches it. */
function clientAndPeer(options: Partial<CoapClientOptions> = {}) {
  const network = new MemoryNetwork();
  const timers = new VirtualTimers();
  const peer = network.open('10.0.0.1');
  const arrivals: { at: number; messageId: number; data: Uint8Array; from: { address: string; port: number } }[] = [];
  peer.onMessage((data, from) => {
    const decoded = decodeMessage(data);
    if (decoded.ok) arrivals.push({ at: timers.nowMs(), messageId: decoded.message.messageId, data, from });
  });
  const client = new CoapClient(
    { openEndpoint: () => Promise.resolve(network.open('10.0.0.2')), timers, prng: new SeededPrng(3) },
    { ackRandomFactor: 1, ...options },
  );
  return { network, timers, peer, arrivals, client };
}

async function reply(
  peer: MemoryEndpoint,
  to: { data: Uint8Array; from: { address: string; port: number } },
  type: CoapType,
  code: number,
  payload = '',
): Promise<void> {
  const decoded = decodeMessage(to.data);
  assert.ok(decoded.ok);
  const m = decoded.message;
  const empty = code === 0;
  await peer.send(
    encodeMessage({
      type,
      code,
      messageId: m.messageId,
      token: empty ? new Uint8Array(0) : m.token,
      options: [],
      payload: Buffer.from(payload),
    }),
    to.from.address,
    to.from.port,
  );
}

describe('CoapClient', () => {
  it('matches 64 outstanding requests to responses that come back in reverse order', async () => {
    const { peer, arrivals, client } = clientAndPeer();
    const results = Array.from({ length: 64 }, (_, i) => client.request(peer.localAddress(), post(`req ${i}`), 5000));
    await settle();
    assert.equal(arrivals.length, 64);
    assert.equal(client.outstandingCount, 64);
    for (const arrival of [...arrivals].reverse()) {
      const m = decodeMessage(arrival.data);
      assert.ok(m.ok);
      await reply(peer, arrival, CoapType.ACK, CoapResponseCode.Changed, `answer to ${text(m.message.payload)}`);
    }
    const responses = await Promise.all(results);
    responses.forEach((r, i) => assert.equal(text(r.payload), `answer to req ${i}`));
    assert.equal(client.outstandingCount, 0);
  });

  it('rejects with NET_TIMEOUT exactly at the deadline, and retransmits with doubling back-off before it', async () => {
    const { timers, peer, arrivals, client } = clientAndPeer({ ackTimeoutMs: 100, maxRetransmit: 4 });
    let outcome: unknown = 'pending';
    client.request(peer.localAddress(), post('x'), 1000).then(
      (r) => {
        outcome = r;
      },
      (e: unknown) => {
        outcome = e;
      },
    );
    await timers.advance(999);
    assert.equal(outcome, 'pending');
    // Sent at 0, then after 100, 200 and 400 ms more; the next (800 ms later) would pass the deadline.
    assert.deepEqual(
      arrivals.map((a) => a.at),
      [0, 100, 300, 700],
    );
    assert.equal(new Set(arrivals.map((a) => a.messageId)).size, 1, 'a retransmission keeps its message id');
    await timers.advance(1);
    assert.equal((outcome as { code?: string }).code, 'NET_TIMEOUT');
    assert.equal(timers.pendingCount, 0, 'no timer left behind');
  });

  it('scales the first retransmission to a short deadline and stops after maxRetransmit', async () => {
    const { timers, peer, arrivals, client } = clientAndPeer({
      ackTimeoutMs: 2000,
      ackTimeoutMinMs: 10,
      maxRetransmit: 2,
    });
    const result = client.request(peer.localAddress(), post('x'), 200).catch((e: unknown) => e);
    await timers.advance(200);
    // A quarter of 200 ms, then doubled; the third retransmission is not allowed.
    assert.deepEqual(
      arrivals.map((a) => a.at),
      [0, 50, 150],
    );
    assert.equal(((await result) as { code: string }).code, 'NET_TIMEOUT');
  });

  it('completes when a retransmission is answered after the first copy was lost', async () => {
    const { network, timers, peer, arrivals, client } = clientAndPeer({ ackTimeoutMs: 100 });
    let sent = 0;
    network.fate = (d) => (d.toPort === peer.port && sent++ === 0 ? 'drop' : 'deliver');
    const result = client.request(peer.localAddress(), post('x'), 5000);
    await timers.advance(100);
    assert.equal(arrivals.length, 1);
    await reply(peer, arrivals[0]!, CoapType.ACK, CoapResponseCode.Changed, 'ok');
    assert.equal(text((await result).payload), 'ok');
    assert.equal(client.stats.retransmissions, 1);
  });

  it('refuses a request beyond outstandingPerPeerMax at once with NetworkError', async () => {
    const { peer, client } = clientAndPeer({ outstandingPerPeerMax: 2 });
    const first = client.request(peer.localAddress(), post('1'), 1000).catch(() => undefined);
    const second = client.request(peer.localAddress(), post('2'), 1000).catch(() => undefined);
    await assert.rejects(client.request(peer.localAddress(), post('3'), 1000), {
      name: 'NetworkError',
      code: 'NET_BUSY',
      message: /outstandingPerPeerMax/,
    });
    assert.equal(client.stats.refusedOutstanding, 1);
    await client.close();
    await Promise.all([first, second]);
  });

  it('rejects with NET_REJECTED when the peer answers RST', async () => {
    const { peer, arrivals, client } = clientAndPeer();
    const result = client.request(peer.localAddress(), post('x'), 1000);
    await settle();
    await reply(peer, arrivals[0]!, CoapType.RST, 0);
    await assert.rejects(result, { code: 'NET_REJECTED', message: /reset/ });
  });

  it('stops retransmitting on an empty ACK and takes the separate CON response, acknowledging it', async () => {
    const { timers, peer, arrivals, client } = clientAndPeer({ ackTimeoutMs: 100 });
    const result = client.request(peer.localAddress(), post('x'), 5000);
    await settle();
    await reply(peer, arrivals[0]!, CoapType.ACK, 0);
    await timers.advance(1000);
    assert.equal(arrivals.length, 1, 'no retransmission after the empty ACK');
    const decoded = decodeMessage(arrivals[0]!.data);
    assert.ok(decoded.ok);
    await peer.send(
      encodeMessage({
        type: CoapType.CON,
        code: CoapResponseCode.Content,
        messageId: 4242,
        token: decoded.message.token,
        options: [],
        payload: Buffer.from('late'),
      }),
      arrivals[0]!.from.address,
      arrivals[0]!.from.port,
    );
    assert.equal(text((await result).payload), 'late');
    await settle();
    const ack = decodeMessage(arrivals[1]!.data);
    assert.ok(ack.ok);
    assert.deepEqual([ack.message.type, ack.message.messageId, ack.message.code], [CoapType.ACK, 4242, 0]);
  });

  it('ignores a response with the right token from another address', async () => {
    const { network, timers, peer, arrivals, client } = clientAndPeer({ ackTimeoutMs: 100 });
    const result = client.request(peer.localAddress(), post('x'), 300).catch((e: unknown) => e);
    await settle();
    const impostor = network.open('10.6.6.6');
    const decoded = decodeMessage(arrivals[0]!.data);
    assert.ok(decoded.ok);
    await impostor.send(
      encodeMessage({
        type: CoapType.ACK,
        code: CoapResponseCode.Changed,
        messageId: decoded.message.messageId,
        token: decoded.message.token,
        options: [],
        payload: new Uint8Array(0),
      }),
      arrivals[0]!.from.address,
      arrivals[0]!.from.port,
    );
    await timers.advance(300);
    assert.equal(((await result) as { code: string }).code, 'NET_TIMEOUT');
    assert.ok(client.stats.ignored >= 1);
  });

  it('rejects outstanding requests on close, and later ones at once', async () => {
    const { peer, client } = clientAndPeer();
    const result = client.request(peer.localAddress(), post('x'), 1000);
    await settle();
    await client.close();
    await assert.rejects(result, { code: 'NET_UNREACHABLE' });
    await assert.rejects(client.request(peer.localAddress(), post('y'), 1000), { code: 'NET_UNREACHABLE' });
  });

  it('refuses a body over bodyBytesMax with NET_TOO_LARGE before sending anything', async () => {
    const { peer, arrivals, client } = clientAndPeer({ bodyBytesMax: 4096 });
    await assert.rejects(
      client.request(peer.localAddress(), { method: 'POST', path: ['x'], payload: new Uint8Array(4097) }, 1000),
      { code: 'NET_TOO_LARGE' },
    );
    await settle();
    assert.equal(arrivals.length, 0);
  });

  it('sends a body up to wholeBodyBytesMax whole in one message, and a larger one block-wise', async () => {
    const { peer, arrivals, client } = clientAndPeer({ wholeBodyBytesMax: 8000, qblock1: false });
    const whole = client.request(
      peer.localAddress(),
      { method: 'POST', path: ['x'], payload: new Uint8Array(8000) },
      1000,
    );
    await settle();
    assert.equal(arrivals.length, 1, 'one datagram carries the whole body');
    const first = decodeMessage(arrivals[0]?.data ?? new Uint8Array());
    assert.ok(first.ok);
    assert.equal(first.message.payload.length, 8000);
    assert.equal(firstOption(first.message.options, CoapOption.Block1), null, 'no Block1 option');
    const arrival = arrivals[0];
    assert.ok(arrival !== undefined);
    await reply(peer, arrival, CoapType.ACK, CoapResponseCode.Changed, 'ok');
    assert.equal(text((await whole).payload), 'ok');
    arrivals.length = 0;
    void client
      .request(peer.localAddress(), { method: 'POST', path: ['x'], payload: new Uint8Array(8001) }, 1000)
      .catch(() => undefined);
    await settle();
    assert.equal(arrivals.length, 1, 'the first block waits for its 2.31 Continue');
    const block = decodeMessage(arrivals[0]?.data ?? new Uint8Array());
    assert.ok(block.ok);
    assert.equal(block.message.payload.length, 1024, 'one block of blockBytes');
    assert.notEqual(firstOption(block.message.options, CoapOption.Block1), null, 'a Block1 option');
    await client.close();
  });

  it('recovers every request, each handled once, through a network that drops and duplicates datagrams', async () => {
    const h = await serverHarness();
    let runs = 0;
    h.server.addResource('/raft/AppendEntries', {
      POST: (r) => {
        runs += 1;
        return Promise.resolve({ code: CoapResponseCode.Changed, payload: r.payload });
      },
    });
    const prng = new SeededPrng(20240601);
    h.network.fate = () => (prng.chance(0.25) ? 'drop' : prng.chance(0.1) ? 'duplicate' : 'deliver');
    const client = new CoapClient(
      { openEndpoint: () => Promise.resolve(h.network.open('10.0.0.5')), timers: h.timers, prng: new SeededPrng(4) },
      { ackTimeoutMs: 50, maxRetransmit: 10 },
    );
    const results = Array.from({ length: 40 }, (_, i) =>
      client.request(h.serverEndpoint.localAddress(), post(`${i}`), 60_000),
    );
    for (let i = 0; i < 200 && client.outstandingCount > 0; i += 1) await h.timers.advance(50);
    const responses = await Promise.all(results);
    responses.forEach((r, i) => assert.equal(text(r.payload), `${i}`));
    assert.equal(runs, 40, 'each request handled exactly once');
    assert.ok(client.stats.retransmissions > 0);
  });
});
