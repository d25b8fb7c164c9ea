/**
 * What a peer transport is configured with and what it gives a node, and the CoAP peer
 * transports (`coaps`, `coap`) built without loading the HTTP ones: an agent on the default
 * transport does not load node:http, node:https and TLS at start-up (issue 17). index.ts
 * builds every transport by name, HTTP included.
 */
import type { Timers } from '../contracts/clock.js';
import type { Metrics } from '../contracts/metrics.js';
import type { NetworkClient, NetworkServer } from '../contracts/network.js';
import type { Prng } from '../contracts/prng.js';
import type { RpcSerializer } from '../contracts/serializer.js';
import { createCoapTransport, createUdpCoapTransport, type CoapTransportOptions } from './coap/index.js';
import type { DatagramEndpoint } from './datagram.js';
import type { HostResolver } from './peer-book.js';
import type { HttpTransportOptions, PskClientCredentials, PskServerCredentials } from './http/index.js';

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

/** The configuration of a CoAP peer transport. */
export type CoapPeerTransportConfig = Extract<PeerTransportConfig, { readonly name: 'coaps' | 'coap' }>;

/** Builds a CoAP peer transport (`coaps` or `coap`). */
export function createCoapPeerTransport(config: CoapPeerTransportConfig, deps: PeerTransportDeps): PeerTransport {
  const withPrng = {
    serializer: deps.serializer,
    ...(deps.timers === undefined ? {} : { timers: deps.timers }),
    ...(deps.prng === undefined ? {} : { prng: deps.prng }),
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  };
  if (config.name === 'coaps')
    return createCoapTransport(
      {
        ...withPrng,
        ...(deps.resolver === undefined ? {} : { resolver: deps.resolver }),
        openServerEndpoint: config.openServerEndpoint,
        openClientEndpoint: config.openClientEndpoint,
      },
      config.options,
    );
  return createUdpCoapTransport(
    { ...withPrng, listenAddress: config.listenAddress, listenPort: config.listenPort },
    config.options,
  );
}
