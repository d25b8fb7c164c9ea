// Proves that our client ignores a HelloRequest, as RFC 5246 §7.4.1.1 (RFC 6347 §4.2.2) has a
// client do while it negotiates and allows on an established session. A relay in front of our
// server slips HelloRequests (message_seq 0, and the message_seq the client expects next) into
// every flight the server sends during the handshake: the handshake completes all the same, in
// one attempt, and the client sends no alert. `openssl s_server` sends a real one on an
// established session (its `r` command): the session goes on carrying data both ways, with no
// second handshake. Refusing with no_renegotiation instead would end it: OpenSSL answers that
// warning with a fatal handshake_failure.
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { ContentType, DTLS_1_2, HandshakeType } from '../../../transport/dtls/constants.js';
import { encodeHandshakeFragment } from '../../../transport/dtls/fragments.js';
import { encodeRecord } from '../../../transport/dtls/record.js';
import { Cleanup, Inbox, echo, internalErrors, startClient, startServer, until } from './helpers.js';
import { Peer, freeUdpPort, hasCommand } from './interop-helpers.js';
import { scaledMs } from '../../timing.js';

const pskHex = '0123456789abcdef0123456789abcdef';
const psk = Buffer.from(pskHex, 'hex');
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? psk : null);

/** A plaintext record of HelloRequests (empty bodies) with the given message_seq values. */
function helloRequests(recordSeq: number, messageSeqs: readonly number[]): Uint8Array {
  const fragments = messageSeqs.map((seq) =>
    encodeHandshakeFragment(HandshakeType.helloRequest, 0, seq, 0, new Uint8Array(0)),
  );
  return encodeRecord(ContentType.handshake, DTLS_1_2, 0, recordSeq, Buffer.concat(fragments));
}

/** The message_seq of the first plaintext handshake fragment of a datagram, if any. */
function firstMessageSeq(datagram: Buffer): number | null {
  const isPlainHandshake = datagram[0] === ContentType.handshake && datagram.readUInt16BE(3) === 0;
  return isPlainHandshake && datagram.length >= 13 + 6 ? datagram.readUInt16BE(13 + 4) : null;
}

/**
 * A relay to one server that, for every datagram the server sends, first sends the client a
 * datagram of HelloRequests and then the datagram with a HelloRequest record in front.
 */
async function injectingRelay(cleanup: Cleanup, serverPort: number): Promise<{ port: number; injected: () => number }> {
  const front = createSocket('udp4');
  const upstream = createSocket('udp4');
  await Promise.all([front, upstream].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
  cleanup.add(async () => {
    for (const s of [front, upstream]) await new Promise<void>((r) => s.close(() => r()));
  });
  let client: { address: string; port: number } | null = null;
  let injected = 0;
  let recordSeq = 1000;
  front.on('message', (msg: Buffer, from) => {
    client = { address: from.address, port: from.port };
    upstream.send(msg, serverPort, '127.0.0.1');
  });
  upstream.on('message', (reply: Buffer) => {
    if (client === null) return;
    const expected = firstMessageSeq(reply);
    const seqs = expected === null ? [0] : [0, expected];
    const send = (s: Socket, data: Uint8Array): void => s.send(data, client?.port, client?.address);
    send(front, helloRequests(recordSeq++, seqs));
    send(front, Buffer.concat([helloRequests(recordSeq++, seqs), reply]));
    injected += 2;
  });
  return { port: front.address().port, injected: () => injected };
}

describe('DTLS client and HelloRequest', function () {
  this.timeout(scaledMs(30_000));
  const cleanup = new Cleanup();
  const peers: Peer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) p.kill();
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  it('ignores HelloRequests that arrive while it negotiates', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    echo(server);
    const relay = await injectingRelay(cleanup, server.localAddress().port);
    const client = await startClient(cleanup, { identity: 'node-a', psk, handshakeRestartsMax: 0 });
    const inbox = new Inbox(client);
    await client.send(Buffer.from('through'), '127.0.0.1', relay.port);
    await inbox.waitFor('node-a:through');
    assert.ok(relay.injected() >= 6, `${relay.injected()} HelloRequest records injected`);
    const stats = client.stats();
    assert.equal(stats.handshakesCompleted, 1);
    assert.equal(stats.handshakesFailed, 0);
    assert.equal(stats.alertsSent, 0);
    assert.equal(stats.retransmissions, 0, 'a HelloRequest is not taken for a repeated server flight');
  });

  it('keeps its session with openssl s_server after a HelloRequest on it', async function () {
    if (!hasCommand('openssl')) {
      console.log('      openssl not installed: skipped (CI installs it)');
      this.skip();
    }
    const port = await freeUdpPort();
    const args = ['s_server', '-dtls1_2', '-psk', pskHex, '-cipher', 'PSK-AES128-CCM8', '-nocert'];
    const server = new Peer('openssl', [...args, '-accept', `127.0.0.1:${port}`]);
    peers.push(server);
    await server.waitFor('ACCEPT');
    const client = await startClient(cleanup, { identity: 'node-a', psk });
    const got: string[] = [];
    client.onMessage((data) => got.push(Buffer.from(data).toString()));
    await client.send(Buffer.from('before\n'), '127.0.0.1', port);
    await server.waitFor('before');
    const received = client.stats().datagramsReceived;
    // s_server's `r`: SSL_renegotiate, which sends a HelloRequest (its report of it may sit in
    // a stdout buffer, so the client's count of datagrams tells when it arrived).
    server.write('r\n');
    await until(() => client.stats().datagramsReceived > received, 'the HelloRequest');
    await client.send(Buffer.from('after\n'), '127.0.0.1', port);
    await server.waitFor('after');
    server.write('from s_server\n');
    await until(() => got.includes('from s_server\n'), 's_server data');
    assert.doesNotMatch(server.output, /CONNECTION CLOSED|no renegotiation/);
    assert.equal(client.stats().handshakesCompleted, 1);
    assert.equal(client.stats().alertsSent, 0);
  });
});
