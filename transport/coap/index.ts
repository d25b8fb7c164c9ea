/**
 * The CoAP peer transport: a NetworkClient and a NetworkServer over any DatagramEndpoint.
 * `createCoapTransport` takes endpoint factories, so the same code runs as `coap` (plain UDP,
 * `createUdpCoapTransport`) and as `coaps` (DTLS 1.2 PSK endpoints, whose `peer.identity`
 * the server hands to the handler as InboundContext.peerIdentity).
 *
 * The client and the server use separate endpoints: the server's listens on the configured
 * port; the client's is opened on the first request (for DTLS a client endpoint runs the
 * handshakes, a server endpoint only answers sessions).
 *
 * Why our own layer rather than the `coap` package (measured first, on this 2-core machine,
 * Node 20, loopback, client and server in one process, 100-byte confirmable POSTs echoed):
 *   raw node:dgram ping-pong       48,000-49,000 round trips/s with 1 outstanding, 53,000-61,000 with 64
 *   coap 1.5.0 Agent + Server       5,500-6,500 with 1 outstanding (about 12% of raw), 11,600-14,800 with 64
 *   coap-packet encode/parse only  30,000-34,000 with 1 outstanding
 *   this layer (CoapClient/Server) 24,500-28,100 with 1 outstanding (about half of raw), 26,000-32,500 with 64
 * coap's per-message cost missed our aim (half the raw rate) by a factor of four. It also
 * has global retransmission timing with a 247 s exchange lifetime, 16-bit message ids per
 * Agent, and with a custom socket it neither replays cached responses to retransmissions
 * nor sends its own error responses. bench/transport.ts measures the layers across
 * processes (`npm run bench -- transport`: coap-msg is this layer alone, coap adds the RPC
 * wrappers and a serializer).
 */
import type { Timers } from '../../contracts/clock.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { Prng } from '../../contracts/prng.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import type { DatagramEndpoint } from '../datagram.js';
import { PeerBook, systemResolver, type HostResolver } from '../peer-book.js';
import { createCryptoPrng, createRealTimers } from '../timers.js';
import { openUdpEndpoint } from '../udp.js';
import { CoapClient } from './client.js';
import { PEER_WHOLE_BODY_BYTES_MAX, type CoapClientOptions, type CoapServerOptions } from './config.js';
import { pieceBytesFor } from './pieces.js';
import { CoapNetworkClient } from './rpc-client.js';
import { CoapNetworkServer } from './rpc-server.js';
import { CoapServer } from './server.js';

export { CoapClient } from './client.js';
export { CoapServer } from './server.js';
export { CoapNetworkClient } from './rpc-client.js';
export { CoapNetworkServer } from './rpc-server.js';
export type { CoapClientOptions, CoapServerOptions } from './config.js';
export type { CoapClientRequest, CoapClientResponse } from './client-exchange.js';
export type { CoapRequest, CoapResponse } from './request.js';
export type { Notification } from './server.js';
export { CoapMethodCode, CoapOption, CoapResponseCode, CoapType, formatCode } from './codes.js';

/** What a CoAP transport is given. */
export interface CoapTransportDeps {
  readonly serializer: RpcSerializer;
  /** Opens the endpoint the server listens on (called by server.start()). */
  readonly openServerEndpoint: () => Promise<DatagramEndpoint>;
  /** Opens the endpoint the client sends from (called on the first request). */
  readonly openClientEndpoint: () => Promise<DatagramEndpoint>;
  /** Default: the process's monotonic clock and setTimeout. */
  readonly timers?: Timers;
  /** Tokens and jitter. Default: the operating system's CSPRNG. */
  readonly prng?: Prng;
  /** Resolves peer host names. Default: getaddrinfo. */
  readonly resolver?: HostResolver;
  /** Counts the server's refusals by a limit (server dimension "peer"). Default: none. */
  readonly metrics?: Metrics;
}

/** Options of a CoAP transport. */
export interface CoapTransportOptions {
  readonly client?: Partial<CoapClientOptions>;
  readonly server?: Partial<CoapServerOptions>;
  /** See CoapNetworkClientDeps.advertisedAddress: this node's "host:port", sent with every RPC. Default: not sent. */
  readonly advertisedAddress?: string;
  /**
   * This node's own peer "host:port" as its members know it: a member known there is this node,
   * and sends to it are refused (PeerBook, NET_ADDRESS). Default: `advertisedAddress`, else none.
   */
  readonly ownAddress?: string;
}

/** A peer transport: the client and the server of one node. */
export interface CoapTransport {
  readonly client: CoapNetworkClient;
  readonly server: CoapNetworkServer;
}

export { PEER_REQUEST_HEADER_BYTES_MAX, PEER_WHOLE_BODY_BYTES_MAX } from './config.js';

/** Builds the CoAP transport over the given endpoints. */
export function createCoapTransport(deps: CoapTransportDeps, options: CoapTransportOptions = {}): CoapTransport {
  const timers = deps.timers ?? createRealTimers();
  const prng = deps.prng ?? createCryptoPrng();
  const whole = options.client?.wholeBodyBytesMax ?? PEER_WHOLE_BODY_BYTES_MAX;
  // Both ends are coraft agents: a larger body goes in pieces as large as a whole one (pieces.ts).
  const clientOptions = { wholeBodyBytesMax: whole, pieceBytes: pieceBytesFor(whole), ...options.client };
  const coapClient = new CoapClient({ openEndpoint: deps.openClientEndpoint, timers, prng }, clientOptions);
  const metrics = deps.metrics === undefined ? {} : { metrics: deps.metrics };
  const coapServer = new CoapServer(
    { openEndpoint: deps.openServerEndpoint, timers, name: 'peer', ...metrics },
    options.server,
  );
  return {
    client: new CoapNetworkClient({
      coap: coapClient,
      serializer: deps.serializer,
      peers: new PeerBook(
        deps.resolver ?? systemResolver,
        undefined,
        undefined,
        options.ownAddress ?? options.advertisedAddress ?? null,
      ),
      ...(options.advertisedAddress === undefined ? {} : { advertisedAddress: options.advertisedAddress }),
    }),
    server: new CoapNetworkServer(coapServer, deps.serializer),
  };
}

/** What the plain-UDP (`coap`) transport is given. */
export interface UdpCoapTransportDeps extends Omit<CoapTransportDeps, 'openServerEndpoint' | 'openClientEndpoint'> {
  /** The IP literal the server binds, e.g. "0.0.0.0" or "127.0.0.1"; the client binds the same family. */
  readonly listenAddress: string;
  /** The server's UDP port (5683 is CoAP's); 0 picks a free one. */
  readonly listenPort: number;
}

/** Builds the `coap` transport: CoAP over plain UDP, peers unauthenticated. */
export function createUdpCoapTransport(deps: UdpCoapTransportDeps, options: CoapTransportOptions = {}): CoapTransport {
  return createCoapTransport(
    {
      ...deps,
      openServerEndpoint: () => openUdpEndpoint({ address: deps.listenAddress, port: deps.listenPort }),
      openClientEndpoint: () => openUdpEndpoint({ address: deps.listenAddress, port: 0 }),
    },
    options,
  );
}
