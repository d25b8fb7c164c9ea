/**
 * The agent: one process per gateway. It builds every component the configuration names —
 * logger, metrics, persistence engine, codec, peer transport, the KV state machine, the
 * RaftNode and the local endpoint — starts them in order, and stops them in reverse. On
 * SIGTERM a leader first hands leadership to the most up-to-date follower, so that a gateway
 * reboot costs the cluster no election timeout.
 *
 * Exit codes follow sysexits(3), so scripts and systemd can tell why the process ended.
 */
import { simpleConfiguration } from '../core/configuration.js';
import { AGENT_WITNESS_VIEW } from '../trust/witness-view.js';
import { SeededPrng } from '../../contracts/prng.js';
import { randomInt } from 'node:crypto';
import { ConfigError, LeftOutError, PersistenceError, RaftError, describeError } from '../../contracts/errors.js';
import { PEER_SEND_TURN_BYTES } from './send-pacer.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { MembershipManager } from '../../contracts/membership.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { PeerTransport } from '../../transport/peer-transport.js';
import type { PersistenceEngine } from '../../contracts/persistence.js';
import type { RaftNode } from '../../contracts/raft-node.js';
import type { RpcSerializer } from '../../contracts/serializer.js';
import type { AgentConfig } from '../config/agent-config.js';
import { KvStateMachine, resolveKvOptions, spaceStatusOf, type KvOptions, type QuotaKeeper } from '../kv/index.js';
import type { LeaseKeeper } from '../kv/lease-keeper.js';
import { LocalEndpoint, unsafeAckFromEnvironment } from '../endpoint/local-endpoint.js';
import { newBootId, writeSessionOptionsFor } from '../endpoint/write-session.js';
import { RaftNodeImpl } from './node.js';
import { adminRefusalLog } from './admin.js';
import { advertisedPeerAddress } from './advertised-address.js';
import { PeerReach, hostLiterals } from './peer-reach.js';
import type { NodeObserver, RaftNodeOptions } from './node-deps.js';
import type { NodeApi } from './node-api.js';
import { RealTimers } from './timers.js';
import { TraceWriter } from '../observability/trace-writer.js';
import { latencyProbeFromEnvironment, type LatencyProbe } from '../observability/latency-probe.js';
import { probedEndpoint } from '../observability/endpoint-probe.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';
import { openNodeStorage, snapshotBytesMaxFor } from './open-storage.js';
import { AuthenticatedMembershipManager } from '../membership/authenticated.js';
import { TrustedStateMachine } from '../trust/trusted-state-machine.js';
import { serveBackups } from '../backup/serve-backups.js';
import type { CommitMarker } from './commit-marker.js';
import type { DiskGuard } from './disk-guard.js';
import { collectorTurnIn, memoryKeepersFor, diskGuardFor, startLeaseKeeper, startQuotaKeeper } from './keepers.js';
import type { BufferCollector } from './buffer-collector.js';
import { StartupPhases } from '../observability/startup-phases.js';
import { agentObserver, commitMarkerFor, logStarted, pending } from './agent-observer.js';

/** Why the agent ended: sysexits(3) numbers, but 2 for a bad command line as every coraft command. */
export const EXIT = {
  /** Stopped on request (SIGTERM, SIGINT). */
  ok: 0,
  /** Bad command line: 2, as every coraft command. */
  usage: 2,
  /** A peer or the endpoint could not bind its port. */
  unavailable: 69,
  /** A bug: a broken invariant. */
  software: 70,
  /** The data directory failed: full, corrupt, locked, unreadable. */
  ioError: 74,
  /** The configuration is invalid. */
  config: 78,
} as const;

/** The exit code for an error that ended the agent. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError || error instanceof LeftOutError) return EXIT.config;
  if (error instanceof PersistenceError) return EXIT.ioError;
  if (error instanceof RaftError && error.code.startsWith('NET_')) return EXIT.unavailable;
  if (
    error instanceof Error &&
    'code' in error &&
    (error.code === 'EADDRINUSE' || error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL')
  )
    return EXIT.unavailable;
  if (error instanceof RaftError && error.code === 'RAFT_STOPPED') return EXIT.software;
  return EXIT.software;
}

/** The agent's trace file (`--trace`), or null; a witness's apply lines say so (trace-check.ts). */
function traceFor(config: AgentConfig): TraceWriter | null {
  return config.trace === null ? null : new TraceWriter(config.trace, config.nodeId, () => Date.now(), config.witness);
}

