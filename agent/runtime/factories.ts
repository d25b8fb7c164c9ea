/**
 * The real components of an agent, chosen by its configuration: the codec, the peer transport
 * (coaps with our DTLS endpoints, coap, https, http), the membership manager and the local
 * endpoint's socket. Tests pass their own AgentFactories to Agent.start instead.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createSerializer } from '../../codec/index.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';
import { DtlsClientEndpoint, DtlsServerEndpoint, MemberHosts } from '../../transport/dtls/index.js';
import { createPeerTransport, type PeerTransport, type PeerTransportConfig } from '../../transport/index.js';
import { openUdpEndpoint } from '../../transport/udp.js';
import type { AgentConfig } from '../config/agent-config.js';
import { ConfigError } from '../errors.js';
import type { DiagnosticLogger, MembershipManager, Metrics, NetworkClient, RpcSerializer } from '../contracts.js';
import { AuthenticatedMembershipManager } from '../membership/authenticated.js';
import { DefaultMembershipManager } from '../membership/default.js';
import { ClusterKeystore } from '../membership/keystore.js';
import { watchHandshakeFailures } from '../membership/handshake-watch.js';
import type { AgentFactories } from './agent.js';

/** The PSK settings of a transport that needs them, or a ConfigError naming the missing field. */
function requirePsk(config: AgentConfig): NonNullable<AgentConfig['psk']> {
  if (config.psk === null) throw new ConfigError([`psk: required by transport "${config.transport}"`]);
  return config.psk;
}

/**
 * The key a peer server accepts for an identity: the cluster keystore of the authenticated
 * membership manager (replicated keys, revocations), else the provisioned keystore file.
 */
function keyLookup(config: AgentConfig, membership: MembershipManager | null): (identity: string) => Uint8Array | null {
  if (membership instanceof AuthenticatedMembershipManager) return (identity) => membership.pskLookup(identity);
  const psk = requirePsk(config);
  return (identity) => psk.keystore.get(identity) ?? null;
}

/** The membership manager: PSK-authenticated when the configuration has PSKs, else the default. */
export function createMembership(config: AgentConfig, logger: DiagnosticLogger): MembershipManager {
  // Key-checked membership needs a transport that authenticates peers (coaps, https); over
  // coap and http no peer has an identity, and the default manager is all there is.
  if (config.psk === null || config.transport === 'coap' || config.transport === 'http') return new DefaultMembershipManager();
  const cacheFile = config.storage === 'memory' ? null : join(config.dataDir, 'keystore-cache.json');
  if (cacheFile !== null) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  return new AuthenticatedMembershipManager({ nodeId: config.nodeId, keystore: new ClusterKeystore(config.psk.keystore, cacheFile), logger, metrics: null });
}

/**
 * The peer transport's configuration for `config.transport`. `memberHosts`, when given, tells
 * the DTLS server which source addresses are members', for the half-open handshakes it keeps
 * for them during a flood (see DtlsServerOptions.handshakesReservedForMembers); `metrics`
 * counts the times its half-open handshake limits are hit.
 */
export function peerTransportConfig(
  config: AgentConfig,
  logger: DiagnosticLogger,
  membership: MembershipManager | null = null,
  memberHosts: MemberHosts | null = null,
  metrics: Metrics | null = null,
): PeerTransportConfig {
  const { host, port } = config.listenPeer;
  const onInternalError = (error: unknown): void => logger.error('dtls: contained internal error', { error: error instanceof Error ? error.message : String(error) });
  switch (config.transport) {
    case 'coaps': {
      const psk = requirePsk(config);
      return {
        name: 'coaps',
        openServerEndpoint: async () => {
          const isMemberAddress = memberHosts === null ? null : (address: string): boolean => memberHosts.has(address);
          const server = await DtlsServerEndpoint.listen({ host, port, pskLookup: keyLookup(config, membership), isMemberAddress }, { onInternalError, ...(metrics === null ? {} : { metrics }) });
          if (!(membership instanceof AuthenticatedMembershipManager)) return server;
          membership.addSessionCloser(server);
          return watchHandshakeFailures(server, config.nodeId, logger);
        },
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
        serverCredentials: { keyForIdentity: keyLookup(config, membership) },
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

/** `client`, which also keeps `hosts` up to date with the members it is given. */
export function followingMembers(client: NetworkClient, hosts: MemberHosts): NetworkClient {
  return {
    send: (target, request, timeoutMs) => client.send(target, request, timeoutMs),
    setPeers: (members) => {
      client.setPeers(members);
      hosts.replace(members.map((m) => m.address));
    },
    close: () => client.close(),
  };
}

/** The real peer transport; its DTLS server learns the members' addresses as membership changes. */
function createRealTransport(
  config: AgentConfig,
  serializer: RpcSerializer,
  deps: { readonly logger: DiagnosticLogger; readonly membership: MembershipManager; readonly metrics?: Metrics },
): PeerTransport {
  const hosts = new MemberHosts(undefined, (host, error) => deps.logger.warning('cannot resolve a member host; it gets no reserved handshakes', { host, error: error instanceof Error ? error.message : String(error) }));
  hosts.replace(config.members.map((m) => m.address));
  const transport = createPeerTransport(peerTransportConfig(config, deps.logger, deps.membership, hosts, deps.metrics ?? null), { serializer, ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }) });
  return { server: transport.server, client: followingMembers(transport.client, hosts) };
}

export const REAL_FACTORIES: AgentFactories = {
  createSerializer: (config: AgentConfig): RpcSerializer => createSerializer(config.codec),
  createTransport: createRealTransport,
  createMembership,
  openEndpoint: openEndpointSocket,
};
