// Proves the server stays up, bounded and correct under hostile traffic while a real client
// keeps exchanging data: random datagrams from many ports; truncated, bit-flipped and replayed
// copies of the client's own records sent from the client's address (through a tapping
// relay); a flood of ClientHellos from many source ports that never answer the
// HelloVerifyRequest (no state kept); and a flood of cookie-verified hellos that never finish
// (half-open state capped at handshakesInProgressMax, the oldest pushed out by newcomers, the
// rest dropped at clientFlightTimeoutMs).
// Randomness is seeded and the seed printed (DTLS_ROBUST_SEED reuses it).
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import type { MetricDimensions, Metrics } from '../../../contracts/metrics.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { ContentType, DTLS_1_2, HandshakeType, TLS_PSK_WITH_AES_128_CCM_8 } from '../../../transport/dtls/constants.js';
import { encodeHandshakeFragment } from '../../../transport/dtls/fragments.js';
import { encodeClientHello, parseHelloVerifyRequest } from '../../../transport/dtls/handshake-messages.js';
import { encodeRecord, splitRecords } from '../../../transport/dtls/record.js';
import { Cleanup, Inbox, LossyRelay, internalErrors, startClient, startServer, until } from './helpers.js';
import { scaledMs } from '../../timing.js';

const key = Buffer.from('robust key');
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? key : null);