/** How the agent builds the pluggable parts; the CLI passes the real ones. */
export interface AgentFactories {
  /** The codec; a promise when it is loaded on demand (see REAL_FACTORIES). */
  createSerializer(config: AgentConfig): RpcSerializer | Promise<RpcSerializer>;
  /** The peer transport; a promise when it is loaded on demand (HTTP, see REAL_FACTORIES). */
  createTransport(
    config: AgentConfig,
    serializer: RpcSerializer,
    deps: { readonly logger: DiagnosticLogger; readonly membership: MembershipManager; readonly metrics?: Metrics },
  ): PeerTransport | Promise<PeerTransport>;
  createMembership(config: AgentConfig, logger: DiagnosticLogger, metrics?: Metrics): MembershipManager;
  /** Opens the local endpoint's datagram endpoint (coap, or coaps with the endpoint keys), logging to `logger`. */
  openEndpoint(config: AgentConfig, logger: DiagnosticLogger): Promise<DatagramEndpoint>;
}

/** The node's options: the configured members to start with, snapshots up to what its kv limits allow. */
function nodeOptionsOf(config: AgentConfig): RaftNodeOptions {
  const bootstrap = simpleConfiguration(
    config.members.map((m) => m.id),
    config.members,
    config.witnesses,
  );
  const { nodeId, raft, witness } = config;
  const advertisedAddress = advertisedPeerAddress(config) ?? undefined;
  return { nodeId, raft, bootstrap, witness, snapshotBytesMax: snapshotBytesMaxFor(config.kv), advertisedAddress };
}

