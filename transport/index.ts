/**
 * The peer transports by configuration name: `coaps` (CoAP over DTLS 1.2 PSK; the caller
 * supplies the DTLS endpoints of transport/dtls), `coap` (CoAP over plain UDP), `https`
 * (HTTP/1.1 over TLS 1.2 PSK) and `http`. Each returns the NetworkClient and NetworkServer of
 * one node.
 */
import type { Timers } from '../contracts/clock.js';
import type { Metrics } from '../contracts/metrics.js';
import type { NetworkClient, NetworkServer } from '../contracts/network.js';
import type { Prng } from '../contracts/prng.js';
import type { RpcSerializer } from '../contracts/serializer.js';
import { createCoapTransport, createUdpCoapTransport, type CoapTransportOptions } from './coap/index.js';
import { assertNever } from '../contracts/assert.js';
import type { DatagramEndpoint } from './datagram.js';
import type { HostResolver } from './peer-book.js';
import {
  createHttpsTransport,
  createHttpTransport,
  type HttpTransportOptions,
  type PskClientCredentials,
  type PskServerCredentials,
} from './http/index.js';

/** Where and how one node's peer transport runs. */
export type PeerTransportConfig =
  | {
      readonly name: 'coaps';
      /** Opens the DTLS server endpoint the server listens on. */
      readonly openServerEndpoint: () => Promise<DatagramEndpoint>;
      /** Opens the DTLS client endpoint requests are sent from. */
      readonly openClientEndpoint: () => Promise<DatagramEndpoint>;
      readonly options?: CoapTransportOptions;
    }
  | {
      readonly name: 'coap';
      readonly listenAddress: string;
      readonly listenPort: number;
      readonly options?: CoapTransportOptions;
    }
  | {
      readonly name: 'https';
      readonly listenAddress: string;
      readonly listenPort: number;
      readonly clientCredentials: PskClientCredentials;
      readonly serverCredentials: PskServerCredentials;
      readonly ciphers?: string;
      readonly options?: HttpTransportOptions;
    }
  | {
      readonly name: 'http';
      readonly listenAddress: string;
      readonly listenPort: number;
      readonly options?: HttpTransportOptions;
    };

/** What every peer transport is given besides its configuration. */
export interface PeerTransportDeps {
  readonly serializer: RpcSerializer;
  /** Default: real timers. */
  readonly timers?: Timers;
  /** CoAP tokens and jitter. Default: the operating system's CSPRNG. */
  readonly prng?: Prng;
  /** Resolves peer host names (CoAP transports). Default: getaddrinfo. */
  readonly resolver?: HostResolver;
  /** Counts the CoAP server's refusals by a limit (`coap_limit_refusals_total`). Default: none. */
  readonly metrics?: Metrics;
}

/** One node's peer transport. */
export interface PeerTransport {
  readonly client: NetworkClient;
  readonly server: NetworkServer & { localAddress(): { readonly address: string; readonly port: number } };
}

/** Builds the peer transport named by `config.name`. */
export function createPeerTransport(config: PeerTransportConfig, deps: PeerTransportDeps): PeerTransport {
  const common = { serializer: deps.serializer, ...(deps.timers === undefined ? {} : { timers: deps.timers }) };
  const withPrng = {
    ...common,
    ...(deps.prng === undefined ? {} : { prng: deps.prng }),
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  };
  switch (config.name) {
    case 'coaps':
      return createCoapTransport(
        {
          ...withPrng,
          ...(deps.resolver === undefined ? {} : { resolver: deps.resolver }),
          openServerEndpoint: config.openServerEndpoint,
          openClientEndpoint: config.openClientEndpoint,
        },
        config.options,
      );
    case 'coap':
      return createUdpCoapTransport(
        { ...withPrng, listenAddress: config.listenAddress, listenPort: config.listenPort },
        config.options,
      );
    case 'https':
      return createHttpsTransport(
        {
          ...common,
          listenAddress: config.listenAddress,
          listenPort: config.listenPort,
          clientCredentials: config.clientCredentials,
          serverCredentials: config.serverCredentials,
          ...(config.ciphers === undefined ? {} : { ciphers: config.ciphers }),
        },
        config.options,
      );
    case 'http':
      return createHttpTransport(
        { ...common, listenAddress: config.listenAddress, listenPort: config.listenPort },
        config.options,
      );
    default:
      return assertNever(config, 'peer transport name');
  }
}
