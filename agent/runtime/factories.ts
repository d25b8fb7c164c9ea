/**
 * The real components of an agent, chosen by its configuration: the codec, the peer transport
 * (coaps with our DTLS endpoints, coap, https, http), the membership manager and the local
 * endpoint's socket. Tests pass their own AgentFactories to Agent.start instead.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CborSerializer } from '../../codec/cbor-serializer.js';
import type { CoapTransportOptions } from '../../transport/coap/index.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';
import { DtlsClientEndpoint, DtlsServerEndpoint, MemberHosts } from '../../transport/dtls/index.js';
import { createCoapPeerTransport } from '../../transport/peer-transport.js';
import type { PeerTransport, PeerTransportConfig, PeerTransportDeps } from '../../transport/peer-transport.js';
import { openUdpEndpoint } from '../../transport/udp.js';
import type { AgentConfig } from '../config/agent-config.js';
import { ConfigError, describeError } from '../../contracts/errors.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { MembershipManager } from '../../contracts/membership.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { NetworkClient } from '../../contracts/network.js';
import { LogThrottle } from '../../contracts/rate-limiter.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import { AuthenticatedMembershipManager, type SessionCloser } from '../membership/authenticated.js';
import { DefaultMembershipManager } from '../membership/default.js';
import { LinkKeystore } from '../membership/keystore.js';
import { HANDSHAKE_WATCH_PERIOD_MS, watchHandshakeFailures } from '../membership/handshake-watch.js';
import { sessionReplacementLog } from '../membership/session-replacements.js';
import { KeystoreCache } from '../trust/keystore-cache.js';
import { PeerAddresses } from '../trust/peer-addresses.js';
import { advertisedPeerAddress } from './advertised-address.js';
import type { AgentFactories } from './agent.js';

export { advertisedPeerAddress } from './advertised-address.js';

/**
 * The receive buffer the agent's sockets ask for (SO_RCVBUF: the peer sockets and the local
 * endpoint), bytes. Under load a leader's endpoint holds a request from every client at once
 * and a follower a window of appends (up to inflightCountMax datagrams of up to 16 KiB); the
 * system's default (208 KiB on Linux) overflowed at 64 clients writing 4 KiB values, and every
 * dropped datagram cost its sender a retransmission timeout: the long latency tail of the
 * vs-etcd bench. Linux grants at most net.core.rmem_max (deploy/README.md); the kernel charges
 * the memory only while datagrams wait.
 */
export const SOCKET_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** Warns once when the kernel granted a socket less receive buffer than asked (net.core.rmem_max is lower). */
function checkReceiveBuffer(reportedBytes: number, logger: DiagnosticLogger): void {
  // Linux reports twice what it grants; a grant of half the request still holds a burst.
  if (reportedBytes >= SOCKET_RECEIVE_BUFFER_BYTES) return;
  logger.warning('the kernel granted a smaller socket receive buffer than asked; under load datagrams may drop', {
    askedBytes: SOCKET_RECEIVE_BUFFER_BYTES,
    reportedBytes,
    fix: `sysctl net.core.rmem_max=${SOCKET_RECEIVE_BUFFER_BYTES}`,
  });
}

/** The PSK settings of a transport that needs them, or a ConfigError naming the missing field. */
function requirePsk(config: AgentConfig): NonNullable<AgentConfig['psk']> {
  if (config.psk === null) throw new ConfigError([`psk: required by transport "${config.transport}"`]);
  return config.psk;
}

/** The membership manager that holds the link keys, required by the transports that authenticate peers. */
function requireAuthenticated(
  config: AgentConfig,
  membership: MembershipManager | null,
): AuthenticatedMembershipManager {
  if (membership instanceof AuthenticatedMembershipManager) return membership;
  throw new ConfigError([`psk: the ${config.transport} transport needs the PSK-authenticated membership manager`]);
}

/** The membership manager: PSK-authenticated when the configuration has link keys, else the default. */
export function createMembership(config: AgentConfig, logger: DiagnosticLogger, metrics?: Metrics): MembershipManager {
  // Key-checked membership needs a transport that authenticates peers (coaps, https); over
  // coap and http no peer has an identity, and the default manager is all there is.
  if (config.psk === null || config.transport === 'coap' || config.transport === 'http')
    return new DefaultMembershipManager();
  const cacheFile = config.storage === 'memory' ? null : join(config.dataDir, 'keystore-cache.json');
  if (cacheFile !== null) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const keystore = new LinkKeystore(
    {
      nodeId: config.nodeId,
      cluster: config.cluster ?? '',
      nodeSecret: config.psk.nodeSecret,
      bootstrap: config.psk.keystore,
    },
    new KeystoreCache(cacheFile, logger),
    logger,
  );
  return new AuthenticatedMembershipManager({
    nodeId: config.nodeId,
    keystore,
    logger,
    metrics: metrics ?? null,
    addresses: new PeerAddresses(),
  });
}

