// Proves that a ClientHello whose fragments arrive out of order (RFC 6347 §4.2.3: a receiver
// buffers fragments until it has the whole message) does not end the handshake: a later
// fragment that comes before the first finds no handshake, and the server drops it silently
// instead of answering with the fatal unexpected_message meant for a lost handshake, on which
// OpenSSL and libcoap gave up. The client's repeat of the hello then completes the handshake.
// A relay holds each datagram that starts a ClientHello until the client's next one has gone.
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { ContentType, HandshakeType } from '../../../transport/dtls/constants.js';
import { splitRecords } from '../../../transport/dtls/record.js';
import { Cleanup, Inbox, echo, internalErrors, startClient, startServer } from './helpers.js';
import { scaledMs } from '../../timing.js';

const key = Buffer.from('hello reorder key');
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? key : null);

/** Whether `datagram` starts with the first fragment of a ClientHello. */
function startsHello(datagram: Buffer): boolean {
  const record = splitRecords(datagram, 4).records[0];
  if (record === undefined || record.type !== ContentType.handshake || record.epoch !== 0) return false;
  const offset = record.fragment.length >= 9 ? Buffer.from(record.fragment).readUIntBE(6, 3) : -1;
  return record.fragment[0] === HandshakeType.clientHello && offset === 0;
}

/** A relay (one client) that sends each datagram starting a ClientHello after the client's next one. */
async function reorderingRelay(cleanup: Cleanup, serverPort: number): Promise<{ port: number; held: number }> {
  const front = createSocket('udp4');
  const upstream = createSocket('udp4');
  const bind = (s: Socket) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  await Promise.all([bind(front), bind(upstream)]);
  cleanup.add(async () => {
    await new Promise<void>((resolve) => front.close(() => resolve()));
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });
  const state = { port: front.address().port, held: 0 };
  let client: { port: number } | null = null;
  let held: Buffer | null = null;
  upstream.on('message', (reply) => {
    if (client !== null) front.send(reply, client.port, '127.0.0.1');
  });
  front.on('message', (datagram, from) => {
    client = { port: from.port };
    if (held === null && startsHello(datagram)) {
      held = datagram;
      state.held += 1;
      return;
    }
    upstream.send(datagram, serverPort, '127.0.0.1');
    if (held !== null) upstream.send(held, serverPort, '127.0.0.1');
    held = null;
  });
  return state;
}

describe('DTLS server: a ClientHello fragmented and reordered', function () {
  this.timeout(scaledMs(20_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  it('drops a later fragment that comes first, without an alert, and completes on the repeat', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const relay = await reorderingRelay(cleanup, server.localAddress().port);
    // 100-byte datagrams split each ClientHello in two or more.
    const client = await startClient(cleanup, {
      identity: 'node-a',
      psk: key,
      handshakeDatagramBytesMax: 100,
      handshakeRestartsMax: 0,
    });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('reordered'), '127.0.0.1', relay.port);
    await inbox.waitFor('node-a:reordered');
    assert.ok(relay.held >= 2, `the relay reordered ${relay.held} hellos`);
    assert.equal(server.stats().alertsSent, 0, 'no alert for a fragment that came early');
    assert.equal(server.stats().handshakesCompleted, 1);
  });
});
