/**
 * The agent's keepers that run beside its node: the full-disk guard (disk-guard.ts), the cluster
 * quota's keeper (kv/quota-keeper.ts), the buffer collector (buffer-collector.ts) and the heap's
 * growth by entry size (heap-growth.ts), with the intervals that keep an agent at rest from waking more than it must.
 */
import type { Timers } from '../../contracts/clock.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { AgentConfig } from '../config/agent-config.js';
import { QuotaKeeper, type KvStateMachine } from '../kv/index.js';
import { LeaseKeeper, leaseKeeperHostOf } from '../kv/lease-keeper.js';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { bufferLineForHeap, bufferSlackForHeap } from '../config/memory-budget.js';
import {
  BUFFER_COLLECTOR_TIMING,
  BufferCollector,
  type CollectorTurn,
  collectorTurnOf,
  countFullCollections,
  exposedCollector,
  processMemory,
} from './buffer-collector.js';
import { DiskGuard } from './disk-guard.js';
import { HEAP_GROWING_FLAG, HeapGrowth } from './heap-growth.js';
import { flagGiven } from './v8-flags.js';
import type { RaftNodeImpl } from './node.js';

/** Longest the full-disk guard reuses a reading of the free space for a write, ms. */
const DISK_REFRESH_MS = 250;
/** How often an agent at rest reads its disk's free space, ms (writes read it at most every DISK_REFRESH_MS). */
const DISK_POLL_MS = 5000;
/** How often the quota keeper compares the applied quota with this member's, ms. */
const QUOTA_CHECK_INTERVAL_MS = 1000;

/** The full-disk guard of an agent with a data folder; null in memory. */
export function diskGuardFor(
  config: AgentConfig,
  deps: { readonly clock: Timers; readonly logger: DiagnosticLogger; readonly metrics: Metrics },
): DiskGuard | null {
  if (config.storage === 'memory') return null;
  const options = {
    path: config.dataDir,
    reserveBytes: config.diskReserveBytes,
    refreshMs: DISK_REFRESH_MS,
    pollMs: DISK_POLL_MS,
  };
  return new DiskGuard(options, deps);
}

/** Starts the keeper of the cluster's quota: this member proposes its own while it leads (kv/quota-keeper.ts). */
export function startQuotaKeeper(
  config: AgentConfig,
  node: RaftNodeImpl,
  kv: KvStateMachine,
  deps: { readonly timers: Timers; readonly logger: DiagnosticLogger },
): QuotaKeeper {
  const host = {
    isRunning: () => node.isRunning(),
    isLeader: () => node.isLeader(),
    appliedQuotaBytes: () => kv.stats().quotaBytes,
    submitCommand: (command: Uint8Array, timeoutMs: number) => node.submitCommand(command, timeoutMs),
  };
  const keeper = new QuotaKeeper(host, deps, {
    quotaBytes: config.quotaBytes,
    checkIntervalMs: QUOTA_CHECK_INTERVAL_MS,
    proposeTimeoutMs: 2 * config.raft.electionTimeoutMaxMs,
  });
  keeper.start();
  return keeper;
}

/** Starts the lease countdown of a started node (kv/lease-keeper.ts); the state machine tells it of lease changes. */
export function startLeaseKeeper(
  kv: KvStateMachine,
  node: RaftNodeImpl,
  deps: { readonly timers: Timers; readonly metrics: Metrics },
): LeaseKeeper {
  const keeper = new LeaseKeeper({
    timers: deps.timers,
    source: kv,
    host: leaseKeeperHostOf(node),
    metrics: deps.metrics,
  });
  keeper.start();
  return keeper;
}

/** The agent's turn among its configured members for the buffer collector's collections under load. */
export function collectorTurnIn(config: Pick<AgentConfig, 'nodeId' | 'members'>): CollectorTurn | null {
  return collectorTurnOf(
    config.nodeId,
    config.members.map((member) => member.id),
  );
}

/**
 * The keepers of an agent's memory: the buffer collector, its line and slack sized to the V8 heap
 * limit (config/memory-budget.ts), and the heap's growth by entry size (null when the command line
 * sets it). Both are told of every applied entry (agent-observer.ts).
 */
export function memoryKeepersFor(deps: {
  readonly timers: Timers;
  readonly metrics: Metrics;
  readonly logger: DiagnosticLogger;
  /** The agent's turn among the configured members (buffer-collector.ts). */
  readonly turn: CollectorTurn | null;
}): { readonly buffers: BufferCollector; readonly heapGrowth: HeapGrowth | null } {
  const collect = exposedCollector();
  countFullCollections();
  const heapLimitBytes = getHeapStatistics().heap_size_limit;
  const lineBytes = bufferLineForHeap(heapLimitBytes);
  const slackBytes = bufferSlackForHeap(heapLimitBytes);
  const buffers = new BufferCollector(
    { timers: deps.timers, metrics: deps.metrics, memory: processMemory, collect },
    { lineBytes, slackBytes, ...BUFFER_COLLECTOR_TIMING, turn: deps.turn },
  );
  const heapGrowth = flagGiven(HEAP_GROWING_FLAG)
    ? null
    : new HeapGrowth({ setFlags: setFlagsFromString, metrics: deps.metrics });
  return { buffers, heapGrowth };
}