/** The transport options that advertise this node's peer address, when it has one to advertise. */
function advertisingOptions(config: AgentConfig): { readonly options?: { readonly advertisedAddress: string } } {
  const advertisedAddress = advertisedPeerAddress(config);
  return advertisedAddress === null ? {} : { options: { advertisedAddress } };
}

/**
 * The options of a transport that does not advertise its address (coap, http: no peer is
 * authenticated, so none would be believed): only its own address, so that a member known
 * there is refused rather than sent to this node itself.
 */
function ownAddressOptions(config: AgentConfig): { readonly ownAddress?: string } {
  const own = advertisedPeerAddress(config);
  return own === null ? {} : { ownAddress: own };
}

/** A CoAP transport's options: the peer client's whole-body limit (agent.json); for coaps the advertised address. */
function coapOptions(config: AgentConfig, advertise: boolean): { readonly options: CoapTransportOptions } {
  const client = { wholeBodyBytesMax: config.peerWholeBodyBytesMax };
  return { options: { ...(advertise ? advertisingOptions(config).options : ownAddressOptions(config)), client } };
}

/** A DTLS client's sessions as a SessionCloser: the sessions to the addresses of a member. */
function clientCloser(client: DtlsClientEndpoint, membership: AuthenticatedMembershipManager): SessionCloser {
  return {
    closeSessionsOf: (identity) =>
      membership.addressesOf(identity).filter((a) => client.resetSession(a.address, a.port)).length,
    sessionIdentities: () => [],
  };
}

/**
 * First retransmission timeout of the handshakes this agent starts with its peers, ms: half a
 * heartbeat interval (100 ms with the agent's timing) and at most a third of the lowest election
 * timeout, at least 100 ms and at most RFC 6347's 1 s. When a cluster starts, an agent's first
 * ClientHello to a peer that is still starting is lost; with the 1 s default every request to
 * that peer would wait a second for the retransmission, longer than any election timeout, and
 * the early first campaign (CoreOptions.earlyFirstCampaign, one heartbeat interval after start)
 * could not reach it. Peers are on a LAN or loopback, where a
 * flight takes far less than this; a late answer only costs a duplicate flight, which DTLS
 * handles. The timeout doubles on each retransmission up to peerHandshakeRetransmitMaxMs.
 */
export function peerHandshakeRetransmitInitialMs(config: Pick<AgentConfig, 'raft'>): number {
  const raft = config.raft;
  return Math.min(
    1000,
    Math.max(100, Math.floor(Math.min(raft.heartbeatIntervalMs / 2, raft.electionTimeoutMinMs / 3))),
  );
}

/**
 * Cap of the doubling retransmission timeout of those handshakes, ms: half the lowest election
 * timeout (300 ms with the agent's timing), at least the first timeout and at most DTLS's 8 s. A
 * handshake begun while a peer is down (its process restarting) goes on retransmitting its
 * ClientHello, and every request to that peer waits on it; with DTLS's 8 s cap the gaps grew to
 * 1.6 s and 3.2 s (it gives up 6.3 s after it began), so a leader reached a restarted follower
 * up to about 3 s after it was back, after the follower's election timeout had passed (it
 * pre-voted first). Capped, the leader reaches it within half an election timeout, as the core's
 * own backoff of an unreachable follower allows (replication.ts). While the peer stays down this
 * costs a ClientHello every such interval, fewer datagrams than the heartbeats it stands for.
 */
export function peerHandshakeRetransmitMaxMs(config: Pick<AgentConfig, 'raft'>): number {
  const halfElectionMs = Math.min(8000, Math.floor(config.raft.electionTimeoutMinMs / 2));
  return Math.max(peerHandshakeRetransmitInitialMs(config), halfElectionMs);
}

