// Proves that the CLI's endpoint client sends a value whole in one datagram to a plain-UDP
// endpoint on loopback (one request for a 4 KiB value, where 1 KiB Block1 blocks took four
// round trips), goes in 58 KiB pieces for a value over the whole-datagram bound, and recognises
// loopback addresses only (127.0.0.0/8 and ::1), so that no other host gets large datagrams.
// Also: a command sent without an endpoint key to an endpoint that never answers (a coaps
// endpoint drops plain CoAP) says that such an endpoint needs --endpoint-key, and one that
// outlived its deadline at an endpoint that still answers does not.
import { strict as assert } from 'node:assert';
import {
  EndpointClient,
  LOOPBACK_WHOLE_BODY_BYTES_MAX,
  isLoopbackAddress,
} from '../../../agent/cli/endpoint-client.js';
import { CoapResponseCode, CoapServer } from '../../../transport/coap/index.js';
import { createRealTimers } from '../../../transport/timers.js';
import { openUdpEndpoint } from '../../../transport/udp.js';
import { CLIENT_EXIT, withClient } from '../../../agent/cli/client-common.js';

describe('EndpointClient', function () {
  this.timeout(20_000);

  it('sends a 4 KiB value to a loopback endpoint in one request, and a larger one in pieces', async () => {
    const server = new CoapServer(
      { openEndpoint: () => openUdpEndpoint({ address: '127.0.0.1', port: 0 }), timers: createRealTimers() },
      { bodyBytesMax: 128 * 1024 },
    );
    const sizes: number[] = [];
    server.addResource('/kv/*', {
      PUT: (request) => {
        sizes.push(request.payload.length);
        return Promise.resolve({ code: CoapResponseCode.Changed });
      },
    });
    await server.start();
    const client = new EndpointClient({
      endpoint: { host: '127.0.0.1', port: server.localAddress().port },
      timeoutMs: 5_000,
    });
    try {
      const small = await client.request({ method: 'PUT', path: ['kv', 'a'], payload: new Uint8Array(4096) });
      assert.equal(small.code, CoapResponseCode.Changed);
      assert.equal(server.stats.requests, 1, 'one request for a 4 KiB value');
      const bound = LOOPBACK_WHOLE_BODY_BYTES_MAX;
      const whole = await client.request({ method: 'PUT', path: ['kv', 'b'], payload: new Uint8Array(bound) });
      assert.equal(whole.code, CoapResponseCode.Changed);
      assert.equal(server.stats.requests, 2, 'a value of the bound still goes in one datagram');
      const size = bound + 1;
      const large = await client.request({ method: 'PUT', path: ['kv', 'c'], payload: new Uint8Array(size) });
      assert.equal(large.code, CoapResponseCode.Changed);
      // Past the bound the body goes in 58 KiB pieces (transport/coap/pieces.ts): 2 datagrams, not 59 blocks.
      assert.equal(server.stats.requests, 2 + Math.ceil(size / (58 * 1024)), 'in pieces past the bound');
      assert.deepEqual(sizes, [4096, bound, size]);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  it('says that an endpoint with keys needs --endpoint-key when a keyless request gets no answer', async () => {
    const silent = await openUdpEndpoint({ address: '127.0.0.1', port: 0 });
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: string | Uint8Array): boolean => (written.push(String(chunk)), true);
    try {
      const endpoint = `127.0.0.1:${silent.localAddress().port}`;
      const code = await withClient({ endpoint, 'timeout-ms': '300' }, async (client) => {
        await client.json('GET', '/status');
        return CLIENT_EXIT.ok;
      });
      assert.equal(code, CLIENT_EXIT.unreachable);
    } finally {
      process.stderr.write = write;
      await silent.close();
    }
    assert.match(written.join(''), /did not answer \(no response .*\); an endpoint with endpoint keys \(coaps\)/);
    assert.match(written.join(''), /answers only with --endpoint-key FILE\n$/);
  });

  it('adds no key hint when the endpoint still answers (a long operation outlived the deadline)', async () => {
    const server = new CoapServer(
      { openEndpoint: () => openUdpEndpoint({ address: '127.0.0.1', port: 0 }), timers: createRealTimers() },
      { bodyBytesMax: 1024 },
    );
    server.addResource('/status', { GET: () => Promise.resolve({ code: CoapResponseCode.Content }) });
    server.addResource('/members', { POST: () => new Promise(() => undefined) });
    await server.start();
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: string | Uint8Array): boolean => (written.push(String(chunk)), true);
    try {
      const endpoint = `127.0.0.1:${server.localAddress().port}`;
      const code = await withClient({ endpoint, 'timeout-ms': '300' }, async (client) => {
        await client.json('POST', '/members', {});
        return CLIENT_EXIT.ok;
      });
      assert.equal(code, CLIENT_EXIT.unreachable);
    } finally {
      process.stderr.write = write;
      await server.stop();
    }
    assert.match(written.join(''), /did not answer \(no response .* within the deadline\)\n$/);
  });

  it('takes only 127.0.0.0/8 and ::1 for loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1']) assert.equal(isLoopbackAddress(host), true, host);
    for (const host of ['10.0.0.1', '0.0.0.0', '::', '127.0.0.1.example', 'localhost', '::ffff:10.0.0.1'])
      assert.equal(isLoopbackAddress(host), false, host);
  });
});
