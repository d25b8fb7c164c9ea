/**
 * The peer transports by configuration name: `coaps` (CoAP over DTLS 1.2 PSK; the caller
 * supplies the DTLS endpoints of transport/dtls), `coap` (CoAP over plain UDP), `https`
 * (HTTP/1.1 over TLS 1.2 PSK) and `http`. Each returns the NetworkClient and NetworkServer of
 * one node. peer-transport.ts builds the CoAP ones without loading the HTTP ones.
 */
import { assertNever } from '../contracts/assert.js';
import { createHttpsTransport, createHttpTransport } from './http/index.js';
import { createCoapPeerTransport } from './peer-transport.js';
import type { PeerTransport, PeerTransportConfig, PeerTransportDeps } from './peer-transport.js';

export type {
  CoapPeerTransportConfig,
  PeerTransport,
  PeerTransportConfig,
  PeerTransportDeps,
} from './peer-transport.js';
export { createCoapPeerTransport } from './peer-transport.js';

/** Builds the peer transport named by `config.name`. */
export function createPeerTransport(config: PeerTransportConfig, deps: PeerTransportDeps): PeerTransport {
  const common = { serializer: deps.serializer, ...(deps.timers === undefined ? {} : { timers: deps.timers }) };
  switch (config.name) {
    case 'coaps':
    case 'coap':
      return createCoapPeerTransport(config, deps);
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
