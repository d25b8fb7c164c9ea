// Proves interoperation with OpenSSL 3 (the openssl command, installed by CI from Debian):
// `openssl s_client -dtls1_2 -psk ... -cipher PSK-AES128-CCM8` completes a handshake with our
// server (extended master secret and secure renegotiation negotiated), exchanges data both
// ways and closes with close_notify; a wrong key fails cleanly while the server keeps serving;
// a renegotiation attempt is refused. Our client reaches `openssl s_server` with and without
// its cookie exchange (-listen), with fragmented flights, and exchanges data both ways.
import { strict as assert } from 'node:assert';
import { NetworkError } from '../../../contracts/errors.js';
import { Cleanup, echo, internalErrors, startClient, startServer, until } from './helpers.js';
import { Peer, freeUdpPort, hasCommand } from './interop-helpers.js';
import { scaledMs } from '../../timing.js';

const pskHex = '0123456789abcdef0123456789abcdef';
const psk = Buffer.from(pskHex, 'hex');
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? psk : null);

function sClient(port: number, key: string, extra: readonly string[] = []): Peer {
  return new Peer('openssl', [
    's_client',
    '-dtls1_2',
    '-psk',
    key,
    '-psk_identity',
    'node-a',
    '-cipher',
    'PSK-AES128-CCM8',
    '-connect',
    `127.0.0.1:${port}`,
    ...extra,
  ]);
}

