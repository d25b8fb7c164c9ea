/**
 * The real components of an agent, chosen by its configuration: the codec, the peer transport
 * (coaps with our DTLS endpoints, coap, https, http), the membership manager and the local
 * endpoint's socket. Tests pass their own AgentFactories to Agent.start instead.
 */
import { createSerializer } from '../../codec/index.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';
import { DtlsClientEndpoint, DtlsServerEndpoint } from '../../transport/dtls/index.js';
import { createPeerTransport, type PeerTransport, type PeerTransportConfig } from '../../transport/index.js';
import { openUdpEndpoint } from '../../transport/udp.js';
import type { AgentConfig } from '../config/agent-config.js';
import { ConfigError } from '../errors.js';
import type { DiagnosticLogger, MembershipManager, RpcSerializer } from '../contracts.js';
import { DefaultMembershipManager } from '../membership/default.js';
import type { AgentFactories } from './agent.js';

/** The PSK settings of a transport that needs them, or a ConfigError naming the missing field. */
function requirePsk(config: AgentConfig): NonNullable<AgentConfig['psk']> {
  if (config.psk === null) throw new ConfigError([`psk: required by transport "${config.transport}"`]);
  return config.psk;
}

/** The peer transport's configuration for `config.transport`. */
export function peerTransportConfig(config: AgentConfig, logger: DiagnosticLogger): PeerTransportConfig {
  const { host, port } = config.listenPeer;
  const onInternalError = (error: unknown): void => logger.error('dtls: contained internal error', { error: error instanceof Error ? error.message : String(error) });
  switch (config.transport) {
    case 'coaps': {
      const psk = requirePsk(config);
      return {
        name: 'coaps',
        openServerEndpoint: () => DtlsServerEndpoint.listen({ host, port, pskLookup: (identity) => psk.keystore.get(identity) ?? null }, { onInternalError }),
        openClientEndpoint: () => DtlsClientEndpoint.open({ identity: psk.identity, psk: psk.key, bindAddress: host }, { onInternalError }),
      };
    }
    case 'coap':
      return { name: 'coap', listenAddress: host, listenPort: port };
    case 'https': {
      const psk = requirePsk(config);
      return {
        name: 'https',
        listenAddress: host,
        listenPort: port,
        clientCredentials: { identity: psk.identity, keyForPeer: () => psk.key },
        serverCredentials: { keyForIdentity: (identity) => psk.keystore.get(identity) ?? null },
      };
    }
    case 'http':
      return { name: 'http', listenAddress: host, listenPort: port };
  }
}

/** Opens the local endpoint's socket: DTLS with the admin PSK when one is configured, else UDP. */
export async function openEndpointSocket(config: AgentConfig): Promise<DatagramEndpoint> {
  const { host, port } = config.listenEndpoint;
  const admin = config.endpointPsk;
  if (admin === null) return openUdpEndpoint({ address: host, port });
  return DtlsServerEndpoint.listen({ host, port, pskLookup: (identity) => (identity === admin.identity ? admin.key : null) });
}

export const REAL_FACTORIES: AgentFactories = {
  createSerializer: (config: AgentConfig): RpcSerializer => createSerializer(config.codec),
  createTransport: (config: AgentConfig, serializer: RpcSerializer, deps: { readonly logger: DiagnosticLogger }): PeerTransport =>
    createPeerTransport(peerTransportConfig(config, deps.logger), { serializer }),
  createMembership: (): MembershipManager => new DefaultMembershipManager(),
  openEndpoint: openEndpointSocket,
};
