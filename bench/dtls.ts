/**
 * DTLS benchmark on loopback: full handshakes per second (sequential and concurrent) with
 * p50/p99 latency, and application-data round trips per second over one established session
 * with 1 and 64 datagrams outstanding. Client and server run in this one process, so every
 * figure pays for both sides on the same core.
 *
 * `npm run bench -- dtls [--json] [--quick]`, or `run([])` from another bench.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { ContentType, DTLS_1_2, HandshakeType, TLS_PSK_WITH_AES_128_CCM_8 } from '../transport/dtls/constants.js';
import { encodeHandshakeFragment } from '../transport/dtls/fragments.js';
import { encodeClientHello } from '../transport/dtls/handshake-messages.js';
import { encodeRecord } from '../transport/dtls/record.js';
import { DtlsClientEndpoint } from '../transport/dtls/client.js';
import { DtlsServerEndpoint } from '../transport/dtls/server.js';

const PSK = Buffer.from('bench pre-shared key');
const HOST = '127.0.0.1';

/** Results of {@link measureHandshakes}. */
export interface HandshakeFigures {
  readonly handshakes: number;
  readonly concurrency: number;
  readonly handshakesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Results of {@link measureRoundTrips}. */
export interface RoundTripFigures {
  readonly outstanding: number;
  readonly roundTrips: number;
  readonly roundTripsPerSecond: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function startServer(): Promise<DtlsServerEndpoint> {
  return DtlsServerEndpoint.listen({
    host: HOST,
    port: 0,
    pskLookup: () => PSK,
    handshakesInProgressMax: 1024,
    sessionsMax: 4096,
  });
}

/**
 * Runs `count` full handshakes (cookie exchange included) against a fresh in-process server,
 * `concurrency` at a time, each client closing its session (close_notify) before the next.
 */
export async function measureHandshakes(count: number, concurrency: number): Promise<HandshakeFigures> {
  const server = await startServer();
  const port = server.localAddress().port;
  const clients = await Promise.all(
    Array.from({ length: concurrency }, () =>
      DtlsClientEndpoint.open({ identity: 'bench', psk: PSK, bindAddress: HOST }),
    ),
  );
  const latencies: number[] = [];
  let started = 0;
  const begin = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      while (started < count) {
        started += 1;
        const t0 = performance.now();
        await client.connect(HOST, port);
        latencies.push(performance.now() - t0);
        client.resetSession(HOST, port);
      }
    }),
  );
  const elapsedMs = performance.now() - begin;
  await Promise.all(clients.map((c) => c.close()));
  await server.close();
  latencies.sort((a, b) => a - b);
  return {
    handshakes: latencies.length,
    concurrency,
    handshakesPerSecond: Math.round((latencies.length / elapsedMs) * 1000),
    p50Ms: Number(percentile(latencies, 50).toFixed(3)),
    p99Ms: Number(percentile(latencies, 99).toFixed(3)),
  };
}

/** Echoes `count` datagrams of `bytes` bytes over one session, `outstanding` in flight at a time. */
export async function measureRoundTrips(count: number, outstanding: number, bytes = 64): Promise<RoundTripFigures> {
  const server = await startServer();
  server.onMessage((data, peer) => void server.send(data, peer.address, peer.port));
  const port = server.localAddress().port;
  const client = await DtlsClientEndpoint.open({ identity: 'bench', psk: PSK, bindAddress: HOST });
  await client.connect(HOST, port);
  const payload = Buffer.alloc(bytes, 7);
  let sent = 0;
  let received = 0;
  const begin = performance.now();
  await new Promise<void>((resolve, reject) => {
    const sendOne = (): void => {
      sent += 1;
      client.send(payload, HOST, port).catch(reject);
    };
    client.onMessage(() => {
      received += 1;
      if (received === count) resolve();
      else if (sent < count) sendOne();
    });
    for (let i = 0; i < Math.min(outstanding, count); i += 1) sendOne();
  });
  const elapsedMs = performance.now() - begin;
  await client.close();
  await server.close();
  return { outstanding, roundTrips: received, roundTripsPerSecond: Math.round((received / elapsedMs) * 1000) };
}

