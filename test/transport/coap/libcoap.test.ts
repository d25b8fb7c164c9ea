// Proves interoperability with libcoap's coap-client (Debian's libcoap3-bin, the client the
// local endpoint promises to serve): an RPC posted by coap-client reaches the handler and its
// JSON answer comes back; unknown paths and methods get 4.04/4.05 with diagnostics; a 10 kB
// body goes up Block1-wise and a 5 kB response comes down Block2-wise, also in one combined
// exchange. coap-client exits 0 even on errors, so the tests read its output. Skipped when
// coap-client-notls is not installed.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ResponseMessage } from '../../../contracts/messages.js';
import { CoapResponseCode, CoapServer } from '../../../transport/coap/index.js';
import { createUdpCoapTransport } from '../../../transport/coap/index.js';
import { createRealTimers } from '../../../transport/timers.js';
import { openUdpEndpoint } from '../../../transport/udp.js';
import { createTestSerializer } from '../test-serializer.js';

const run = promisify(execFile);
const CLIENT = 'coap-client-notls';

async function coapClient(args: readonly string[]): Promise<string> {
  const { stdout, stderr } = await run(CLIENT, ['-B', '10', ...args], { timeout: 20_000, maxBuffer: 1 << 20 });
  return `${stdout}${stderr}`;
}

describe('interop with libcoap coap-client', function () {
  this.timeout(30_000);
  let dir = '';
  const stops: (() => Promise<void>)[] = [];

  before(async function () {
    try {
      await run(CLIENT, ['-h'], { timeout: 5000 }).catch((error: { code?: unknown }) => {
        if (error.code === 'ENOENT') throw error;
      });
    } catch {
      this.skip();
    }
    dir = await mkdtemp(join(tmpdir(), 'coraft-libcoap-'));
  });

  after(async () => {
    for (const stop of stops.splice(0)) await stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('posts an RPC to /raft/TimeoutNow and reads the JSON answer', async () => {
    const transport = createUdpCoapTransport({
      serializer: createTestSerializer(),
      listenAddress: '127.0.0.1',
      listenPort: 0,
    });
    transport.server.setHandler((request) =>
      Promise.resolve<ResponseMessage>({
        type: 'TimeoutNowResponse',
        term: request.type === 'TimeoutNowRequest' ? request.term + 1 : 0,
      }),
    );
    await transport.server.start();
    stops.push(() => transport.server.stop());
    const base = `coap://127.0.0.1:${transport.server.localAddress().port}`;
    const answer = await coapClient([
      '-m',
      'post',
      '-t',
      '50',
      '-e',
      '{"type":"TimeoutNowRequest","term":41,"leaderId":"a"}',
      `${base}/raft/TimeoutNow`,
    ]);
    assert.deepEqual(JSON.parse(answer), { type: 'TimeoutNowResponse', term: 42 });
    assert.match(await coapClient(['-m', 'post', '-e', 'payload', `${base}/raft/x`]), /4\.04 no such resource/);
    assert.match(await coapClient(['-m', 'get', `${base}/raft/TimeoutNow`]), /4\.05/);
    assert.match(
      await coapClient(['-m', 'post', '-e', 'not json', `${base}/raft/TimeoutNow`]),
      /4\.00 CODEC_MALFORMED/,
    );
  });

  it('sends a Block1 body and receives a Block2 body, separately and combined', async () => {
    const server = new CoapServer({ openEndpoint: () => openUdpEndpoint(), timers: createRealTimers() });
    server.addResource('/upload', {
      POST: (r) =>
        Promise.resolve({
          code: CoapResponseCode.Changed,
          payload: Buffer.from(`got ${r.payload.length} bytes ${r.payload[9999] ?? -1}`),
        }),
    });
    server.addResource('/both', {
      POST: (r) =>
        Promise.resolve({ code: CoapResponseCode.Changed, payload: Buffer.alloc(5000, String(r.payload.length % 10)) }),
    });
    server.addResource('/big', {
      GET: () => Promise.resolve({ code: CoapResponseCode.Content, payload: Buffer.alloc(5000, 'x') }),
    });
    await server.start();
    stops.push(() => server.stop());
    const base = `coap://127.0.0.1:${server.localAddress().port}`;
    const file = join(dir, 'body.bin');
    await writeFile(file, Buffer.alloc(10_000, 0x2a));
    assert.equal(
      (await coapClient(['-m', 'post', '-b', '1024', '-f', file, `${base}/upload`])).trim(),
      'got 10000 bytes 42',
    );
    assert.equal((await coapClient(['-m', 'get', `${base}/big`])).trim(), 'x'.repeat(5000));
    assert.equal((await coapClient(['-m', 'post', '-b', '512', '-f', file, `${base}/both`])).trim(), '0'.repeat(5000));
  });
});
