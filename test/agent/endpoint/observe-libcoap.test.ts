// Proves, over real UDP on loopback with libcoap's coap-client-notls as the observer, that the
// local endpoint's Observe table cannot be filled up: after 10,000 registrations on /status
// and /kv/{key} from 100 ports × 100 tokens (each answered), a fresh `coap-client-notls -s`
// observer of /kv/{key} receives the notification of a later write (made by another
// coap-client process). The endpoint runs in this process on a one-node cluster with real
// timers. Skipped when coap-client-notls is not installed.
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { coapClient, waitFor, watchCoapClient } from '../integration/helpers.js';
import { requestDatagram, udpEndpointNode, type EndpointNode } from './harness.js';
import { coapClientInstalled } from '../../libcoap.js';

/** Registers `tokens` observers from one new socket and resolves when all are answered. */
async function register(port: number, socketIndex: number, tokens: number): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  let answered = 0;
  const done = new Promise<void>((resolve) => {
    socket.on('message', (data) => {
      // Answers are piggybacked ACKs (type 2); later notifications are ignored.
      if ((data[0] ?? 0) >> 4 === 0x6 && ++answered === tokens) resolve();
    });
  });
  for (let t = 0; t < tokens; t += 1) {
    const path = t % 2 === 0 ? '/kv/k?stale' : '/status';
    socket.send(
      requestDatagram({ path, messageId: t + 1, token: Uint8Array.from([socketIndex, t]), observe: 0 }),
      port,
      '127.0.0.1',
    );
  }
  await done;
  return socket;
}

describe('local endpoint: a fresh libcoap observer after 10,000 registrations', function () {
  this.timeout(120_000);
  let h: (EndpointNode & { readonly port: number }) | null = null;
  const sockets: Socket[] = [];

  before(function () {
    if (!coapClientInstalled()) this.skip();
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await h?.stop();
  });

  it('notifies coap-client-notls -s of a write', async () => {
    h = await udpEndpointNode();
    const url = `coap://127.0.0.1:${h.port}/kv/k`;
    assert.match(
      await coapClient('-m', 'put', '-T', 'a1', '-e', 'v0', url),
      /^\{"revision":\d+,"storeRevision":\d+\}$/,
    );
    for (let i = 0; i < 100; i += 1) sockets.push(await register(h.port, i, 100));
    const observer = watchCoapClient('-s', '20', '-B', '20', '-T', 'f1', '-m', 'get', url);
    try {
      await waitFor('the first answer to the fresh observer', () => observer.output().includes('v0'));
      assert.match(
        await coapClient('-m', 'put', '-T', 'a2', '-e', 'v1-after-flood', url),
        /^\{"revision":\d+,"storeRevision":\d+\}$/,
      );
      await waitFor('the notification of the write', () => observer.output().includes('v1-after-flood'));
    } finally {
      observer.stop();
    }
    assert.equal(h.endpoint.observerCount(), 1024, 'the table holds observersMax');
  });
});
