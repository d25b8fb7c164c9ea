/**
 * The transports the transport bench measures, by name: each can start an echo server and
 * connect a client to it. Adding one is one line in BENCH_TRANSPORTS: a factory that builds
 * its { client, server } pair for a listen port. coaps runs CoAP over our DTLS endpoints with
 * a fixed PSK (the client's first call pays for the handshake; the warm-up absorbs it).
 */
import { createSocket } from 'node:dgram';
import type { NetworkClient, NetworkServer, RpcHandler } from '../contracts/network.js';
import { CoapClient, CoapResponseCode, CoapServer, createUdpCoapTransport } from '../transport/coap/index.js';
import { createCryptoPrng, createRealTimers } from '../transport/timers.js';
import { openUdpEndpoint } from '../transport/udp.js';
import { createHttpsTransport, createHttpTransport } from '../transport/http/index.js';
import { DtlsClientEndpoint, DtlsServerEndpoint } from '../transport/dtls/index.js';
import { createPeerTransport } from '../transport/index.js';
import { createBenchSerializer } from './bench-serializer.js';

/** A running echo server. */
export interface BenchServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** A client of an echo server: one call is one round trip carrying `payloadBytes`. */
export interface BenchClient {
  call(payloadBytes: number): Promise<void>;
  close(): Promise<void>;
}

/** One transport under measurement. */
export interface BenchTransport {
  startServer(): Promise<BenchServer>;
  connect(port: number): Promise<BenchClient>;
}

/** What a peer transport factory returns. */
interface PeerPair {
  readonly client: NetworkClient;
  readonly server: NetworkServer & { localAddress(): { readonly port: number } };
}

const serializer = createBenchSerializer();
const PSK = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

/** Every transport of the bench; the order is the order of the report. */
export const BENCH_TRANSPORTS: Readonly<Record<string, BenchTransport>> = {
  dgram: dgramEcho(),
  'coap-msg': coapMessaging(),
  coap: rpcTransport((port) => createUdpCoapTransport({ serializer, listenAddress: '127.0.0.1', listenPort: port })),
  coaps: rpcTransport((port) =>
    createPeerTransport(
      {
        name: 'coaps',
        openServerEndpoint: () =>
          DtlsServerEndpoint.listen({
            host: '127.0.0.1',
            port,
            pskLookup: (identity) => (identity === 'bench-client' ? PSK : null),
          }),
        openClientEndpoint: () =>
          DtlsClientEndpoint.open({ identity: 'bench-client', psk: PSK, bindAddress: '127.0.0.1' }),
      },
      { serializer },
    ),
  ),
  http: rpcTransport((port) => createHttpTransport({ serializer, listenAddress: '127.0.0.1', listenPort: port })),
  https: rpcTransport((port) =>
    createHttpsTransport({
      serializer,
      listenAddress: '127.0.0.1',
      listenPort: port,
      clientCredentials: { identity: 'bench-client', keyForPeer: () => PSK },
      serverCredentials: { keyForIdentity: () => PSK },
    }),
  ),
};

const echo: RpcHandler = (request) =>
  Promise.resolve(
    request.type === 'AppendEntriesRequest'
      ? {
          type: 'AppendEntriesResponse',
          term: request.term,
          success: true,
          conflictIndex: null,
          conflictTerm: null,
          lastLogIndex: request.prevLogIndex + request.entries.length,
        }
      : { type: 'TimeoutNowResponse', term: 0 },
  );

/** A peer transport measured with AppendEntries carrying one entry of the payload size. */
function rpcTransport(make: (listenPort: number) => PeerPair): BenchTransport {
  return {
    async startServer() {
      const pair = make(0);
      pair.server.setHandler(echo);
      await pair.server.start();
      return { port: pair.server.localAddress().port, stop: () => pair.server.stop() };
    },
    connect(port) {
      const { client } = make(0);
      client.setPeers([{ id: 'peer', address: `127.0.0.1:${port}` }]);
      let index = 0;
      return Promise.resolve({
        async call(payloadBytes) {
          index += 1;
          const entries =
            payloadBytes === 0
              ? []
              : [{ term: 1, index, type: 'command' as const, command: new Uint8Array(payloadBytes) }];
          await client.send(
            'peer',
            {
              type: 'AppendEntriesRequest',
              term: 1,
              leaderId: 'bench',
              prevLogIndex: index - 1,
              prevLogTerm: 1,
              entries,
              leaderCommit: 0,
            },
            10_000,
          );
        },
        close: () => client.close(),
      });
    },
  };
}

/**
 * The CoAP messaging layer alone, without a serializer or the RPC wrappers: a confirmable
 * POST echoed by a resource. It isolates what our CoAP layer costs over raw node:dgram.
 */
function coapMessaging(): BenchTransport {
  return {
    async startServer() {
      const server = new CoapServer({ openEndpoint: () => openUdpEndpoint(), timers: createRealTimers() });
      server.addResource('/raft/AppendEntries', {
        POST: (request) =>
          Promise.resolve({ code: CoapResponseCode.Changed, payload: request.payload.subarray(0, 16) }),
      });
      await server.start();
      return { port: server.localAddress().port, stop: () => server.stop() };
    },
    connect(port) {
      const client = new CoapClient({
        openEndpoint: () => openUdpEndpoint(),
        timers: createRealTimers(),
        prng: createCryptoPrng(),
      });
      const target = { address: '127.0.0.1', port };
      return Promise.resolve({
        async call(payloadBytes) {
          await client.request(
            target,
            {
              method: 'POST',
              path: ['raft', 'AppendEntries'],
              contentFormat: 42,
              payload: new Uint8Array(Math.max(16, payloadBytes)),
            },
            10_000,
          );
        },
        close: () => client.close(),
      });
    },
  };
}

/** The ceiling: node:dgram echo, calls matched by a 32-bit id; a lost datagram fails its call after 1 s. */
function dgramEcho(): BenchTransport {
  return {
    async startServer() {
      const socket = createSocket('udp4');
      socket.on('message', (data, from) => socket.send(data, from.port, from.address));
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      return { port: socket.address().port, stop: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
    },
    async connect(port) {
      const socket = createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      const waiting = new Map<number, () => void>();
      socket.on('message', (data) => {
        const id = data.readUInt32BE(0);
        waiting.get(id)?.();
        waiting.delete(id);
      });
      let next = 0;
      return {
        call(payloadBytes) {
          const id = (next = (next + 1) >>> 0);
          // One datagram per call; 64 KiB calls send the largest IPv4 datagram below 64 KiB.
          const data = Buffer.alloc(Math.max(16, Math.min(payloadBytes, 65_000)));
          data.writeUInt32BE(id, 0);
          return new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => {
              waiting.delete(id);
              reject(new Error('datagram lost'));
            }, 1000);
            waiting.set(id, () => {
              clearTimeout(timer);
              resolve();
            });
            socket.send(data, port, '127.0.0.1');
          });
        },
        close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
      };
    },
  };
}
