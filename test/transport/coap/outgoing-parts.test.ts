// Proves that a CoAP request goes out as its head and its payload, the payload never copied
// (transport/coap/outgoing.ts, DatagramEndpoint.sendParts): on an endpoint with sendParts, the
// client sends every copy of a request (the first and each retransmission) as the same head bytes
// and the caller's own payload object, and what arrives is the whole message; a message without
// payload goes through plain send; an endpoint without sendParts gets the two joined. And both
// real endpoints send a head and a body as one datagram of the two joined: UDP, and DTLS on an
// established session (sealed from the two) and on one still handshaking (queued joined). A body
// given as pieces (CoapClientRequest.payloadParts, a leader's AppendEntries of large commands) goes
// as those very pieces, first copy and retransmission alike, and is joined only when it goes in
// Block1 blocks: once a server answers 4.13 asking for blocks. Over the whole-body limit it goes in
// Q-Block1 sets (or pieces) whose blocks are views of those pieces (pieces.test.ts checks that).
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import type { DatagramEndpoint, DatagramHandler } from '../../../transport/datagram.js';
import { CoapClient } from '../../../transport/coap/client.js';
import { CoapOption, CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import { decodeBlock, encodeBlock, firstOption, option } from '../../../transport/coap/options.js';
import { decodeMessage, encodeMessage } from '../../../transport/coap/message.js';
import { openUdpEndpoint } from '../../../transport/udp.js';
import { MemoryNetwork, type MemoryEndpoint } from '../memory-datagram.js';
import { VirtualTimers, settle } from '../virtual-timers.js';
import { Cleanup, Inbox, echo, startClient, startServer, until } from '../dtls/helpers.js';

/** A memory endpoint with sendParts, recording each call; it delivers the two joined. */
class PartsEndpoint implements DatagramEndpoint {
  readonly parts: { head: Uint8Array; body: readonly Uint8Array[] }[] = [];
  readonly whole: Uint8Array[] = [];
  constructor(private readonly inner: MemoryEndpoint) {}
  send(data: Uint8Array, address: string, port: number): Promise<void> {
    this.whole.push(data);
    return this.inner.send(data, address, port);
  }
  sendParts(head: Uint8Array, body: readonly Uint8Array[], address: string, port: number): Promise<void> {
    this.parts.push({ head, body });
    return this.inner.send(Buffer.concat([head, ...body]), address, port);
  }
  onMessage(handler: DatagramHandler): void {
    this.inner.onMessage(handler);
  }
  localAddress() {
    return this.inner.localAddress();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function setUp(withParts: boolean) {
  const network = new MemoryNetwork();
  const timers = new VirtualTimers();
  const peer = network.open('10.0.0.1');
  const arrivals: Uint8Array[] = [];
  peer.onMessage((data) => arrivals.push(data));
  const inner = network.open('10.0.0.2');
  const endpoint = withParts ? new PartsEndpoint(inner) : inner;
  const client = new CoapClient(
    { openEndpoint: () => Promise.resolve(endpoint), timers, prng: new SeededPrng(5) },
    { ackRandomFactor: 1, ackTimeoutMs: 100, wholeBodyBytesMax: 16_256 },
  );
  return { network, timers, peer, arrivals, endpoint, client };
}

async function answer(peer: MemoryEndpoint, request: Uint8Array, to: { address: string; port: number }) {
  const decoded = decodeMessage(request);
  assert.ok(decoded.ok);
  const { messageId, token } = decoded.message;
  const response = { type: CoapType.ACK, code: CoapResponseCode.Changed, messageId, token, options: [] };
  await peer.send(encodeMessage({ ...response, payload: Buffer.from('ok') }), to.address, to.port);
}

describe('CoAP requests sent as head and payload', function () {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('sends the first copy and its retransmission as the same head and the caller’s own payload', async () => {
    const { network, timers, peer, arrivals, endpoint, client } = setUp(true);
    let sent = 0;
    network.fate = (d) => (d.toPort === peer.port && sent++ === 0 ? 'drop' : 'deliver');
    const payload = Buffer.alloc(3000, 7);
    const result = client.request(peer.localAddress(), { method: 'POST', path: ['raft', 'x'], payload }, 5000);
    await settle();
    await timers.advance(100);
    assert.ok(endpoint instanceof PartsEndpoint);
    assert.equal(endpoint.parts.length, 2, 'the first copy and one retransmission, both as parts');
    assert.equal(endpoint.whole.length, 0);
    for (const call of endpoint.parts) assert.equal(call.body[0], payload, 'the payload itself, not a copy');
    assert.deepEqual(endpoint.parts[1]?.head, endpoint.parts[0]?.head);
    assert.equal(arrivals.length, 1);
    const decoded = decodeMessage(arrivals[0] ?? new Uint8Array(0));
    assert.ok(decoded.ok);
    assert.deepEqual(Buffer.from(decoded.message.payload), payload);
    await answer(peer, arrivals[0] ?? new Uint8Array(0), endpoint.localAddress());
    assert.equal(Buffer.from((await result).payload).toString(), 'ok');
    assert.equal(client.stats.retransmissions, 1);
  });

  it('sends a message without payload with send; joins head and payload for an endpoint without parts', async () => {
    const parts = setUp(true);
    const get = parts.client.request(parts.peer.localAddress(), { method: 'GET', path: ['status'] }, 5000);
    await settle();
    assert.ok(parts.endpoint instanceof PartsEndpoint);
    assert.equal(parts.endpoint.parts.length, 0);
    assert.equal(parts.endpoint.whole.length, 1);
    await answer(parts.peer, parts.arrivals[0] ?? new Uint8Array(0), parts.endpoint.localAddress());
    await get;
    const plain = setUp(false);
    const payload = Buffer.from('joined for an endpoint without sendParts');
    const post = plain.client.request(plain.peer.localAddress(), { method: 'POST', path: ['x'], payload }, 5000);
    await settle();
    const decoded = decodeMessage(plain.arrivals[0] ?? new Uint8Array(0));
    assert.ok(decoded.ok);
    assert.equal(Buffer.from(decoded.message.payload).toString(), payload.toString());
    await answer(plain.peer, plain.arrivals[0] ?? new Uint8Array(0), plain.endpoint.localAddress());
    await post;
  });

  it('sends a body of parts as those pieces, the first copy and its retransmission alike', async () => {
    const { network, timers, peer, arrivals, endpoint, client } = setUp(true);
    let sent = 0;
    network.fate = (d) => (d.toPort === peer.port && sent++ === 0 ? 'drop' : 'deliver');
    const pieces = [Buffer.from('head of the body|'), Buffer.alloc(4096, 7), Buffer.from('|tail')];
    const request = { method: 'POST' as const, path: ['raft', 'x'], payloadParts: pieces };
    const result = client.request(peer.localAddress(), request, 5000);
    await settle();
    await timers.advance(100);
    assert.ok(endpoint instanceof PartsEndpoint);
    assert.equal(endpoint.parts.length, 2, 'the first copy and one retransmission, both as parts');
    for (const call of endpoint.parts) {
      assert.equal(call.body.length, pieces.length);
      call.body.forEach((piece, i) => assert.equal(piece, pieces[i], 'the caller’s piece itself, not a copy'));
    }
    assert.deepEqual(endpoint.parts[1]?.head, endpoint.parts[0]?.head);
    const decoded = decodeMessage(arrivals[0] ?? new Uint8Array(0));
    assert.ok(decoded.ok);
    assert.deepEqual(Buffer.from(decoded.message.payload), Buffer.concat(pieces));
    await answer(peer, arrivals[0] ?? new Uint8Array(0), endpoint.localAddress());
    assert.equal(Buffer.from((await result).payload).toString(), 'ok');
  });

  it('sends a body of parts over the whole-body limit, or asked for blocks, block-wise from its start', async () => {
    const big = setUp(true);
    const over = [Buffer.alloc(10_000, 1), Buffer.alloc(10_000, 2)];
    void big.client.request(big.peer.localAddress(), { method: 'POST', path: ['x'], payloadParts: over }, 5000);
    await settle();
    const first = decodeMessage(big.arrivals[0] ?? new Uint8Array(0));
    assert.ok(first.ok);
    assert.deepEqual(Buffer.from(first.message.payload), Buffer.concat(over).subarray(0, 1024), 'block 0 of the body');
    const asked = setUp(true);
    const pieces = [Buffer.alloc(3000, 3), Buffer.alloc(2000, 4)];
    const result = asked.client.request(
      asked.peer.localAddress(),
      { method: 'POST', path: ['x'], payloadParts: pieces },
      5000,
    );
    await settle();
    const whole = decodeMessage(asked.arrivals[0] ?? new Uint8Array(0));
    assert.ok(whole.ok);
    assert.equal(whole.message.payload.length, 5000, 'first sent whole');
    const { messageId, token } = whole.message;
    const blocks = [option(CoapOption.Block1, encodeBlock({ num: 0, more: false, szx: 6 }))];
    const tooLarge = { type: CoapType.ACK, code: CoapResponseCode.RequestEntityTooLarge, messageId, token };
    const to = asked.endpoint.localAddress();
    await asked.peer.send(
      encodeMessage({ ...tooLarge, options: blocks, payload: new Uint8Array(0) }),
      to.address,
      to.port,
    );
    await settle();
    const next = decodeMessage(asked.arrivals[1] ?? new Uint8Array(0));
    assert.ok(next.ok);
    const block = decodeBlock(firstOption(next.message.options, CoapOption.Block1) ?? new Uint8Array(0));
    assert.deepEqual(block, { num: 0, more: true, szx: 6 });
    assert.deepEqual(Buffer.from(next.message.payload), Buffer.concat(pieces).subarray(0, 1024));
    void asked.client.close();
    await result.catch(() => undefined);
    void big.client.close();
  });

  it('UDP sends a head and a body as one datagram of the two joined', async () => {
    const [a, b] = [await openUdpEndpoint(), await openUdpEndpoint()];
    cleanup.add(() => a.close());
    cleanup.add(() => b.close());
    const got: string[] = [];
    b.onMessage((data) => got.push(Buffer.from(data).toString()));
    await a.sendParts(Buffer.from('head|'), [Buffer.from('bo'), Buffer.from('dy')], '127.0.0.1', b.localAddress().port);
    await until(() => got.length === 1, 'the datagram');
    assert.deepEqual(got, ['head|body']);
  });

  it('DTLS sends head and body as one record: joined behind a handshake, then sealed from the two', async () => {
    const psk = Buffer.from('parts test key');
    const server = await startServer(cleanup, { pskLookup: (id) => (id === 'node-a' ? psk : null) });
    echo(server);
    const client = await startClient(cleanup, { identity: 'node-a', psk });
    const inbox = new Inbox(client);
    const { port } = server.localAddress();
    // The first goes behind the handshake; the second on the established session, over the one-shot size.
    await client.sendParts(Buffer.from('first '), [Buffer.from('data'), Buffer.from('gram')], '127.0.0.1', port);
    await inbox.waitFor('node-a:first datagram');
    const body = 'b'.repeat(12_000);
    await client.sendParts(Buffer.from('second '), [Buffer.from(body)], '127.0.0.1', port);
    await inbox.waitFor(`node-a:second ${body}`);
    // Several pieces are joined in the endpoint's reused buffer, twice over to show it is read at once.
    const pieces = ['c'.repeat(5000), 'd'.repeat(7000), 'e'.repeat(100)];
    await client.sendParts(
      Buffer.from('third '),
      pieces.map((p) => Buffer.from(p)),
      '127.0.0.1',
      port,
    );
    await client.sendParts(
      Buffer.from('fourth '),
      [Buffer.from('f'.repeat(3000)), Buffer.from('g')],
      '127.0.0.1',
      port,
    );
    await inbox.waitFor(`node-a:third ${pieces.join('')}`);
    await inbox.waitFor(`node-a:fourth ${'f'.repeat(3000)}g`);
  });
});
