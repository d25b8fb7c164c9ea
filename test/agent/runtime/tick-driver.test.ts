// Proves the deadline-driven tick (agent/runtime/tick-driver.ts, issue 17: CPU at rest): the
// timer wakes only for a due tick (not once per tick); before the core is used the ticks that
// passed are applied, so the core has seen as many ticks as a fixed tick timer would have given
// it; a due tick that comes closer re-arms the timer earlier; after a stall at most the ticks up
// to the first due one are applied and the rest dropped, as the fixed timer did, and the due one
// waits for the timer, which defers it once so that answers read after the stall count (a leader
// keeps its lead through check-quorum); nothing ticks once stopped. And on a whole idle 3-node
// cluster (virtual time, the agent's timing), the leader sends each follower one heartbeat per
// heartbeat interval and no more, and an agent wakes for timers far fewer than the 50 times a
// second a fixed 20 ms tick took.
import { strict as assert } from 'node:assert';
import { TickDriver } from '../../../agent/runtime/tick-driver.js';
import type { TickedCore } from '../../../agent/runtime/tick-driver.js';
import { RaftNodeImpl } from '../../../agent/runtime/node.js';
import { CoreCluster } from '../core/core-cluster.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { SimNetwork, RELIABLE_NETWORK } from '../../../agent/sim/network.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { AGENT_RAFT_DEFAULTS } from '../../../agent/config/agent-config.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import { KvStateMachine } from '../../../agent/kv/index.js';
import type { TimerHandle, Timers } from '../../../contracts/clock.js';
import type { NetworkClient } from '../../../contracts/network.js';

const TICK_MS = 20;

/** A core that is due every `period` ticks (like a leader's heartbeat) and counts its ticks. */
class PeriodicCore implements TickedCore {
  ticks = 0;
  constructor(public period: number) {}
  tick(): void {
    this.ticks += 1;
  }
  ticksUntilDue(): number {
    return this.period - (this.ticks % this.period);
  }
}

/** Virtual timers that count the callbacks they run. */
class CountingTimers extends VirtualTimers {
  fired = 0;
  override setTimer(delayMs: number, callback: () => void): TimerHandle {
    return super.setTimer(delayMs, () => {
      this.fired += 1;
      callback();
    });
  }
}

/**
 * A clock the test sets by hand, with timers that fire only when the test says: jumping the
 * clock without firing stands for a stalled process, `fireNext` for the timer Node runs first
 * when the process wakes (before it reads any socket).
 */
class ManualTimers implements Timers {
  now = 0;
  private pending: { at: number; callback: () => void; cancelled: boolean }[] = [];
  nowMs(): number {
    return this.now;
  }
  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer = { at: this.now + delayMs, callback, cancelled: false };
    this.pending.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }
  /** Fires the earliest live timer that is due now; false when none is. */
  fireNext(): boolean {
    this.pending = this.pending.filter((t) => !t.cancelled);
    const due = this.pending.filter((t) => t.at <= this.now).sort((a, b) => a.at - b.at)[0];
    if (due === undefined) return false;
    this.pending = this.pending.filter((t) => t !== due);
    due.callback();
    return true;
  }
  /** Runs time forward to `ms`, firing each timer when it comes due (no stall). */
  runUntil(ms: number): void {
    for (;;) {
      const next = this.pending.filter((t) => !t.cancelled && t.at <= ms).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) break;
      this.now = Math.max(this.now, next.at);
      this.fireNext();
    }
    this.now = ms;
  }
}

