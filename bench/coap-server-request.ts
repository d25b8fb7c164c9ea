/**
 * The CoAP server's cost per request in isolation: V8 heap bytes allocated and nanoseconds per
 * request, from the datagram to the handler and back, with no socket and no agent.
 *
 *   npm run bench -- coap-server-request [--requests=400000] [--clients=64] [--value-bytes=256]
 *                                        [--rounds=3] [--json]
 *
 * A CoapServer runs on an in-process endpoint that hands it datagrams synchronously and drops
 * what it sends (with `post`, as the UDP endpoint's; node:dgram's own cost per datagram is not
 * counted). The datagrams are what the local endpoint gets
 * under the vs-etcd load: confirmable PUT /kv/{key} with an 8-byte token and a value of
 * --value-bytes, from --clients peers, each with its own message ids (so none is a duplicate).
 * The handler answers at once with the local endpoint's PUT answer (2.04, Content-Format JSON,
 * an 8-byte ETag, coraft's store-revision option and a `{"revision":N}` body), built once: the
 * figures are the server's, not the handler's. Requests go in batches of --clients, each batch
 * answered (its microtasks run) before the next, as a closed loop would.
 *
 * Bytes per request come from V8's GC profiler (v8.GCProfiler): what was live before each
 * collection less what was live after the one before it, plus the growth since the last, over
 * the measured requests; the first round warms the code up and is not reported.
 */
import { performance } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { CoapMethodCode, CoapOption, CoapResponseCode, CoapType } from '../transport/coap/codes.js';
import { encodeMessage } from '../transport/coap/message.js';
import { stringOption } from '../transport/coap/options.js';
import { CoapServer } from '../transport/coap/server.js';
import type { CoapResponse } from '../transport/coap/request.js';
import type { DatagramEndpoint, DatagramHandler, DatagramPeer } from '../transport/datagram.js';
import { createRealTimers } from '../transport/timers.js';
import { intOption, round } from './_figures.js';

/** coraft's store-revision option (agent/endpoint/documents.ts). */
const STORE_REVISION_OPTION = 65000;
const CLIENT_ADDRESS = '127.0.0.1';
const CLIENT_PORT_BASE = 40_000;
const RESOLVED = Promise.resolve();

/** An endpoint that delivers datagrams when told and counts what the server sends. */
class InProcessEndpoint implements DatagramEndpoint {
  handler: DatagramHandler | null = null;
  sent = 0;
  sentBytes = 0;

  send(data: Uint8Array): Promise<void> {
    this.post(data);
    return RESOLVED;
  }

  /** As UdpEndpoint's: the server answers through it when the endpoint has it. */
  post(data: Uint8Array): void {
    this.sent += 1;
    this.sentBytes += data.length;
  }

  onMessage(handler: DatagramHandler): void {
    this.handler = handler;
  }

  localAddress(): { readonly address: string; readonly port: number } {
    return { address: '127.0.0.1', port: 5683 };
  }

  close(): Promise<void> {
    return RESOLVED;
  }
}