/** Records every counter increment. */
class RecordingMetrics implements Metrics {
  readonly counts: string[] = [];
  increment(name: string, count = 1, dimensions: MetricDimensions = {}): void {
    for (let i = 0; i < count; i += 1) this.counts.push(`${name}${JSON.stringify(dimensions)}`);
  }
  setGauge(): void {}
  observe(): void {}
  observeDurationMs(): void {}
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

function clientHello(random: Uint8Array, cookie: Uint8Array, messageSeq: number): Uint8Array {
  const body = encodeClientHello({
    version: DTLS_1_2,
    random,
    sessionId: new Uint8Array(0),
    cookie,
    cipherSuites: [TLS_PSK_WITH_AES_128_CCM_8],
    compressionMethods: Uint8Array.of(0),
    extensions: [],
  });
  return encodeRecord(
    ContentType.handshake,
    DTLS_1_2,
    0,
    messageSeq,
    encodeHandshakeFragment(HandshakeType.clientHello, body.length, messageSeq, 0, body),
  );
}

async function openSockets(cleanup: Cleanup, count: number): Promise<Socket[]> {
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve) => {
          const s = createSocket('udp4');
          s.bind(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  cleanup.add(async () => {
    for (const s of sockets) await new Promise<void>((r) => s.close(() => r()));
  });
  return sockets;
}

describe('DTLS server robustness', function () {
  this.timeout(scaledMs(60_000));
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  it('keeps serving a real client through garbage, mutations, replays and a hello flood', async () => {
    const seed = Number(process.env.DTLS_ROBUST_SEED ?? Date.now() % 1_000_000);
    console.log(`      SEED=${seed} (DTLS_ROBUST_SEED)`);
    const prng = new SeededPrng(seed);
    const server = await startServer(cleanup, { pskLookup: lookup, handshakesInProgressMax: 16 });
    const deliveries = new Map<string, number>();
    server.onMessage((data, peer) => {
      const text = Buffer.from(data).toString();
      deliveries.set(text, (deliveries.get(text) ?? 0) + 1);
      void server.send(data, peer.address, peer.port).catch(() => undefined);
    });
    const relay = await LossyRelay.start(cleanup, server.localAddress().port, () => false);
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const inbox = new Inbox(client);
    let pings = 0;
    // Under the flood the kernel may drop a datagram; a ping is retried with a new text.
    const ping = async (): Promise<void> => {
      pings += 1;
      for (let attempt = 0; attempt < 10; attempt += 1) {
        const text = `ping-${pings}-${attempt}`;
        await client.send(Buffer.from(text), '127.0.0.1', relay.port());
        const answered = await Promise.race([
          inbox.waitFor(text).then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), scaledMs(1000))),
        ]);
        if (answered) return;
      }
      throw new Error(`ping ${pings} never answered`);
    };
    for (let i = 0; i < 5; i += 1) await ping();
    // Everything the client sent (handshake flights and data) is replayed and mutated from
    // the relay's socket, i.e. from the address:port of the client's session.
    const captured = [...relay.forwardedUp];
    const upstream = relay.firstUpstream();
    assert.ok(upstream !== undefined && captured.length >= 8);
    const attackers = await openSockets(cleanup, 50);
    const serverPort = server.localAddress().port;
    let maxHalfOpen = 0;
    for (let round = 0; round < 20; round += 1) {
      for (const socket of attackers) {
        const junk = new Uint8Array(prng.intBetween(0, 120)).map(() => prng.intBetween(0, 256));
        if (prng.chance(0.5) && junk.length > 13) junk.set([ContentType.applicationData, 0xfe, 0xfd, 0, 1], 0);
        socket.send(junk, serverPort, '127.0.0.1');
        const random = new Uint8Array(32).map(() => prng.intBetween(0, 256));
        socket.send(clientHello(random, prng.chance(0.3) ? random : new Uint8Array(0), 0), serverPort, '127.0.0.1');
      }
      for (const record of captured) {
        upstream.send(record, serverPort, '127.0.0.1');
        const mutated = Buffer.from(record);
        const bit = prng.intBetween(0, mutated.length * 8);
        mutated[bit >> 3] = (mutated[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        upstream.send(mutated, serverPort, '127.0.0.1');
        upstream.send(record.subarray(0, prng.intBetween(0, record.length)), serverPort, '127.0.0.1');
      }
      await ping();
      maxHalfOpen = Math.max(maxHalfOpen, server.stats().handshakesInProgress);
    }
    const stats = server.stats();
    assert.deepEqual(
      [...deliveries.values()].filter((n) => n !== 1),
      [],
      'replays were never delivered twice',
    );
    assert.ok(deliveries.size >= pings);
    assert.equal(maxHalfOpen, 0, 'hellos that never answer the HelloVerifyRequest leave no state');
    assert.equal(stats.sessions, 1);
    assert.ok(stats.dropped.replay > 0, 'replays were detected');
    assert.ok(stats.dropped.auth > 0, 'bit flips were detected');
    assert.ok(stats.dropped.malformed > 0, 'truncations were detected');
    assert.ok(stats.helloVerifyRequestsSent >= 100, `${stats.helloVerifyRequestsSent} HelloVerifyRequests`);
    assert.ok(stats.cookiesRejected > 0);
    assert.equal(stats.internalErrors, 0);
    assert.equal(client.stats().handshakesCompleted, 1, 'the real session survived throughout');
  });

  it('caps half-open handshakes, evicts the oldest for a newcomer, drops others at clientFlightTimeoutMs', async () => {
    const metrics = new RecordingMetrics();
    const server = await startServer(
      cleanup,
      {
        pskLookup: lookup,
        handshakesInProgressMax: 8,
        handshakesInProgressPerAddressMax: 8,
        clientFlightTimeoutMs: 1000,
      },
      { metrics },
    );
    const serverPort = server.localAddress().port;
    const sockets = await openSockets(cleanup, 40);
    // Each socket answers the HelloVerifyRequest once, then goes silent.
    await Promise.all(
      sockets.map(
        (socket, i) =>
          new Promise<void>((resolve) => {
            const random = new Uint8Array(32).fill(i);
            socket.on('message', (msg) => {
              const record = splitRecords(msg, 4).records[0];
              if (record?.fragment[0] !== HandshakeType.helloVerifyRequest) return;
              const hvr = parseHelloVerifyRequest(record.fragment.subarray(12));
              assert.ok(hvr);
              socket.send(clientHello(random, hvr.cookie, 1), serverPort, '127.0.0.1', () => resolve());
            });
            socket.send(clientHello(random, new Uint8Array(0), 0), serverPort, '127.0.0.1');
          }),
      ),
    );
    // Every verified hello was admitted; each one past the eighth pushed out the oldest.
    const evicted = (): number => server.stats().handshakesEvicted.address + server.stats().handshakesEvicted.total;
    await until(() => server.stats().handshakesInProgress + evicted() === 40, 'every verified hello to be admitted');
    assert.equal(server.stats().handshakesInProgress, 8);
    assert.equal(evicted(), 32);
    assert.equal(server.stats().dropped.limit, 0);
    // A real client gets in at once: its hello pushes out the oldest half-open handshake.
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const started = Date.now();
    await client.connect('127.0.0.1', serverPort);
    assert.ok(
      Date.now() - started < 900,
      `handshake took ${Date.now() - started} ms, before any half-open one expired`,
    );
    assert.equal(server.stats().sessions, 1);
    assert.ok(server.stats().handshakesInProgress <= 7);
    await until(() => server.stats().handshakesInProgress === 0, 'half-open handshakes to expire', 5000);
    assert.ok(server.stats().handshakesExpired >= 7);
    assert.equal(server.stats().handshakesInProgressBytes, 0);
    const count = (name: string): number => metrics.counts.filter((c) => c === name).length;
    assert.equal(
      count('dtls_half_open_evictions_total{"limit":"address"}') +
        count('dtls_half_open_evictions_total{"limit":"total"}'),
      server.stats().handshakesEvicted.address + server.stats().handshakesEvicted.total,
    );
    assert.equal(count('dtls_half_open_expired_total{}'), server.stats().handshakesExpired);
  });
});