export class Agent {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly config: AgentConfig,
    /** The node, as the reference's RaftNode and as the NodeApi the endpoint uses. */
    readonly node: RaftNode & NodeApi,
    readonly endpoint: LocalEndpoint,
    private readonly storage: PersistenceEngine,
    private readonly logger: DiagnosticLogger,
    private readonly metrics: Metrics,
    private readonly trace: TraceWriter | null,
    /** The keepers that propose on the leader's behalf (the quota and lease expiry), and the buffer collector. */
    private readonly keepers: {
      readonly quotaKeeper: QuotaKeeper;
      readonly leases: LeaseKeeper;
      readonly buffers: BufferCollector;
    },
    private readonly marker: CommitMarker | null,
    private readonly diskGuard: DiskGuard | null,
    private readonly fatal: Promise<unknown>,
    private readonly latency: ReturnType<typeof latencyProbeFromEnvironment>,
  ) {}

  /**
   * Builds and starts every component; on failure, stops what was started and rethrows. Marks
   * the end of each start-up phase from `storage` to `endpoint` in `phases`.
   */
  static async start(
    config: AgentConfig,
    factories: AgentFactories,
    logger: DiagnosticLogger,
    metrics: Metrics,
    phases: StartupPhases = new StartupPhases(),
  ): Promise<Agent> {
    const timers = new RealTimers();
    const storage = await openNodeStorage(config, logger, metrics);
    phases.mark('storage');
    const trace = traceFor(config);
    let endpoint: LocalEndpoint | null = null;
    const marker = commitMarkerFor(config, timers, logger);
    const fatal = pending<unknown>();
    const memory = memoryKeepersFor({ timers, metrics, logger, turn: collectorTurnIn(config) });
    const latency = latencyProbeFromEnvironment(process.env, config.nodeId);
    const observer = agentObserver({
      ...memory,
      trace,
      endpoint: () => endpoint,
      marker,
      phases,
      onFatal: fatal.resolve,
    });
    try {
      const serializer = await factories.createSerializer(config);
      phases.mark('codec');
      const diskGuard = diskGuardFor(config, { clock: timers, logger, metrics });
      const parts = { timers, storage, logger, metrics, observer, serializer, diskGuard, probe: latency?.probe };
      const { node, kvOptions, stateMachine } = await buildNode(config, factories, parts);
      const kv = stateMachine.kv;
      await node.start();
      phases.mark('peer');
      const keeper = startLeaseKeeper(kv, node, { timers, metrics });
      endpoint = await startEndpoint(config, factories, node, kvOptions, {
        timers,
        logger,
        metrics,
        leases: keeper,
        built: (e) => (endpoint = e),
        probe: latency?.probe,
        spaceStatus: () => spaceStatusOf(kv.stats(), config.quotaBytes, diskGuard?.isFull() ?? false),
      });
      phases.mark('endpoint');
      const quotaKeeper = startQuotaKeeper(config, node, kv, { timers, logger });
      serveBackups(endpoint, node, stateMachine, config);
      marker?.start();
      diskGuard?.start();
      logStarted(config, logger);
      return new Agent(
        config,
        node,
        endpoint,
        storage,
        logger,
        metrics,
        trace,
        { quotaKeeper, leases: keeper, buffers: memory.buffers },
        marker,
        diskGuard,
        fatal.promise,
        latency,
      );
    } catch (error) {
      await storage.close().catch(() => undefined);
      await trace?.close();
      throw error;
    }
  }

  /**
   * Stops the agent: a leader first transfers leadership (bounded by two election timeouts),
   * then the endpoint, the node and the storage close.
   */
  stop(reason: string): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  private async shutdown(reason: string): Promise<void> {
    this.logger.info('agent stopping', { node: this.config.nodeId, reason });
    if (this.node.isRunning() && this.node.isLeader()) {
      const timeoutMs = 2 * this.config.raft.electionTimeoutMaxMs;
      try {
        const to = await this.node.transferLeadership(null, timeoutMs);
        this.logger.info('handed leadership over before stopping', { node: this.config.nodeId, to });
        // Drain: keep answering peers for a moment, so requests forwarded here while the
        // hand-off ran are answered "not leader, try <to>" (and retried there) instead of
        // timing out against a closed socket.
        await this.endpoint.stop();
        await new Promise((resolve) =>
          setTimeout(resolve, Math.max(2 * this.config.raft.rpcTimeoutMs, 2 * this.config.raft.heartbeatIntervalMs)),
        );
      } catch (error) {
        this.logger.warning('could not hand leadership over before stopping', {
          node: this.config.nodeId,
          error: describeError(error),
        });
      }
    }
    this.keepers.quotaKeeper.stop();
    this.keepers.leases.stop();
    this.keepers.buffers.stop();
    this.diskGuard?.stop();
    await this.endpoint.stop();
    await this.node.stop();
    if (this.latency !== null) {
      this.latency.probe.stopGc();
      this.logger.info('latency probe written', { file: this.latency.probe.writeTo(this.latency.dir) });
    }
    await this.marker?.stop();
    await this.storage.close();
    await this.trace?.close();
    await this.metrics.flush();
    this.logger.info('agent stopped', { node: this.config.nodeId });
  }

  /** The error that stopped the node on its own (a fatal error), or null while it has none. */
  fatalError(): unknown {
    return this.node.getFatalError();
  }

  /**
   * Resolves with the error when the node stops on its own (a fatal error); never while it runs.
   * The agent command waits on it instead of polling fatalError (no wake-ups at rest, issue 17).
   */
  whenFatal(): Promise<unknown> {
    return this.fatal;
  }
}

/** What the node of an agent is built with, besides the configuration and the factories. */
interface NodeParts {
  readonly timers: RealTimers;
  readonly storage: PersistenceEngine;
  readonly logger: DiagnosticLogger;
  readonly metrics: Metrics;
  readonly observer: NodeObserver;
  readonly serializer: RpcSerializer;
  readonly diskGuard: DiskGuard | null;
  /** The bench's latency probe (CORAFT_LATENCY_PROBE), if any. */
  readonly probe: LatencyProbe | undefined;
}

/**
 * Builds the node (not started) with its membership manager, peer transport and the KV state
 * machine under the trust state; returns it with the resolved KV options.
 */
