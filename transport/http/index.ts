/**
 * The HTTP and HTTPS peer transports. `http` is unauthenticated; `https` is TLS 1.2 with the
 * same pre-shared keys as `coaps` (no certificates), and hands the accepted PSK identity to
 * the handler as InboundContext.peerIdentity.
 */
import type { Timers } from '../../contracts/clock.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import { createRealTimers } from '../timers.js';
import { HttpNetworkClient, type HttpNetworkClientDeps } from './client.js';
import type { HttpClientOptions, HttpServerOptions } from './config.js';
import { DEFAULT_PSK_CIPHERS, type PskClientCredentials, type PskServerCredentials } from './psk.js';
import { HttpNetworkServer } from './server.js';

export { HttpNetworkClient } from './client.js';
export { HttpNetworkServer } from './server.js';
export type { HttpClientOptions, HttpServerOptions } from './config.js';
export { DEFAULT_PSK_CIPHERS, type PskClientCredentials, type PskServerCredentials } from './psk.js';

/** What an HTTP transport is given. */
export interface HttpTransportDeps {
  readonly serializer: RpcSerializer;
  /** The address the server listens on, e.g. "0.0.0.0". */
  readonly listenAddress: string;
  /** The server's TCP port; 0 picks a free one. */
  readonly listenPort: number;
  /** Default: the process's monotonic clock and setTimeout. */
  readonly timers?: Timers;
}

/** What an HTTPS transport is given besides an HTTP transport's. */
export interface HttpsTransportDeps extends HttpTransportDeps {
  /** This node's identity and the keys it shares with its peers. */
  readonly clientCredentials: PskClientCredentials;
  /** The keys of the identities this node's server accepts. */
  readonly serverCredentials: PskServerCredentials;
  /** OpenSSL cipher list of TLS 1.2 PSK suites. Default {@link DEFAULT_PSK_CIPHERS}. */
  readonly ciphers?: string;
}

/** Options of an HTTP(S) transport. */
export interface HttpTransportOptions {
  readonly client?: Partial<HttpClientOptions>;
  readonly server?: Partial<HttpServerOptions>;
  /**
   * This node's peer "host:port", sent with every RPC (header `coraft-peer-address`) and handed
   * to the receiving handler as InboundContext.peerAddress. Default: not sent.
   */
  readonly advertisedAddress?: string;
  /**
   * This node's own peer "host:port" as its members know it: a member known there is this node,
   * and sends to it are refused (PeerBook, NET_ADDRESS). Default: `advertisedAddress`, else none.
   */
  readonly ownAddress?: string;
}

/** The client and the server of one node. */
export interface HttpTransport {
  readonly client: HttpNetworkClient;
  readonly server: HttpNetworkServer;
}

/** Builds the `http` transport: plain HTTP/1.1, peers unauthenticated. */
export function createHttpTransport(deps: HttpTransportDeps, options: HttpTransportOptions = {}): HttpTransport {
  const timers = deps.timers ?? createRealTimers();
  return {
    client: new HttpNetworkClient(
      {
        serializer: deps.serializer,
        timers,
        tls: null,
        ...clientAddresses(options),
      },
      options.client,
    ),
    server: new HttpNetworkServer(
      { serializer: deps.serializer, listenAddress: deps.listenAddress, listenPort: deps.listenPort, tls: null },
      options.server,
    ),
  };
}

/** Builds the `https` transport: HTTP/1.1 over TLS 1.2 PSK. */
export function createHttpsTransport(deps: HttpsTransportDeps, options: HttpTransportOptions = {}): HttpTransport {
  const timers = deps.timers ?? createRealTimers();
  const ciphers = deps.ciphers ?? DEFAULT_PSK_CIPHERS;
  return {
    client: new HttpNetworkClient(
      {
        serializer: deps.serializer,
        timers,
        tls: { credentials: deps.clientCredentials, ciphers },
        ...clientAddresses(options),
      },
      options.client,
    ),
    server: new HttpNetworkServer(
      {
        serializer: deps.serializer,
        listenAddress: deps.listenAddress,
        listenPort: deps.listenPort,
        tls: { credentials: deps.serverCredentials, ciphers },
      },
      options.server,
    ),
  };
}

/** The advertised and own addresses an HTTP(S) client is given. */
function clientAddresses(
  options: HttpTransportOptions,
): Pick<HttpNetworkClientDeps, 'advertisedAddress' | 'ownAddress'> {
  const own = options.ownAddress ?? options.advertisedAddress;
  return {
    ...(options.advertisedAddress === undefined ? {} : { advertisedAddress: options.advertisedAddress }),
    ...(own === undefined ? {} : { ownAddress: own }),
  };
}
