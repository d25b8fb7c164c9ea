// A three-node (or N-node) cluster of real RaftNodeImpl on virtual time and the simulated
// network, started and given time to elect a leader, and a state machine that echoes: what the
// runtime tests that need a running cluster share.
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import type { RaftNodeDeps } from '../../../agent/runtime/node-deps.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SimNetwork, RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { DEFAULT_RAFT_CONFIGURATION } from '../../../contracts/raft-configuration.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import type { StateMachine } from '../../../contracts/state-machine.js';
import type { LogEntry, SnapshotMeta } from '../../../contracts/log.js';

/** Starts nodes `ids` (each with `stateMachine(id)` and any `extra(id)` deps) and runs 2 s of virtual time. */
export async function startSimCluster(
  ids: readonly string[],
  options: {
    readonly networkSeed: number;
    readonly stateMachine: (id: string) => StateMachine;
    readonly extra?: (id: string) => Partial<RaftNodeDeps>;
  },
): Promise<{ readonly timers: VirtualTimers; readonly nodes: readonly RaftNodeImpl[] }> {
  const timers = new VirtualTimers();
  const network = new SimNetwork(timers, new SeededPrng(options.networkSeed), RELIABLE_NETWORK);
  const nodes = ids.map((id) => {
    const endpoint = network.endpoint(id);
    return new RaftNodeImpl(
      {
        timers,
        prng: new SeededPrng(id.charCodeAt(0)),
        client: endpoint.client,
        server: endpoint.server,
        storage: new MemoryPersistenceEngine(),
        stateMachine: options.stateMachine(id),
        logger: new MemoryLogger(),
        metrics: new NoopMetrics(),
        membership: new DefaultMembershipManager(),
        ...options.extra?.(id),
      },
      { nodeId: id, raft: DEFAULT_RAFT_CONFIGURATION, bootstrap: simpleConfiguration(ids) },
    );
  });
  for (const node of nodes) await node.start();
  await timers.runUntil(timers.nowMs() + 2000);
  return { timers, nodes };
}

/** A state machine that records what it applied and echoes commands (and queries). */
export class EchoStateMachine implements StateMachine {
  readonly applied: LogEntry[] = [];
  /** The `answered` of each apply, in the order of `applied`. */
  readonly answered: boolean[] = [];
  apply(entry: LogEntry, answered = true): Uint8Array {
    this.applied.push(entry);
    this.answered.push(answered);
    return entry.command;
  }
  /** Command entries applied (configuration and no-op entries left out). */
  get commands(): number {
    return this.applied.filter((e) => e.type === 'command').length;
  }
  query(query: Uint8Array): Uint8Array {
    return query;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(_meta: SnapshotMeta, _data: Uint8Array): void {}
}