/**
 * Sends `count` cookie-less ClientHellos (what a spoofed-source flood looks like), `window`
 * unanswered at a time, and measures how many HelloVerifyRequests per second the server's
 * stateless path answers.
 */
export async function measureHelloVerifyRequests(count: number, window = 32): Promise<number> {
  const server = await startServer();
  const port = server.localAddress().port;
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, () => resolve()));
  const body = encodeClientHello({
    version: DTLS_1_2,
    random: randomBytes(32),
    sessionId: new Uint8Array(0),
    cookie: new Uint8Array(0),
    cipherSuites: [TLS_PSK_WITH_AES_128_CCM_8],
    compressionMethods: Uint8Array.of(0),
    extensions: [],
  });
  const hello = encodeRecord(
    ContentType.handshake,
    DTLS_1_2,
    0,
    0,
    encodeHandshakeFragment(HandshakeType.clientHello, body.length, 0, 0, body),
  );
  let sent = 0;
  let answered = 0;
  const begin = performance.now();
  await new Promise<void>((resolve) => {
    // Should the kernel drop datagrams, stop after a second without answers instead of hanging.
    let watchdog = setTimeout(resolve, 1000);
    socket.on('message', () => {
      answered += 1;
      clearTimeout(watchdog);
      watchdog = setTimeout(resolve, 1000);
      if (answered === count) {
        clearTimeout(watchdog);
        resolve();
      } else if (sent < count) {
        sent += 1;
        socket.send(hello, port, HOST);
      }
    });
    for (; sent < Math.min(window, count); sent += 1) socket.send(hello, port, HOST);
  });
  const elapsedMs = performance.now() - begin;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  await server.close();
  return Math.round((answered / elapsedMs) * 1000);
}

/** Runs every measurement; `--quick` shortens them. Prints one line per figure. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const handshakes = quick ? 300 : 3000;
  const roundTrips = quick ? 2000 : 30_000;
  // Warm up the JIT and the crypto paths before measuring.
  await measureHandshakes(quick ? 50 : 300, 4);
  const sequential = await measureHandshakes(handshakes, 1);
  console.log(
    `dtls handshakes sequential: ${sequential.handshakesPerSecond}/s, p50 ${sequential.p50Ms} ms, ` +
      `p99 ${sequential.p99Ms} ms`,
  );
  const concurrent = await measureHandshakes(handshakes, 16);
  console.log(
    `dtls handshakes 16 concurrent: ${concurrent.handshakesPerSecond}/s, p50 ${concurrent.p50Ms} ms, ` +
      `p99 ${concurrent.p99Ms} ms`,
  );
  const rt1 = await measureRoundTrips(roundTrips, 1);
  console.log(`dtls round trips, 1 outstanding: ${rt1.roundTripsPerSecond}/s`);
  const rt64 = await measureRoundTrips(roundTrips, 64);
  console.log(`dtls round trips, 64 outstanding: ${rt64.roundTripsPerSecond}/s`);
  const hvr = await measureHelloVerifyRequests(quick ? 2000 : 30_000);
  console.log(`dtls stateless HelloVerifyRequests: ${hvr}/s`);
  return {
    handshakesSequentialPerSecond: sequential.handshakesPerSecond,
    handshakeSequentialP50Ms: sequential.p50Ms,
    handshakeSequentialP99Ms: sequential.p99Ms,
    handshakesConcurrent16PerSecond: concurrent.handshakesPerSecond,
    handshakeConcurrent16P50Ms: concurrent.p50Ms,
    handshakeConcurrent16P99Ms: concurrent.p99Ms,
    roundTripsPerSecondOutstanding1: rt1.roundTripsPerSecond,
    roundTripsPerSecondOutstanding64: rt64.roundTripsPerSecond,
    helloVerifyRequestsPerSecond: hvr,
  };
}
