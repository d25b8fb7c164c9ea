// A scripted simulation for scenario tests: a SimCluster on virtual time with the safety
// checks after every instant, plus helpers to run time forward and to wait for conditions.
import { strict as assert } from 'node:assert';
import { SIM_RAFT_CONFIGURATION, SimCluster } from '../../agent/sim/cluster.js';
import type { TraceEvent } from '../../agent/sim/cluster.js';
import { RELIABLE_NETWORK } from '../../agent/sim/network.js';
import type { NetworkFaults } from '../../agent/sim/network.js';
import { VirtualTimers } from '../../agent/sim/virtual-time.js';
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';
import type { RaftNodeImpl } from '../../agent/runtime/node.js';
import { encodeKvCommand, encodeKvQuery, decodeKvResult } from '../../agent/kv/index.js';
import type { KvResult } from '../../agent/kv/index.js';

export class SimHarness {
  readonly timers = new VirtualTimers();
  readonly cluster: SimCluster;
  readonly trace: TraceEvent[] = [];

  constructor(
    readonly ids: readonly string[],
    seed = 1,
    faults: NetworkFaults = RELIABLE_NETWORK,
    raft: Partial<RaftConfiguration> = {},
  ) {
    this.cluster = new SimCluster(
      this.timers,
      {
        seed,
        nodeIds: ids,
        raft: {
          ...SIM_RAFT_CONFIGURATION,
          logRetainEntries: 100,
          logRetainEntriesMax: 1000,
          logRetainBytesMax: 1 << 20,
          ...raft,
        },
        faults,
        syncDelayMs: 1,
      },
      (e) => this.trace.push(e),
    );
  }

  async startAll(): Promise<void> {
    for (const id of this.ids) await this.cluster.start(id);
  }

  /** Runs `ms` of virtual time with the safety checks after every instant. */
  async run(ms: number): Promise<void> {
    await this.timers.runUntil(this.timers.nowMs() + ms, () => {
      this.cluster.checkEachEvent();
      return this.cluster.checker.violations.length === 0;
    });
    this.cluster.checkAll();
    assert.deepEqual(this.cluster.checker.violations, [], 'safety violations');
  }

  /** Runs until `condition` holds, at most `ms`; fails the test otherwise. */
  async until(condition: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = this.timers.nowMs() + ms;
    while (!condition()) {
      if (this.timers.nowMs() >= deadline) assert.fail(`${what} within ${ms} ms`);
      await this.run(10);
    }
  }

  leader(): RaftNodeImpl {
    const leaders = this.cluster.leaders();
    assert.equal(leaders.length, 1, 'one leader');
    const leader = leaders[0];
    assert.ok(leader);
    return leader;
  }

  async waitLeader(ms = 5000): Promise<RaftNodeImpl> {
    await this.until(() => this.cluster.leaders().length === 1, ms, 'a leader is elected');
    return this.leader();
  }

  /** Runs `promise` while virtual time moves; resolves or rejects with it. */
  async settle<T>(promise: Promise<T>, ms = 10_000): Promise<T> {
    let done = false;
    const observed = promise.finally(() => {
      done = true;
    });
    observed.catch(() => undefined);
    const deadline = this.timers.nowMs() + ms;
    while (!done && this.timers.nowMs() < deadline) await this.run(5);
    return observed;
  }

  async put(
    node: RaftNodeImpl,
    key: string,
    value: string,
    session: { clientId: string; seq: number } | null = null,
  ): Promise<KvResult> {
    const command = encodeKvCommand({
      op: 'put',
      key,
      value: new TextEncoder().encode(value),
      returnPrevious: true,
      session,
      timeMs: Math.floor(this.timers.nowMs()),
    });
    return decodeKvResult(await this.settle(node.submitAnywhere(command, 3000)));
  }

  async get(node: RaftNodeImpl, key: string): Promise<string | null> {
    const result = decodeKvResult(await this.settle(node.readAnywhere(encodeKvQuery({ op: 'get', key }), 3000)));
    assert.equal(result.type, 'get');
    return result.type === 'get' && result.current !== null ? new TextDecoder().decode(result.current.value) : null;
  }
}