/** Heap bytes allocated between `start` and `stop`, from the GC profiler's samples. */
function allocatedBytes(profile: ReturnType<GCProfiler['stop']>, usedAtStart: number, usedAtEnd: number): number {
  let allocated = 0;
  let liveAfterPrevious = usedAtStart;
  for (const gc of profile?.statistics ?? []) {
    allocated += gc.beforeGC.heapStatistics.usedHeapSize - liveAfterPrevious;
    liveAfterPrevious = gc.afterGC.heapStatistics.usedHeapSize;
  }
  return allocated + usedAtEnd - liveAfterPrevious;
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A started server whose one resource answers every PUT /kv/{key} with the local endpoint's answer. */
async function startServer(): Promise<{ server: CoapServer; endpoint: InProcessEndpoint; handled: () => number }> {
  const endpoint = new InProcessEndpoint();
  const server = new CoapServer({ openEndpoint: () => Promise.resolve(endpoint), timers: createRealTimers() });
  const answer: CoapResponse = {
    code: CoapResponseCode.Changed,
    payload: new TextEncoder().encode(JSON.stringify({ revision: 123_456 })),
    contentFormat: 50,
    etag: Uint8Array.from([0, 0, 0, 0, 0, 1, 0xe2, 0x40]),
    options: [{ number: STORE_REVISION_OPTION, value: Uint8Array.from([0x01, 0xe2, 0x40]) }],
  };
  let handled = 0;
  server.addResource('/kv/*', {
    PUT: () => {
      handled += 1;
      return Promise.resolve(answer);
    },
  });
  await server.start();
  return { server, endpoint, handled: () => handled };
}

/** Sends batches of one request per client, each batch answered before the next. */
function requestBatches(
  deliver: DatagramHandler,
  clients: number,
  valueBytes: number,
): (batches: number) => Promise<void> {
  // One datagram per client, its message id and token rewritten before each send.
  const value = new Uint8Array(valueBytes).fill(0x61);
  const datagrams = Array.from({ length: clients }, (_, c) =>
    encodeMessage({
      type: CoapType.CON,
      code: CoapMethodCode.PUT,
      messageId: 0,
      token: new Uint8Array(8),
      options: [stringOption(CoapOption.UriPath, 'kv'), stringOption(CoapOption.UriPath, `bench-${c}-0`)],
      payload: value,
    }),
  );
  let sequence = 0;
  return async (batches) => {
    for (let b = 0; b < batches; b += 1) {
      for (let c = 0; c < clients; c += 1) {
        const datagram = datagrams[c];
        if (datagram === undefined) continue;
        sequence += 1;
        datagram[2] = (sequence >>> 8) & 0xff;
        datagram[3] = sequence & 0xff;
        for (let i = 0; i < 4; i += 1) datagram[8 + i] = (sequence >>> (8 * i)) & 0xff;
        const peer: DatagramPeer = { address: CLIENT_ADDRESS, port: CLIENT_PORT_BASE + c, identity: null };
        deliver(datagram, peer);
      }
      await turn();
    }
  };
}

/** One measured round: bytes and ns per request answered. */
async function measure(
  send: (batches: number) => Promise<void>,
  batches: number,
  endpoint: InProcessEndpoint,
): Promise<{ answered: number; bytesPerRequest: number; nsPerRequest: number }> {
  const sentBefore = endpoint.sent;
  const profiler = new GCProfiler();
  const usedAtStart = getHeapStatistics().used_heap_size;
  profiler.start();
  const started = performance.now();
  await send(batches);
  const elapsedMs = performance.now() - started;
  const usedAtEnd = getHeapStatistics().used_heap_size;
  const profile = profiler.stop();
  const answered = endpoint.sent - sentBefore;
  const bytes = allocatedBytes(profile, usedAtStart, usedAtEnd) / answered;
  return { answered, bytesPerRequest: round(bytes, 0), nsPerRequest: round((elapsedMs * 1e6) / answered, 0) };
}

export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  const requests = intOption(args, 'requests', 400_000, 1000, 100_000_000);
  const clients = intOption(args, 'clients', 64, 1, 1024);
  const valueBytes = intOption(args, 'value-bytes', 256, 0, 60_000);
  const rounds = intOption(args, 'rounds', 3, 1, 100);

  const { server, endpoint, handled } = await startServer();
  const deliver = endpoint.handler;
  if (deliver === null) throw new Error('the server did not listen');
  const send = requestBatches(deliver, clients, valueBytes);
  const batches = Math.ceil(requests / clients);
  const figures: { bytesPerRequest: number; nsPerRequest: number }[] = [];
  for (let r = 0; r <= rounds; r += 1) {
    const { answered, bytesPerRequest, nsPerRequest } = await measure(send, batches, endpoint);
    if (answered !== batches * clients) throw new Error(`${answered} answers to ${batches * clients} requests`);
    // The first round warms the code up.
    if (r === 0) continue;
    figures.push({ bytesPerRequest, nsPerRequest });
    say(`round ${r}: ${answered} requests, ${bytesPerRequest} B and ${nsPerRequest} ns per request`);
  }
  await server.stop();
  const stats = server.stats;
  if (stats.duplicates !== 0 || stats.malformed !== 0 || handled() !== stats.requests)
    throw new Error(`unexpected server stats ${JSON.stringify(stats)}`);
  const best = (key: 'bytesPerRequest' | 'nsPerRequest'): number => Math.min(...figures.map((f) => f[key]));
  say(`best of ${rounds}: ${best('bytesPerRequest')} B/request, ${best('nsPerRequest')} ns/request`);
  return {
    requests,
    clients,
    valueBytes,
    rounds: figures,
    bytesPerRequest: best('bytesPerRequest'),
    nsPerRequest: best('nsPerRequest'),
  };
}