describe('tick driver', () => {
  it('wakes only for due ticks and applies the others from the clock', async () => {
    const timers = new CountingTimers();
    const core = new PeriodicCore(5);
    const driver = new TickDriver(timers, TICK_MS, core, () => undefined);
    driver.start();
    // 1000 ms is 50 ticks (each timer is set 1 ms past its due tick, see TIMER_SLACK_MS); the
    // timer fired once per 5 (the due ones), not 50 times.
    await timers.runUntil(1001);
    assert.equal(timers.fired, 10);
    assert.equal(core.ticks, 50);
    await timers.runUntil(1070);
    assert.equal(core.ticks, 50, 'the ticks between due ones wait for the next use of the core');
    assert.equal(driver.catchUp(), 3);
    assert.equal(core.ticks, 53, 'a catch-up applies the 3 ticks that passed');
    driver.stop();
  });

  it('re-arms earlier when the due tick comes closer', async () => {
    const timers = new CountingTimers();
    const core = new PeriodicCore(50);
    const driver = new TickDriver(timers, TICK_MS, core, () => undefined);
    driver.start();
    await timers.runUntil(100);
    driver.catchUp();
    assert.equal(core.ticks, 5);
    core.period = 7; // due in 2 ticks now
    driver.rearm();
    await timers.runUntil(142);
    assert.equal(core.ticks, 7, 'the due tick came at 140 ms, not at 1000 ms');
    driver.stop();
  });

  it('after a stall applies ticks only up to the first due one and drops the rest', () => {
    const timers = new ManualTimers();
    const core = new PeriodicCore(5);
    const driver = new TickDriver(timers, TICK_MS, core, () => undefined);
    driver.start();
    timers.now = 30 * TICK_MS;
    assert.equal(driver.catchUp(), 4, 'an input applies the ticks before the due one');
    assert.ok(timers.fireNext());
    assert.equal(core.ticks, 4, 'the timer, woken late, defers the due tick once');
    timers.now += 1;
    assert.ok(timers.fireNext(), 'to a timer of its own, a millisecond on');
    assert.equal(core.ticks, 5, 'which applies it');
    assert.equal(driver.catchUp(), 0, 'the dropped ticks are not applied later');
    timers.now += TICK_MS;
    assert.equal(driver.catchUp(), 1);
    driver.stop();
  });

  it('applies a due tick at once when its timer fires on time', () => {
    const timers = new ManualTimers();
    const core = new PeriodicCore(5);
    const driver = new TickDriver(timers, TICK_MS, core, () => undefined);
    driver.start();
    timers.now = 5 * TICK_MS + 1;
    assert.ok(timers.fireNext());
    assert.equal(core.ticks, 5);
    driver.stop();
  });

  it('keeps a leader whose followers answered during its stall (check-quorum after the sockets are read)', () => {
    // Check-quorum every 10 ticks, a heartbeat every 5: the leader's due ticks are every 5.
    const cluster = new CoreCluster(['n1', 'n2', 'n3'], 7, { heartbeatTicks: 5 });
    const leader = cluster.electLeader();
    cluster.stabilize();
    const timers = new ManualTimers();
    const driver = new TickDriver(timers, TICK_MS, cluster.core(leader), () => cluster.stabilize());
    driver.start();
    timers.runUntil(9 * TICK_MS + 1);
    // From the heartbeat of tick 10 on, the followers' answers wait in the leader's socket ...
    cluster.hold = () => true;
    timers.runUntil(19 * TICK_MS + 1);
    assert.deepEqual(cluster.leaders(), [leader], 'the check-quorum of tick 10 passed');
    // ... while the process stalls past its check-quorum tick. It wakes: its timer runs first.
    timers.now = 35 * TICK_MS;
    assert.ok(timers.fireNext());
    assert.deepEqual(cluster.leaders(), [leader], 'the check waits for the sockets to be read');
    cluster.hold = () => false;
    cluster.release();
    cluster.stabilize();
    timers.now += 1;
    assert.ok(timers.fireNext());
    assert.deepEqual(cluster.leaders(), [leader], 'the answers that arrived during the stall count');
    driver.stop();
  });

  it('ticks nothing once stopped', async () => {
    const timers = new CountingTimers();
    const core = new PeriodicCore(5);
    const driver = new TickDriver(timers, TICK_MS, core, () => undefined);
    driver.start();
    await timers.runUntil(200);
    driver.stop();
    const ticks = core.ticks;
    await timers.runUntil(2000);
    assert.equal(driver.catchUp(), 0);
    assert.equal(core.ticks, ticks);
  });

  it('lets an idle 3-node cluster sleep between heartbeats, one round per heartbeat interval', async () => {
    const timers = new CountingTimers();
    const network = new SimNetwork(timers, new SeededPrng(5), RELIABLE_NETWORK);
    const ids = ['n1', 'n2', 'n3'];
    const root = new SeededPrng(11);
    const appends = new Map<string, number>();
    /** The sim client of `id`, counting the AppendEntries it sends. */
    const countingClient = (id: string, client: NetworkClient): NetworkClient => ({
      send: (target, request, timeoutMs) => {
        if (request.type === 'AppendEntriesRequest') appends.set(id, (appends.get(id) ?? 0) + 1);
        return client.send(target, request, timeoutMs);
      },
      setPeers: (members) => client.setPeers(members),
      close: () => client.close(),
    });
    const nodes = ids.map((id) => {
      const { client, server } = network.endpoint(id);
      return new RaftNodeImpl(
        {
          timers,
          prng: root.fork(),
          client: countingClient(id, client),
          server,
          storage: new MemoryPersistenceEngine(),
          stateMachine: new KvStateMachine({}),
          logger: new MemoryLogger(10),
          metrics: new NoopMetrics(),
          membership: new DefaultMembershipManager(),
        },
        { nodeId: id, raft: AGENT_RAFT_DEFAULTS, bootstrap: simpleConfiguration(ids) },
      );
    });
    for (const node of nodes) await node.start();
    await timers.runUntil(3000);
    assert.equal(nodes.filter((n) => n.isLeader()).length, 1);
    const leaderId = ids[nodes.findIndex((n) => n.isLeader())];
    const before = timers.fired;
    const appendsBefore = new Map(appends);
    const seconds = 10;
    await timers.runUntil(timers.nowMs() + seconds * 1000);
    // The leader sends each follower one heartbeat per interval (200 ms: 5 a second), no more.
    const rounds = (seconds * 1000) / AGENT_RAFT_DEFAULTS.heartbeatIntervalMs;
    for (const id of ids) {
      const sent = (appends.get(id) ?? 0) - (appendsBefore.get(id) ?? 0);
      const expected = id === leaderId ? 2 * rounds : 0;
      assert.ok(Math.abs(sent - expected) <= 2, `${id} sent ${sent} AppendEntries in ${seconds} s, not ~${expected}`);
    }
    // A fixed 20 ms tick alone was 50 timer callbacks per agent per second; what is left is the
    // leader's heartbeat rounds (5 a second) and the transport's own timers for each RPC.
    const perAgentPerSecond = (timers.fired - before) / seconds / nodes.length;
    assert.ok(perAgentPerSecond < 12, `${perAgentPerSecond} timer callbacks per agent per second`);
    assert.equal(nodes.filter((n) => n.isLeader()).length, 1, 'the leader kept its lead');
    for (const node of nodes) await node.stop();
  });
});