/** Opens the agent's peer DTLS client; each server is a member with its own link key, chosen by its address. */
async function openPeerClient(
  config: AgentConfig,
  identity: string,
  manager: AuthenticatedMembershipManager,
  onInternalError: (error: unknown) => void,
): Promise<DtlsClientEndpoint> {
  const client = await DtlsClientEndpoint.open(
    {
      identity,
      pskForPeer: (address, peerPort) => manager.keyForAddress(address, peerPort),
      bindAddress: config.listenPeer.host,
      retransmitInitialMs: peerHandshakeRetransmitInitialMs(config),
      retransmitMaxMs: peerHandshakeRetransmitMaxMs(config),
      receiveBufferBytes: SOCKET_RECEIVE_BUFFER_BYTES,
    },
    { onInternalError },
  );
  manager.addSessionCloser(clientCloser(client, manager));
  return client;
}

/**
 * Most "dtls: contained internal error" lines logged per second, as many as refusals
 * (AuthenticatedMembershipDeps.refusalLogsPerSecondMax). Each is a bug that a peer's datagram
 * reached, so a peer that found one can repeat it with every datagram: unlimited, that fills a
 * small gateway's log. The DTLS endpoints count every one (stats().internalErrors).
 */
export const INTERNAL_ERROR_LOGS_PER_SECOND_MAX = 10;

/** Logs a contained DTLS error, at most INTERNAL_ERROR_LOGS_PER_SECOND_MAX a second, saying how many it left out. */
function internalErrorLog(logger: DiagnosticLogger): (error: unknown) => void {
  const logs = new LogThrottle({ nowMs: () => Date.now() }, INTERNAL_ERROR_LOGS_PER_SECOND_MAX);
  return (error) => {
    const suppressed = logs.take();
    if (suppressed !== null)
      logger.error('dtls: contained internal error', { error: describeError(error), suppressed });
  };
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
  const onInternalError = internalErrorLog(logger);
  switch (config.transport) {
    case 'coaps': {
      const psk = requirePsk(config);
      const manager = requireAuthenticated(config, membership);
      return {
        name: 'coaps',
        ...coapOptions(config, true),
        openServerEndpoint: async () => {
          const isMemberAddress = memberHosts === null ? null : (address: string): boolean => memberHosts.has(address);
          const server = await DtlsServerEndpoint.listen(
            {
              host,
              port,
              receiveBufferBytes: SOCKET_RECEIVE_BUFFER_BYTES,
              pskLookup: (identity, peer) => manager.pskLookup(identity, peer),
              isMemberAddress,
            },
            {
              onInternalError,
              onSessionReplaced: sessionReplacementLog(config.nodeId, logger, () => Date.now()),
              ...(metrics === null ? {} : { metrics }),
            },
          );
          checkReceiveBuffer(server.receiveBufferBytes(), logger);
          manager.addSessionCloser({
            closeSessionsOf: (identity) => server.closeSessionsOf(identity),
            sessionIdentities: () => server.sessionList().flatMap((s) => (s.identity === null ? [] : [s.identity])),
          });
          return watchHandshakeFailures(server, config.nodeId, logger, metrics, undefined, {
            explained: () => manager.handshakeRefusals(),
          });
        },
        openClientEndpoint: () => openPeerClient(config, psk.identity, manager, onInternalError),
      };
    }
    case 'coap':
      return { name: 'coap', listenAddress: host, listenPort: port, ...coapOptions(config, false) };
    case 'https': {
      const psk = requirePsk(config);
      const manager = requireAuthenticated(config, membership);
      return {
        name: 'https',
        ...advertisingOptions(config),
        listenAddress: host,
        listenPort: port,
        clientCredentials: { identity: psk.identity, keyForPeer: (peer) => manager.keyForPeer(peer) },
        serverCredentials: { keyForIdentity: (identity, peer) => manager.pskLookup(identity, peer) },
      };
    }
    case 'http':
      return { name: 'http', listenAddress: host, listenPort: port, options: ownAddressOptions(config) };
  }
}

/**
 * Most sessions of the local endpoint, in all and of one identity: the server's default
 * sessionsMax. Its identities are roles, not links: every local application with the kv key
 * shares the `kv` identity, one session each, so the peer server's small per-identity share
 * (DEFAULT_SESSIONS_PER_IDENTITY_MAX) would make them push each other out. `admin` still gets
 * in when `kv` fills every slot: a full server replaces a session of the identity holding the most.
 */
const ENDPOINT_SESSIONS_MAX = 1024;

/**
 * Opens the local endpoint's socket: DTLS accepting the configured endpoint identities (kv,
 * admin) when there are any, else plain UDP (the configuration allows that on loopback only).
 * Like the peer server, the DTLS one logs its contained errors and its refused handshakes.
 */
