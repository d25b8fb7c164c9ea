/**
 * DTLS benchmark on loopback: full handshakes per second (sequential and concurrent) with
 * p50/p99 latency, and application-data round trips per second over one established session
 * with 1 and 64 datagrams outstanding. Client and server run in this one process, so every
 * figure pays for both sides on the same core. The record figures (no sockets) seal records
 * with one record layer and split and open them with another, as a session does per datagram,
 * and time that in CPU seconds of this process, so that other load on the machine does not
 * count; beside them, in the same run, the same work done with one node:crypto
 * `aes-128-ccm` cipher built per record (what the record layer did before).
 *
 * The record figures also time tls12_cid records (RFC 9146, an 8-byte CID), the format our
 * client sends once our server gave it a CID.
 *
 * `npm run bench -- dtls [--json] [--quick] [--records]` (`--records`: the record figures
 * only), or `run([])` from another bench.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { ContentType, DTLS_1_2, HandshakeType, TLS_PSK_WITH_AES_128_CCM_8 } from '../transport/dtls/constants.js';
import { encodeHandshakeFragment } from '../transport/dtls/fragments.js';
import { encodeClientHello } from '../transport/dtls/handshake-messages.js';
import { encodeRecord, splitRecords } from '../transport/dtls/record.js';
import { RecordLayer } from '../transport/dtls/record-layer.js';
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
    // Every bench client presents one identity, up to 16 of them at once: the per-identity
    // share would have the server replace their sessions, work the figures never measured.
    sessionsPerIdentityMax: 4096,
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

/** Results of {@link measureRecords}: records sealed and opened per CPU second of this process. */
export interface RecordFigures {
  readonly bytes: number;
  readonly records: number;
  readonly recordsPerCpuSecond: number;
  readonly megabytesPerCpuSecond: number;
  /** The same work with one node:crypto `aes-128-ccm` cipher built per record. */
  readonly oneShotRecordsPerCpuSecond: number;
  readonly oneShotMegabytesPerCpuSecond: number;
  /** The record layer's figure for tls12_cid records with an 8-byte CID (RFC 9146). */
  readonly cidRecordsPerCpuSecond: number;
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

/**
 * Seals `count` application-data records of `bytes` bytes, then splits and opens each; CPU
 * seconds. With `cidBytes` > 0 the records are tls12_cid records with a CID that long (RFC 9146).
 */
function recordLayerSeconds(count: number, bytes: number, cidBytes = 0): number {
  const keys = {
    clientWriteKey: randomBytes(16),
    serverWriteKey: randomBytes(16),
    clientWriteIv: randomBytes(4),
    serverWriteIv: randomBytes(4),
  };
  const writer = new RecordLayer(true, 64);
  const reader = new RecordLayer(false, 64);
  if (cidBytes > 0) {
    const cid = randomBytes(cidBytes);
    writer.setConnectionIds({ read: null, write: cid });
    reader.setConnectionIds({ read: cid, write: null });
  }
  writer.setKeys(keys);
  reader.setKeys(keys);
  writer.activateWrite();
  reader.activateRead();
  const payload = randomBytes(bytes);
  const start = process.cpuUsage();
  for (let i = 0; i < count; i += 1) {
    const raw = splitRecords(writer.seal(ContentType.applicationData, 1, payload), 1, cidBytes).records[0];
    if (raw === undefined || typeof reader.open(raw) === 'string') throw new Error('a sealed record did not open');
  }
  return cpuSecondsSince(start);
}

/** The work of {@link recordLayerSeconds} with a node:crypto aes-128-ccm cipher built per record. */
function oneShotCcmSeconds(count: number, bytes: number): number {
  const key = randomBytes(16);
  const salt = randomBytes(4);
  const payload = randomBytes(bytes);
  const type = ContentType.applicationData;
  const start = process.cpuUsage();
  for (let seq = 0; seq < count; seq += 1) {
    const nonce = Buffer.alloc(12);
    nonce.set(salt);
    nonce[5] = 1; // epoch 1
    nonce.writeUIntBE(seq, 6, 6);
    const aad = Buffer.alloc(13);
    aad.set(nonce.subarray(4), 0);
    aad.set([type, DTLS_1_2 >>> 8, DTLS_1_2 & 0xff, bytes >>> 8, bytes & 0xff], 8);
    const cipher = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: 8 });
    cipher.setAAD(aad, { plaintextLength: bytes });
    const body = cipher.update(payload);
    cipher.final();
    const fragment = Buffer.concat([nonce.subarray(4), body, cipher.getAuthTag()]);
    const raw = splitRecords(encodeRecord(type, DTLS_1_2, 1, seq, fragment), 1).records[0];
    if (raw === undefined) throw new Error('a sealed record did not split');
    const opened = Buffer.alloc(12);
    opened.set(salt);
    opened.set(raw.fragment.subarray(0, 8), 4);
    const decipher = createDecipheriv('aes-128-ccm', key, opened, { authTagLength: 8 });
    decipher.setAuthTag(raw.fragment.subarray(8 + bytes));
    decipher.setAAD(aad, { plaintextLength: bytes });
    decipher.update(raw.fragment.subarray(8, 8 + bytes));
    decipher.final();
  }
  return cpuSecondsSince(start);
}

