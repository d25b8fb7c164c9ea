// Proves that real CoAP-over-DTLS clients reach a CoAP resource served over our DTLS server:
// libcoap's coap-client-openssl and coap-client-gnutls (`-k` takes the key as a plain
// string, so the key is printable; the exit status is 0 even on errors, so the output is
// checked), and node-dtls-client 1.1.1, which also must not be sent a PSK identity hint.
// The CoAP answer is built with coap-packet: ACK 2.05 with the request's token and message id.
import { strict as assert } from 'node:assert';
import { generate, parse } from 'coap-packet';
import { dtls } from 'node-dtls-client';
import type { DtlsServerEndpoint } from '../../../transport/dtls/server.js';
import { Cleanup, internalErrors, startServer } from './helpers.js';
import { Peer, hasCommand } from './interop-helpers.js';
import { scaledMs } from '../../timing.js';

const pskText = 'coraft-secret-key';
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? Buffer.from(pskText) : null);

/** Answers every CoAP request with ACK 2.05 and a payload naming the path and identity. */
function serveCoap(server: DtlsServerEndpoint): string[] {
  const paths: string[] = [];
  server.onMessage((data, peer) => {
    const request = parse(Buffer.from(data));
    const path = request.options
      .filter((o) => o.name === 'Uri-Path')
      .map((o) => o.value.toString())
      .join('/');
    paths.push(path);
    const response = generate({
      messageId: request.messageId,
      token: request.token,
      code: '2.05',
      ack: true,
      payload: Buffer.from(`hello ${peer.identity ?? '?'} from /${path}`),
    });
    void server.send(response, peer.address, peer.port);
  });
  return paths;
}

describe('DTLS interop with CoAP clients', function () {
  this.timeout(scaledMs(30_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  for (const command of ['coap-client-openssl', 'coap-client-gnutls']) {
    it(`${command} gets a response from a resource over our DTLS server`, async function () {
      if (!hasCommand(command)) {
        console.log(`      ${command} not installed: skipped (CI installs libcoap3-bin)`);
        this.skip();
      }
      const server = await startServer(cleanup, { pskLookup: lookup });
      const paths = serveCoap(server);
      const port = server.localAddress().port;
      const client = new Peer(command, [
        '-m',
        'get',
        '-B',
        '10',
        '-k',
        pskText,
        '-u',
        'node-a',
        `coaps://127.0.0.1:${port}/x`,
      ]);
      await client.exit(15_000);
      assert.match(client.output, /hello node-a from \/x/);
      assert.deepEqual(paths, ['x']);
      assert.equal(server.stats().handshakesCompleted, 1);
    });
  }

  it('node-dtls-client 1.1.1 talks to our server', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup });
    const received: string[] = [];
    server.onMessage((data, peer) => {
      received.push(`${peer.identity}:${Buffer.from(data).toString()}`);
      void server.send(Buffer.from('pong'), peer.address, peer.port);
    });
    const socket = dtls.createSocket({
      type: 'udp4',
      address: '127.0.0.1',
      port: server.localAddress().port,
      psk: { 'node-a': pskText },
      timeout: scaledMs(5000),
    });
    const reply = await new Promise<string>((resolve, reject) => {
      socket.on('connected', () => socket.send(Buffer.from('ping')));
      socket.on('message', (message: Buffer) => resolve(message.toString()));
      socket.on('error', reject);
    });
    assert.equal(reply, 'pong');
    assert.deepEqual(received, ['node-a:ping']);
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  });

  it('node-dtls-client, which offers no extended master secret, is refused when the server requires it', async () => {
    const server = await startServer(cleanup, { pskLookup: lookup, requireExtendedMasterSecret: true });
    const socket = dtls.createSocket({
      type: 'udp4',
      address: '127.0.0.1',
      port: server.localAddress().port,
      psk: { 'node-a': pskText },
      timeout: scaledMs(5000),
    });
    const outcome = await new Promise<string>((resolve) => {
      socket.on('connected', () => resolve('connected'));
      socket.on('error', (error: Error) => resolve(`error: ${error.message}`));
    });
    assert.match(outcome, /^error/);
    assert.equal(server.stats().handshakesFailed, 1);
    assert.equal(server.stats().handshakesCompleted, 0);
  });
});