async function buildNode(
  config: AgentConfig,
  factories: AgentFactories,
  parts: NodeParts,
): Promise<{ readonly node: RaftNodeImpl; readonly kvOptions: KvOptions; readonly stateMachine: TrustedStateMachine }> {
  const { timers, storage, logger, metrics, observer, serializer, diskGuard } = parts;
  const membership = factories.createMembership(config, logger, metrics);
  const transport = await factories.createTransport(config, serializer, { logger, membership, metrics });
  const client = new PeerReach(transport.client, logger, config.nodeId, hostLiterals(membership));
  const kvOptions = resolveKvOptions(config.kv);
  const kv = new KvStateMachine(kvOptions, { metrics });
  // The trust state rides along the KV state: signed admin entries, link keys, revocations.
  const stateMachine = new TrustedStateMachine(kv, {
    cluster: config.cluster ?? '',
    genesisAdminKey: config.adminPublicKey,
  });
  const node = new RaftNodeImpl(
    {
      timers,
      prng: new SeededPrng(randomInt(0, 2 ** 31)),
      client,
      advertisedAddresses: client,
      server: transport.server,
      storage,
      stateMachine,
      logger,
      metrics,
      membership,
      observer,
      witnessView: AGENT_WITNESS_VIEW,
      deferReady: setImmediate,
      paceSends: { turnBytesMax: PEER_SEND_TURN_BYTES, nextTurn: setImmediate },
      ...(diskGuard === null ? {} : { writeGate: diskGuard }),
      ...(parts.probe === undefined ? {} : { latencyProbe: parts.probe }),
      ...(config.cluster === null
        ? {}
        : {
            admin: {
              cluster: config.cluster,
              adminKey: () => stateMachine.trust.adminKey(),
              nonceSeen: (nonce: string) => stateMachine.trust.nonceSeen(nonce),
            },
          }),
    },
    nodeOptionsOf(config),
  );
  if (membership instanceof AuthenticatedMembershipManager) {
    membership.attach(() => (node.isRunning() ? client.reachable(node.getConfiguration()) : null), config.members, {
      trust: stateMachine.trust,
      appliedIndex: () => kv.lastApplied,
    });
    stateMachine.onCredentialsChanged((ids) => membership.onCredentialsChanged(ids));
  }
  return { node, kvOptions, stateMachine };
}

/**
 * Builds and starts the local endpoint of a started node (handing it to `parts.built` before it
 * starts, so that applied entries reach it from then on); stops the node if it cannot start.
 */
async function startEndpoint(
  config: AgentConfig,
  factories: AgentFactories,
  node: RaftNodeImpl,
  kvOptions: KvOptions,
  parts: Pick<NodeParts, 'timers' | 'logger' | 'metrics' | 'probe'> & {
    readonly leases: LeaseKeeper;
    readonly built: (endpoint: LocalEndpoint) => void;
    readonly spaceStatus: () => Readonly<Record<string, unknown>>;
  },
): Promise<LocalEndpoint> {
  const { timers, logger, metrics, leases, spaceStatus } = parts;
  const unsafeAckBeforeCommit = unsafeAckFromEnvironment(process.env);
  if (unsafeAckBeforeCommit)
    logger.error(
      'CORAFT_UNSAFE_ACK_BEFORE_COMMIT=1: writes are acknowledged before they commit; acknowledged writes CAN ' +
        'BE LOST (test-only switch)',
      { node: config.nodeId },
    );
  // The endpoint refuses oversize writes before they are proposed, so it needs the limits of apply.
  const limits = {
    keyBytesMax: kvOptions.keyBytesMax,
    valueBytesMax: kvOptions.valueBytesMax,
    commandBytesMax: config.raft.commandBytesMax,
  };
  const access = { kv: config.endpointKeys.kv?.identity ?? null, admin: config.endpointKeys.admin?.identity ?? null };
  const writeSession = writeSessionOptionsFor(kvOptions, config.nodeId);
  const endpoint = new LocalEndpoint(
    {
      node,
      timers,
      metrics,
      leases,
      openEndpoint: async () => probedEndpoint(await factories.openEndpoint(config, logger), parts.probe),
      access,
      bootId: newBootId(),
      spaceStatus,
      adminRefused: adminRefusalLog(logger, config.nodeId, timers),
    },
    { unsafeAckBeforeCommit, ...limits, writeSession },
  );
  parts.built(endpoint);
  try {
    await endpoint.start();
  } catch (error) {
    leases.stop();
    await node.stop();
    throw error;
  }
  return endpoint;
}
