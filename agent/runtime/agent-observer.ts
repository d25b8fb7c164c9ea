/**
 * The agent's observer of its node: the trace file, the commit marker, the endpoint's Observe
 * notifications, the start-up phases (the log is read back when the node restarts from disk)
 * and the agent's wait for a fatal error; and the commit marker and start-up log line it goes
 * with (agent.ts assembles them).
 */
import type { LogEntry } from '../../contracts/log.js';
import type { LocalEndpoint } from '../endpoint/local-endpoint.js';
import type { StartupPhases } from '../observability/startup-phases.js';
import type { TraceWriter } from '../observability/trace-writer.js';
import { describeError } from '../../contracts/errors.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { AgentConfig } from '../config/agent-config.js';
import { CommitMarker } from './commit-marker.js';
import { formatAddress } from '../../transport/rpc-routes.js';
import type { RealTimers } from './timers.js';

/** How often the commit marker (commit-marker.ts) is written while entries apply, ms. */
const COMMIT_MARKER_INTERVAL_MS = 1000;
import type { NodeObserver } from './node-deps.js';

/** What the agent's observer reports to. */
export interface AgentObserverParts {
  readonly trace: TraceWriter | null;
  /** The endpoint, once built. */
  readonly endpoint: () => LocalEndpoint | null;
  readonly marker: CommitMarker | null;
  readonly phases: StartupPhases;
  /** Called once the node stopped on a fatal error, with the error. */
  readonly onFatal: (error: unknown) => void;
  /** Told of every applied entry: frees dead buffers under load (buffer-collector.ts). Default none. */
  readonly buffers?: { noteActivity(): void } | null;
  /** Told the command size of every applied entry: sets the heap's growth (heap-growth.ts). Default none. */
  readonly heapGrowth?: { noteEntry(commandBytes: number): void } | null;
}

/** The node's observer in the agent. */
export function agentObserver(parts: AgentObserverParts): NodeObserver {
  const { trace, endpoint, marker, phases, onFatal, buffers, heapGrowth } = parts;
  return {
    onFatal,
    onRestart: (snapshot) => {
      // The node has read its log back and restored its core; it binds its peer socket next.
      phases.mark('log');
      trace?.onRestart(snapshot);
    },
    onLeader: (term) => trace?.onLeader(term),
    onApply: (entry: LogEntry) => {
      trace?.onApply(entry);
      marker?.noteApplied(entry.index);
      endpoint()?.onApply(entry);
      buffers?.noteActivity();
      heapGrowth?.noteEntry(entry.command.length);
    },
    onSnapshotRestore: (meta) => {
      marker?.noteApplied(meta.lastIncludedIndex);
      trace?.onSnapshotRestore(meta);
      endpoint()?.onSnapshotRestore();
    },
    onConfiguration: (index, configuration) => trace?.onConfiguration(index, configuration),
  };
}

/** A promise with its resolver: settled by whoever learns the outcome. */
export interface Pending<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
}

/** A new pending promise. */
export function pending<T>(): Pending<T> {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The commit marker of an agent with a data folder (commit-marker.ts); null in memory. */
export function commitMarkerFor(
  config: AgentConfig,
  timers: RealTimers,
  logger: DiagnosticLogger,
): CommitMarker | null {
  return config.storage === 'memory'
    ? null
    : new CommitMarker(config.dataDir, timers, COMMIT_MARKER_INTERVAL_MS, (error) =>
        logger.warning('commit marker: cannot read or write it', { error: describeError(error) }),
      );
}

/** Logs that the agent started, with where it listens and what it runs. */
export function logStarted(config: AgentConfig, logger: DiagnosticLogger): void {
  const { listenPeer: peer, listenEndpoint: local } = config;
  logger.info('agent started', {
    node: config.nodeId,
    peer: formatAddress(peer.host, peer.port),
    endpoint: formatAddress(local.host, local.port),
    transport: config.transport,
    codec: config.codec,
    storage: config.storage,
  });
}