describe('DTLS interop with OpenSSL', function () {
  this.timeout(scaledMs(30_000));
  const cleanup = new Cleanup();
  const peers: Peer[] = [];
  before(function () {
    if (!hasCommand('openssl')) {
      console.log('      openssl not installed: skipped (CI installs it)');
      this.skip();
    }
  });
  afterEach(async () => {
    for (const p of peers.splice(0)) p.kill();
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  async function echoServer() {
    const server = await startServer(cleanup, { pskLookup: lookup });
    const received: string[] = [];
    server.onMessage((data, peer) => {
      received.push(`${peer.identity}:${Buffer.from(data).toString()}`);
      void server.send(Buffer.from(`pong:${Buffer.from(data).toString()}`), peer.address, peer.port);
    });
    return { server, received, port: server.localAddress().port };
  }

  it('s_client handshakes with our server and exchanges data both ways', async () => {
    const { server, received, port } = await echoServer();
    const client = sClient(port, pskHex);
    peers.push(client);
    await client.waitFor('Cipher is PSK-AES128-CCM8');
    assert.match(client.output, /Extended master secret: yes/);
    assert.match(client.output, /Secure Renegotiation IS supported/);
    client.write('hello\n');
    await client.waitFor('pong:hello');
    assert.deepEqual(received, ['node-a:hello\n']);
    const [session] = server.sessionList();
    assert.ok(session);
    await server.send(Buffer.from('unsolicited\n'), session.address, session.port);
    await client.waitFor('unsolicited');
    client.end();
    await client.exit();
    await until(() => server.stats().sessions === 0, 'close_notify from s_client');
  });

  it('s_client with a wrong key fails cleanly and the server keeps serving', async () => {
    const { server, port } = await echoServer();
    const bad = sClient(port, pskHex.replace(/f$/, 'e'));
    peers.push(bad);
    assert.notEqual(await bad.exit(), 0);
    assert.match(bad.output, /alert bad record mac|alert number 20/);
    assert.equal(server.stats().handshakesFailed, 1);
    const good = sClient(port, pskHex);
    peers.push(good);
    await good.waitFor('Cipher is PSK-AES128-CCM8');
    good.write('again\n');
    await good.waitFor('pong:again');
    assert.equal(server.stats().handshakesInProgress, 0);
  });

  it('sends a PSK identity hint only when configured', async () => {
    const { port, received } = await echoServer();
    const plain = sClient(port, pskHex);
    peers.push(plain);
    await plain.waitFor('Cipher is PSK-AES128-CCM8');
    // s_client prints the hint it received (or None) before the session summary.
    assert.match(plain.output, /PSK identity hint: None/);
    assert.doesNotMatch(plain.output, /coraft-hint/);
    const hinted = await startServer(cleanup, { pskLookup: lookup, pskIdentityHint: 'coraft-hint' });
    echo(hinted);
    const client = sClient(hinted.localAddress().port, pskHex);
    peers.push(client);
    await client.waitFor('Cipher is PSK-AES128-CCM8');
    assert.match(client.output, /PSK identity hint: coraft-hint/);
    client.write('hinted\n');
    await client.waitFor('node-a:hinted');
    assert.deepEqual(
      hinted.sessionList().map((s) => s.identity),
      ['node-a'],
    );
    assert.deepEqual(received, [], 'the unhinted server saw no data');
  });

  it('refuses renegotiation from s_client with no_renegotiation', async () => {
    const { server, port } = await echoServer();
    const client = sClient(port, pskHex);
    peers.push(client);
    await client.waitFor('Cipher is PSK-AES128-CCM8');
    client.write('R\n');
    await client.waitFor('no renegotiation');
    assert.ok(server.stats().alertsSent >= 1);
    assert.equal(server.stats().handshakesCompleted, 1);
  });

  for (const mode of [[], ['-listen']]) {
    it(`our client exchanges data with s_server ${mode.join(' ') || '(no cookie)'}, flights fragmented`, async () => {
      const port = await freeUdpPort();
      const server = new Peer('openssl', [
        's_server',
        '-dtls1_2',
        '-psk',
        pskHex,
        '-cipher',
        'PSK-AES128-CCM8',
        '-nocert',
        '-accept',
        `127.0.0.1:${port}`,
        '-naccept',
        '1',
        ...mode,
      ]);
      peers.push(server);
      await server.waitFor('ACCEPT');
      const client = await startClient(cleanup, { identity: 'node-a', psk, handshakeDatagramBytesMax: 96 });
      const got: string[] = [];
      client.onMessage((data) => got.push(Buffer.from(data).toString()));
      await client.send(Buffer.from('hello from coraft\n'), '127.0.0.1', port);
      await server.waitFor('hello from coraft');
      server.write('hello from s_server\n');
      await until(() => got.includes('hello from s_server\n'), 's_server data');
      assert.ok(client.stats().datagramsSent >= 6, 'the client fragmented its flights');
      await client.close();
      await server.waitFor('CONNECTION CLOSED');
    });
  }

  it('our client exchanges records of 12 KiB and 3 KiB with s_server (the one-shot CCM path both ways)', async () => {
    const port = await freeUdpPort();
    const server = new Peer('openssl', [
      's_server',
      '-dtls1_2',
      '-psk',
      pskHex,
      '-cipher',
      'PSK-AES128-CCM8',
      '-nocert',
      '-accept',
      `127.0.0.1:${port}`,
      '-naccept',
      '1',
    ]);
    peers.push(server);
    await server.waitFor('ACCEPT');
    const client = await startClient(cleanup, { identity: 'node-a', psk });
    const got: string[] = [];
    client.onMessage((data) => got.push(Buffer.from(data).toString()));
    // Records of at least ONE_SHOT_BYTES_MIN are sealed and opened by ccm-one-shot.ts.
    const toServer = `${'c'.repeat(12 * 1024)} end of the large datagram\n`;
    await client.send(Buffer.from(toServer), '127.0.0.1', port);
    await server.waitFor(toServer.trim());
    const toClient = `${'s'.repeat(3 * 1024)} end from s_server\n`;
    server.write(toClient);
    await until(() => got.join('') === toClient, 's_server large data');
    await client.close();
    await server.waitFor('CONNECTION CLOSED');
  });

  it('our client reports a failure (not a hang) when s_server has another key', async () => {
    const port = await freeUdpPort();
    const server = new Peer('openssl', [
      's_server',
      '-dtls1_2',
      '-psk',
      pskHex.replace(/^0/, '1'),
      '-cipher',
      'PSK-AES128-CCM8',
      '-nocert',
      '-accept',
      `127.0.0.1:${port}`,
    ]);
    peers.push(server);
    await server.waitFor('ACCEPT');
    const client = await startClient(cleanup, {
      identity: 'node-a',
      psk,
      retransmitInitialMs: 100,
      retransmitCountMax: 2,
    });
    // OpenSSL drops records that fail authentication silently, so the handshake times out.
    await assert.rejects(
      client.send(Buffer.from('x'), '127.0.0.1', port),
      (e: unknown) => e instanceof NetworkError && (e.code === 'NET_TIMEOUT' || e.code === 'NET_AUTH'),
    );
  });
});
