// Proves that a CoAP request goes out as its head and its payload, the payload never copied
// (transport/coap/outgoing.ts, DatagramEndpoint.sendParts): on an endpoint with sendParts, the
// client sends every copy of a request (the first and each retransmission) as the same head bytes
// and the caller's own payload object, and what arrives is the whole message; a message without
// payload goes through plain send; an endpoint without sendParts gets the two joined. And both
// real endpoints send a head and a body as one datagram of the two joined: UDP, and DTLS on an
// established session (sealed from the two) and on one still handshaking (queued joined).
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../../contracts/prng.js';
import type { DatagramEndpoint, DatagramHandler } from '../../../transport/datagram.js';
import { CoapClient } from '../../../transport/coap/client.js';
import { CoapResponseCode, CoapType } from '../../../transport/coap/codes.js';
import { decodeMessage, encodeMessage } from '../../../transport/coap/message.js';
import { openUdpEndpoint } from '../../../transport/udp.js';
import { MemoryNetwork, type MemoryEndpoint } from '../memory-datagram.js';
import { VirtualTimers, settle } from '../virtual-timers.js';
import { Cleanup, Inbox, echo, startClient, startServer, until } from '../dtls/helpers.js';

/** A memory endpoint with sendParts, recording each call; it delivers the two joined. */
class PartsEndpoint implements DatagramEndpoint {
  readonly parts: { head: Uint8Array; body: Uint8Array }[] = [];
  readonly whole: Uint8Array[] = [];
  constructor(private readonly inner: MemoryEndpoint) {}
  send(data: Uint8Array, address: string, port: number): Promise<void> {
    this.whole.push(data);
    return this.inner.send(data, address, port);
  }
  sendParts(head: Uint8Array, body: Uint8Array, address: string, port: number): Promise<void> {
    this.parts.push({ head, body });
    return this.inner.send(Buffer.concat([head, body]), address, port);
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
    for (const call of endpoint.parts) assert.equal(call.body, payload, 'the payload itself, not a copy');
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

  it('UDP sends a head and a body as one datagram of the two joined', async () => {
    const [a, b] = [await openUdpEndpoint(), await openUdpEndpoint()];
    cleanup.add(() => a.close());
    cleanup.add(() => b.close());
    const got: string[] = [];
    b.onMessage((data) => got.push(Buffer.from(data).toString()));
    await a.sendParts(Buffer.from('head|'), Buffer.from('body'), '127.0.0.1', b.localAddress().port);
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
    await client.sendParts(Buffer.from('first '), Buffer.from('datagram'), '127.0.0.1', port);
    await inbox.waitFor('node-a:first datagram');
    const body = 'b'.repeat(12_000);
    await client.sendParts(Buffer.from('second '), Buffer.from(body), '127.0.0.1', port);
    await inbox.waitFor(`node-a:second ${body}`);
  });
});