async function openEndpointSocket(config: AgentConfig, logger: DiagnosticLogger): Promise<DatagramEndpoint> {
  const { host, port } = config.listenEndpoint;
  const identities = [config.endpointKeys.kv, config.endpointKeys.admin].flatMap((e) => (e === null ? [] : [e]));
  const receiveBufferBytes = SOCKET_RECEIVE_BUFFER_BYTES;
  if (identities.length === 0) return openUdpEndpoint({ address: host, port, receiveBufferBytes });
  const server = await DtlsServerEndpoint.listen(
    {
      host,
      port,
      receiveBufferBytes,
      pskLookup: (identity) => identities.find((e) => e.identity === identity)?.key ?? null,
      sessionsMax: ENDPOINT_SESSIONS_MAX,
      sessionsPerIdentityMax: ENDPOINT_SESSIONS_MAX,
    },
    { onInternalError: internalErrorLog(logger) },
  );
  return watchHandshakeFailures(server, config.nodeId, logger, null, HANDSHAKE_WATCH_PERIOD_MS, { role: 'endpoint' });
}

/** `client`, which also keeps `hosts` up to date with the members it is given. */
export function followingMembers(client: NetworkClient, hosts: MemberHosts): NetworkClient {
  return {
    send: (target, request, timeoutMs) => client.send(target, request, timeoutMs),
    ...(client.wholeRequestBytesMax === undefined ? {} : { wholeRequestBytesMax: client.wholeRequestBytesMax }),
    setPeers: (members) => {
      client.setPeers(members);
      hosts.replace(members.map((m) => m.address));
    },
    reachedAt: (address) => client.reachedAt?.(address) ?? Promise.resolve(null),
    close: () => client.close(),
  };
}

/**
 * Builds the transport `transportConfig` names: the CoAP ones directly, the HTTP ones (which
 * bring node:http, node:https and TLS) imported only when configured, so an agent on the
 * default transport does not load them (issue 17: start-up time and memory).
 */
async function buildPeerTransport(
  transportConfig: PeerTransportConfig,
  transportDeps: PeerTransportDeps,
  membership: AuthenticatedMembershipManager | null,
): Promise<PeerTransport> {
  if (transportConfig.name === 'coaps' || transportConfig.name === 'coap')
    return createCoapPeerTransport(transportConfig, transportDeps);
  const [{ createPeerTransport }, { HttpNetworkServer }] = await Promise.all([
    import('../../transport/index.js'),
    import('../../transport/http/index.js'),
  ]);
  const transport = createPeerTransport(transportConfig, transportDeps);
  if (membership !== null && transport.server instanceof HttpNetworkServer)
    membership.addSessionCloser(transport.server);
  return transport;
}

/**
 * Builds the peer transport; an authenticated one resolves host names through the manager,
 * which maps addresses to members. Its DTLS server learns the members' addresses as the
 * membership changes (the node hands every change to the client's setPeers).
 */
async function createTransport(
  config: AgentConfig,
  serializer: RpcSerializer,
  deps: { readonly logger: DiagnosticLogger; readonly membership: MembershipManager; readonly metrics?: Metrics },
): Promise<PeerTransport> {
  const membership = deps.membership instanceof AuthenticatedMembershipManager ? deps.membership : null;
  const resolver = membership?.resolver ?? null;
  const hosts = new MemberHosts(undefined, (host, error) =>
    deps.logger.warning('cannot resolve a member host; it gets no reserved handshakes', {
      host,
      error: describeError(error),
    }),
  );
  hosts.replace(config.members.map((m) => m.address));
  const transport = await buildPeerTransport(
    peerTransportConfig(config, deps.logger, deps.membership, hosts, deps.metrics ?? null),
    {
      serializer,
      ...(resolver === null ? {} : { resolver }),
      ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
    },
    membership,
  );
  return { server: transport.server, client: followingMembers(transport.client, hosts) };
}

/**
 * The codec: cbor, the default, directly; the others (json brings Ajv, protobuf protobufjs)
 * are imported only when configured, so an agent loads one codec.
 */
async function createAgentSerializer(config: AgentConfig): Promise<RpcSerializer> {
  if (config.codec === 'cbor') return new CborSerializer();
  return (await import('../../codec/index.js')).createSerializer(config.codec);
}

export const REAL_FACTORIES: AgentFactories = {
  createSerializer: createAgentSerializer,
  createTransport,
  createMembership,
  openEndpoint: openEndpointSocket,
};
