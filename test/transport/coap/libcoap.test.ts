// Proves interoperability with libcoap's coap-client (Debian's libcoap3-bin, the client the
// local endpoint promises to serve): an RPC posted by coap-client reaches the handler and its
// JSON answer comes back; unknown paths and methods get 4.04/4.05 with diagnostics; a 10 kB
// body goes up Block1-wise and a 5 kB response comes down Block2-wise, also in one combined
// exchange; a 64 KiB body goes up through coap-client with plain Block1 (Debian's libcoap 4.3.1
// has no Q-Block1 client). And our client against libcoap's coap-server-notls, which has no
// Q-Block1 either: the probe gets 4.02 Bad Option, the body goes again with Block1 and arrives
// whole, and the next body goes straight to Block1. A Block1 body whose handler takes 400 ms gets
// an empty ACK, then its response as a CON, which coap-client acknowledges (the local endpoint's
// separateBodyResponses). coap-client exits 0 even on errors, so the
// tests read its output. Skipped when coap-client-notls (or coap-server-notls) is not installed.
import { strict as assert } from 'node:assert';
import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ResponseMessage } from '../../../contracts/messages.js';
import { CoapClient, CoapOption, CoapResponseCode, CoapServer } from '../../../transport/coap/index.js';
import { decodeMessage } from '../../../transport/coap/message.js';
import { createCryptoPrng } from '../../../transport/timers.js';
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

  it('takes a 64 KiB body from coap-client in 1 KiB Block1 blocks', async () => {
    const server = new CoapServer({ openEndpoint: () => openUdpEndpoint(), timers: createRealTimers() });
    server.addResource('/upload', {
      PUT: (r) => {
        const intact = r.payload.every((b, i) => b === (i * 7) % 251);
        return Promise.resolve({
          code: CoapResponseCode.Changed,
          payload: Buffer.from(`${r.payload.length} ${intact}`),
        });
      },
    });
    await server.start();
    stops.push(() => server.stop());
    const file = join(dir, 'value.bin');
    await writeFile(file, Buffer.from(Array.from({ length: 65_536 }, (_, i) => (i * 7) % 251)));
    const base = `coap://127.0.0.1:${server.localAddress().port}`;
    assert.equal((await coapClient(['-m', 'put', '-b', '1024', '-f', file, `${base}/upload`])).trim(), '65536 true');
    assert.equal(server.stats.requests, 64, 'one request per block');
  });

  it('gets a separate response to a Block1 body whose handler is slow (separateBodyResponses)', async () => {
    const server = new CoapServer(
      { openEndpoint: () => openUdpEndpoint(), timers: createRealTimers() },
      { separateBodyResponses: true },
    );
    server.addResource('/upload', {
      PUT: (r) =>
        new Promise((resolve) =>
          setTimeout(
            () => resolve({ code: CoapResponseCode.Changed, payload: Buffer.from(`${r.payload.length}`) }),
            400,
          ),
        ),
    });
    await server.start();
    stops.push(() => server.stop());
    const file = join(dir, 'slow.bin');
    await writeFile(file, Buffer.alloc(5000, 0x41));
    const base = `coap://127.0.0.1:${server.localAddress().port}`;
    // Verbose output (-v 7) shows the messages: an empty ACK, then the response as a CON that coap-client acknowledges.
    const output = await coapClient(['-v', '7', '-m', 'put', '-b', '1024', '-f', file, `${base}/upload`]);
    const emptyAck = output.search(/t:ACK c:0\.00 i:[0-9a-f]+ \{\}/);
    const response = output.search(/t:CON c:2\.04 i:[0-9a-f]+ \{[0-9a-f]+\} \[ Block1:4\/_\/1024 \] :: '5000'/);
    assert.ok(emptyAck > 0 && response > emptyAck, 'an empty ACK, then the response as a CON');
    assert.match(output.slice(response), /sent 4 bytes\s+v:1 t:ACK c:0\.00/, 'which coap-client acknowledged');
    for (let waited = 0; server.blockStats().notificationsPending > 0 && waited < 2000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.blockStats().notificationsPending, 0, 'nothing left pending on the server');
  });

  it('falls back to Block1 when coap-server-notls answers the probe 4.02, and remembers it', async function () {
    const port = await freeUdpPort();
    const child = spawn('coap-server-notls', ['-A', '127.0.0.1', '-p', String(port), '-L', '7'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    stops.push(async () => {
      child.kill();
      await exited;
    });
    const spawned = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    if (!spawned) this.skip();
    const sent: { qblock1: boolean; block1: boolean }[] = [];
    const client = new CoapClient({
      openEndpoint: async () => {
        const endpoint = await openUdpEndpoint({ address: '127.0.0.1', port: 0 });
        const record = (data: Uint8Array): void => {
          const decoded = decodeMessage(data);
          const numbers = decoded.ok && decoded.message.code !== 0 ? decoded.message.options.map((o) => o.number) : [];
          if (numbers.length > 0)
            sent.push({ qblock1: numbers.includes(CoapOption.QBlock1), block1: numbers.includes(CoapOption.Block1) });
        };
        const send = endpoint.send.bind(endpoint);
        endpoint.send = (data, address, to) => {
          record(data);
          return send(data, address, to);
        };
        // Requests with a payload go as head and payload (transport/coap/outgoing.ts).
        const sendParts = endpoint.sendParts.bind(endpoint);
        endpoint.sendParts = (head, body, address, to) => {
          record(Buffer.concat([head, ...body]));
          return sendParts(head, body, address, to);
        };
        return endpoint;
      },
      timers: createRealTimers(),
      prng: createCryptoPrng(),
    });
    stops.push(() => client.close());
    const target = { address: '127.0.0.1', port };
    // coap-server needs a moment to bind: retry the first request until it answers.
    let first = null;
    for (let i = 0; i < 20 && first === null; i += 1)
      first = await client
        .request(target, { method: 'PUT', path: ['example_data'], payload: Buffer.alloc(20_000, 0x41) }, 1_000)
        .catch(() => null);
    assert.ok(first !== null, 'coap-server-notls answered');
    assert.ok(first.code === CoapResponseCode.Created || first.code === CoapResponseCode.Changed, `${first.code}`);
    assert.ok(
      sent.some((m) => m.qblock1),
      'the probe went out',
    );
    assert.equal(sent.filter((m) => m.block1).length, 20, 'then the body with Block1');
    sent.length = 0;
    const second = await client.request(
      target,
      { method: 'PUT', path: ['example_data'], payload: Buffer.alloc(20_000, 0x42) },
      5_000,
    );
    assert.equal(second.code, CoapResponseCode.Changed);
    assert.equal(sent.filter((m) => m.qblock1).length, 0, 'no second probe');
    assert.equal(sent.length, 20);
    const read = await client.request(target, { method: 'GET', path: ['example_data'] }, 5_000);
    assert.ok(Buffer.from(read.payload).equals(Buffer.alloc(20_000, 0x42)), 'the server holds the whole body');
  });
});

/** A UDP port free on 127.0.0.1 a moment ago. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
