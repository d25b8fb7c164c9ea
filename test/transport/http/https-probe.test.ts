// Proves two refusals of the HTTPS-PSK peer server (issue 14.6) against real clients: it
// refuses renegotiation (a second handshake on a connection would run the PSK callback again),
// from Node's tlsSocket.renegotiate() and from OpenSSL s_client's `R` command, and keeps
// serving; and it answers an unknown PSK identity exactly like a known one with a wrong key
// (same records, same bad_record_mac alert), compared on what s_client -msg shows and on the
// error Node's TLS client reports, so no answer reveals which node ids exist.
// The key lookup is told the address and port each connection came from (for the refusal log).
import { strict as assert } from 'node:assert';
import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { createHttpsTransport, type HttpTransport } from '../../../transport/http/index.js';
import { Peer, hasCommand } from '../dtls/interop-helpers.js';
import { append, echoHandler } from '../rpc-fixtures.js';
import { createTestSerializer } from '../test-serializer.js';

const serializer = createTestSerializer();
const keyHex = 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1';
const key = Buffer.from(keyHex, 'hex');
const wrongKeyHex = 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2';
const CIPHER = 'PSK-AES128-GCM-SHA256';

describe('HTTPS-PSK server refusals', function () {
  this.timeout(30_000);
  const opened: HttpTransport[] = [];
  const peers: Peer[] = [];
  const sockets: TLSSocket[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) p.kill();
    for (const s of sockets.splice(0)) s.destroy();
    for (const t of opened.splice(0)) {
      await t.client.close();
      await t.server.stop();
    }
  });

  /** The identities node `b` looked up, with where each connection came from ("address:port"). */
  const lookups: string[] = [];

  /** Node `b`, serving, that knows only identity `a`; returns its port. */
  async function serve(): Promise<number> {
    const transport = createHttpsTransport({
      serializer,
      listenAddress: '127.0.0.1',
      listenPort: 0,
      clientCredentials: { identity: 'b', keyForPeer: () => key },
      serverCredentials: {
        keyForIdentity: (identity, peer) => {
          lookups.push(`${identity} ${peer.address}:${peer.port}`);
          return identity === 'a' ? key : null;
        },
      },
    });
    opened.push(transport);
    transport.server.setHandler(echoHandler(() => 0));
    await transport.server.start();
    return transport.server.localAddress().port;
  }

  /** Sends one request as `a` with the right key: the server still serves. */
  async function stillServes(port: number): Promise<void> {
    const a = createHttpsTransport({
      serializer,
      listenAddress: '127.0.0.1',
      listenPort: 0,
      clientCredentials: { identity: 'a', keyForPeer: () => key },
      serverCredentials: { keyForIdentity: () => null },
    });
    opened.push(a);
    a.client.setPeers([{ id: 'b', address: `127.0.0.1:${port}` }]);
    assert.equal((await a.client.send('b', append(3), 5000)).lastLogIndex, 3);
  }

  /** A Node TLS 1.2 PSK connection as `identity` with `psk`; resolves once connected or with the error code. */
  function tlsConnect(
    port: number,
    identity: string,
    psk: Buffer,
  ): Promise<{ socket: TLSSocket; error: string | null }> {
    return new Promise((resolve) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ciphers: CIPHER,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        pskCallback: () => ({ identity, psk }),
        checkServerIdentity: () => undefined,
      });
      sockets.push(socket);
      socket.once('secureConnect', () => resolve({ socket, error: null }));
      socket.once('error', (error: Error & { code?: string }) =>
        resolve({ socket, error: error.code ?? error.message }),
      );
    });
  }

  it('refuses renegotiation from Node (tlsSocket.renegotiate) and keeps serving', async () => {
    const port = await serve();
    const { socket, error } = await tlsConnect(port, 'a', key);
    assert.equal(error, null);
    const outcome = await new Promise<string>((resolve) => {
      socket.once('error', (e: Error & { code?: string }) => resolve(`${e.code ?? ''} ${e.message}`));
      const started = socket.renegotiate({}, (e) =>
        resolve(e === null ? 'renegotiated' : `${String(Reflect.get(e, 'code'))} ${e.message}`),
      );
      if (!started) resolve('not started');
    });
    assert.match(outcome, /no renegotiation|NO_RENEGOTIATION/i);
    await stillServes(port);
  });

  it('refuses renegotiation from OpenSSL s_client (R) with no_renegotiation', async function () {
    if (!hasCommand('openssl')) this.skip();
    const port = await serve();
    const client = new Peer('openssl', [
      's_client',
      '-tls1_2',
      '-cipher',
      CIPHER,
      '-psk',
      keyHex,
      '-psk_identity',
      'a',
      '-connect',
      `127.0.0.1:${port}`,
    ]);
    peers.push(client);
    await client.waitFor(`Cipher is ${CIPHER}`);
    client.write('R\n');
    await client.waitFor('no renegotiation');
    await stillServes(port);
  });

  it('answers an unknown identity like a wrong key (Node TLS client)', async () => {
    const port = await serve();
    lookups.splice(0);
    const wrongKey = await tlsConnect(port, 'a', Buffer.from(wrongKeyHex, 'hex'));
    const unknown = await tlsConnect(port, 'z', Buffer.from(wrongKeyHex, 'hex'));
    assert.match(wrongKey.error ?? '', /BAD_RECORD_MAC/);
    assert.equal(unknown.error, wrongKey.error);
    // The lookup learns where each came from (the client's port, which is not 0), for the refusal's log line.
    assert.equal(lookups.length, 2);
    assert.match(lookups[0] ?? '', /^a 127\.0\.0\.1:[1-9]\d*$/);
    assert.match(lookups[1] ?? '', /^z 127\.0\.0\.1:[1-9]\d*$/);
    await stillServes(port);
  });

  it('sends OpenSSL s_client the same records and alert for an unknown identity as for a wrong key', async function () {
    if (!hasCommand('openssl')) this.skip();
    const port = await serve();
    const seen: string[][] = [];
    for (const identity of ['a', 'z']) {
      const client = new Peer('openssl', [
        's_client',
        '-tls1_2',
        '-msg',
        '-cipher',
        CIPHER,
        '-psk',
        wrongKeyHex,
        '-psk_identity',
        identity,
        '-connect',
        `127.0.0.1:${port}`,
      ]);
      peers.push(client);
      assert.notEqual(await client.exit(10_000), 0);
      const records = client.output.split('\n').filter((l) => l.startsWith('<<<'));
      seen.push([
        ...records,
        /SSL alert number \d+/.exec(client.output)?.[0] ?? 'no alert',
        /SSL handshake has read \d+ bytes/.exec(client.output)?.[0] ?? '',
      ]);
    }
    const [wrongKey, unknown] = seen;
    assert.ok(wrongKey?.includes('<<< TLS 1.2, Alert [length 0002], fatal bad_record_mac'), wrongKey?.join('\n'));
    assert.deepEqual(unknown, wrongKey);
  });
});