/**
 * Seals and opens `count` records of `bytes` bytes through the record layer, and does the same
 * with a cipher built per record, alternating the two `rounds` times and keeping each one's best.
 */
export function measureRecords(count: number, bytes: number, rounds = 3): RecordFigures {
  let layer = Infinity;
  let oneShot = Infinity;
  let cid = Infinity;
  for (let round = 0; round < rounds; round += 1) {
    layer = Math.min(layer, recordLayerSeconds(count, bytes));
    oneShot = Math.min(oneShot, oneShotCcmSeconds(count, bytes));
    cid = Math.min(cid, recordLayerSeconds(count, bytes, 8));
  }
  return {
    bytes,
    records: count,
    recordsPerCpuSecond: Math.round(count / layer),
    megabytesPerCpuSecond: Number(((count * bytes) / layer / 1e6).toFixed(1)),
    oneShotRecordsPerCpuSecond: Math.round(count / oneShot),
    oneShotMegabytesPerCpuSecond: Number(((count * bytes) / oneShot / 1e6).toFixed(1)),
    cidRecordsPerCpuSecond: Math.round(count / cid),
  };
}

function reportRecords(quick: boolean): Record<string, unknown> {
  const figures: Record<string, unknown> = {};
  // 16256 B: a peer link's packed AppendEntries (peerWholeBodyBytesMax), one full record.
  for (const bytes of [256, 1200, 4096, 16256]) {
    const r = measureRecords(Math.round((quick ? 5000 : 50_000) / Math.ceil(bytes / 1200)), bytes);
    console.log(
      `dtls records of ${bytes} B sealed+opened: ${r.recordsPerCpuSecond}/cpu-s, ${r.megabytesPerCpuSecond} MB/cpu-s ` +
        `(cipher per record: ${r.oneShotRecordsPerCpuSecond}/cpu-s, ${r.oneShotMegabytesPerCpuSecond} MB/cpu-s; ` +
        `tls12_cid records: ${r.cidRecordsPerCpuSecond}/cpu-s)`,
    );
    figures[`records${bytes}CidPerCpuSecond`] = r.cidRecordsPerCpuSecond;
    figures[`records${bytes}PerCpuSecond`] = r.recordsPerCpuSecond;
    figures[`records${bytes}MegabytesPerCpuSecond`] = r.megabytesPerCpuSecond;
    figures[`records${bytes}OneShotPerCpuSecond`] = r.oneShotRecordsPerCpuSecond;
    figures[`records${bytes}OneShotMegabytesPerCpuSecond`] = r.oneShotMegabytesPerCpuSecond;
  }
  return figures;
}

/** Runs every measurement; `--quick` shortens them. Prints one line per figure. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const records = reportRecords(quick);
  if (args.includes('--records')) return records;
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
    ...records,
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
