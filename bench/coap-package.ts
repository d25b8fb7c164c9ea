/**
 * The measurement behind building our own CoAP layer (see transport/coap/client.ts): round
 * trips per second of 100-byte confirmable POSTs echoed on loopback, client and server in
 * this process, with 1 and 64 outstanding, through raw node:dgram, the `coap` 1.5 package,
 * a bare coap-packet encode/parse ping-pong, and our CoapClient/CoapServer.
 *
 *   npm run bench -- coap-package [--json] [--duration-ms=3000]
 *
 * On the 2-core build machine (other jobs running): dgram 43,000-49,000 / 47,000-61,000 round
 * trips/s with 1 / 64 outstanding; coap 1.5 3,400-6,500 / 8,800-14,800; coap-packet alone
 * 30,000-34,000 / 36,000-39,000; ours 18,000-28,000 / 26,000-32,500.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { CoapClient, CoapResponseCode, CoapServer } from '../transport/coap/index.js';
import { createCryptoPrng, createRealTimers } from '../transport/timers.js';
import { openUdpEndpoint } from '../transport/udp.js';

interface CoapPackage {
  createServer(): {
    on(
      event: 'request',
      listener: (req: { payload: Buffer }, res: { code: string; end(payload: Buffer): void }) => void,
    ): void;
    listen(port: number, address: string, done: () => void): void;
    close(): void;
    _sock: { address(): { port: number } };
  };
  Agent: new (options: { type: string }) => { close(): void };
  request(options: object): { on(event: string, listener: (value: unknown) => void): void; end(payload: Buffer): void };
}
interface CoapPacket {
  generate(packet: object): Buffer;
  parse(buffer: Buffer): { messageId: number; token: Buffer; payload: Buffer };
}

const require = createRequire(import.meta.url);
const PAYLOAD = Buffer.alloc(100, 7);

async function rate(outstanding: number, durationMs: number, once: () => Promise<void>): Promise<number> {
  let count = 0;
  const end = performance.now() + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await once();
      count += 1;
    }
  };
  await Promise.all(Array.from({ length: outstanding }, worker));
  return Math.round(count / (durationMs / 1000));
}

async function bound(): Promise<Socket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

/** Echo over a raw socket pair; `frame` builds a request, `idOf` reads a response's id. */
async function pingPong(
  outstanding: number,
  durationMs: number,
  reply: (data: Buffer) => Buffer,
  frame: (id: number) => Buffer,
  idOf: (data: Buffer) => number,
): Promise<number> {
  const server = await bound();
  server.on('message', (data, from) => server.send(reply(data), from.port, from.address));
  const client = await bound();
  const waiting = new Map<number, () => void>();
  client.on('message', (data) => {
    const id = idOf(data);
    waiting.get(id)?.();
    waiting.delete(id);
  });
  let next = 0;
  const port = server.address().port;
  const result = await rate(
    outstanding,
    durationMs,
    () =>
      new Promise<void>((resolve) => {
        const id = (next = (next + 1) & 0xffff);
        waiting.set(id, resolve);
        client.send(frame(id), port, '127.0.0.1');
      }),
  );
  server.close();
  client.close();
  return result;
}

function rawDgram(outstanding: number, durationMs: number): Promise<number> {
  return pingPong(
    outstanding,
    durationMs,
    (data) => data,
    (id) => {
      const data = Buffer.alloc(104);
      data.writeUInt16BE(id, 0);
      PAYLOAD.copy(data, 4);
      return data;
    },
    (data) => data.readUInt16BE(0),
  );
}

function coapPacket(outstanding: number, durationMs: number): Promise<number> {
  const packet = require('coap-packet') as CoapPacket;
  const cf = { name: 'Content-Format', value: Buffer.from([50]) };
  return pingPong(
    outstanding,
    durationMs,
    (data) => {
      const request = packet.parse(data);
      return packet.generate({
        code: '2.04',
        messageId: request.messageId,
        token: request.token,
        ack: true,
        payload: request.payload,
        options: [cf],
      });
    },
    (id) =>
      packet.generate({
        code: 'POST',
        confirmable: true,
        messageId: id,
        token: Buffer.from([id >> 8, id & 0xff]),
        payload: PAYLOAD,
        options: [
          { name: 'Uri-Path', value: Buffer.from('raft') },
          { name: 'Uri-Path', value: Buffer.from('AppendEntries') },
          cf,
        ],
      }),
    (data) => packet.parse(data).messageId,
  );
}

async function coapPackage(outstanding: number, durationMs: number): Promise<number> {
  const coap = require('coap') as CoapPackage;
  const server = coap.createServer();
  server.on('request', (request, response) => {
    response.code = '2.04';
    response.end(request.payload);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server._sock.address().port;
  const agent = new coap.Agent({ type: 'udp4' });
  const result = await rate(
    outstanding,
    durationMs,
    () =>
      new Promise<void>((resolve, reject) => {
        const request = coap.request({
          hostname: '127.0.0.1',
          port,
          method: 'POST',
          pathname: '/raft/AppendEntries',
          agent,
          confirmable: true,
        });
        request.on('response', () => resolve());
        request.on('error', reject);
        request.end(PAYLOAD);
      }),
  );
  agent.close();
  server.close();
  return result;
}

async function ours(outstanding: number, durationMs: number): Promise<number> {
  const timers = createRealTimers();
  const server = new CoapServer({ openEndpoint: () => openUdpEndpoint(), timers: timers });
  server.addResource('/raft/AppendEntries', {
    POST: (request) => Promise.resolve({ code: CoapResponseCode.Changed, payload: request.payload }),
  });
  await server.start();
  const client = new CoapClient({ openEndpoint: () => openUdpEndpoint(), timers, prng: createCryptoPrng() });
  const target = server.localAddress();
  const result = await rate(outstanding, durationMs, async () => {
    await client.request(
      target,
      { method: 'POST', path: ['raft', 'AppendEntries'], contentFormat: 50, payload: PAYLOAD },
      5000,
    );
  });
  await client.close();
  await server.stop();
  return result;
}

/** Runs the comparison; see the module comment. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const durationArg = args.find((a) => a.startsWith('--duration-ms='));
  const durationMs = durationArg === undefined ? 3000 : Number(durationArg.slice('--duration-ms='.length));
  const results: Record<string, unknown> = {};
  const contenders: [string, (outstanding: number, durationMs: number) => Promise<number>][] = [
    ['dgram', rawDgram],
    ['coap-package', coapPackage],
    ['coap-packet', coapPacket],
    ['ours', ours],
  ];
  for (const [name, measure] of contenders) {
    const one = await measure(1, durationMs);
    const many = await measure(64, durationMs);
    console.log(
      `${name.padEnd(13)} ${one.toLocaleString('en').padStart(7)} rt/s with 1 ` +
        `outstanding, ${many.toLocaleString('en').padStart(7)} with 64`,
    );
    results[name] = { outstanding1: one, outstanding64: many };
  }
  return { durationMs, roundTripsPerSecond: results };
}
