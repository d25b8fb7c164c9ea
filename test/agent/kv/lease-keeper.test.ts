// Proves the lease countdown (agent/kv/lease-keeper.ts) on virtual time, with a real KV state
// machine as its source and a fake node that applies what the keeper proposes:
// - the leader proposes an expiry naming the lease's refresh index once TTL + grace have passed
//   since it saw the grant or the last keepalive, and not before; a follower never proposes;
// - a new leader (a change of term or of leader) restarts every countdown at the full TTL;
// - keepAlive acknowledges a keepalive answered within KEEPALIVE_ACK_WINDOW_MS of its sending
//   and refuses (TimeoutError) one answered later.
import { strict as assert } from 'node:assert';
import { decodeKvCommand } from '../../../agent/kv/encoding.js';
import {
  KEEPALIVE_ACK_WINDOW_MS,
  keepAlive,
  LEASE_CHECK_INTERVAL_MS,
  LEASE_EXPIRY_GRACE_MS,
  LeaseKeeper,
} from '../../../agent/kv/lease-keeper.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import type { KvCommand } from '../../../agent/kv/types.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { Driver } from './kv-helpers.js';

class FakeNode {
  leader = true;
  term = 1;
  readonly proposed: { atMs: number; command: KvCommand }[] = [];

  constructor(
    private readonly timers: VirtualTimers,
    private readonly driver: Driver,
  ) {}

  host() {
    return {
      isRunning: () => true,
      isLeader: () => this.leader,
      leadership: () => ({ term: this.term, leaderId: this.leader ? 'n1' : 'n2' }),
      submitCommand: (bytes: Uint8Array) => {
        const command = decodeKvCommand(bytes);
        this.proposed.push({ atMs: this.timers.nowMs(), command });
        this.driver.run(command);
        return Promise.resolve(new Uint8Array(0));
      },
    };
  }
}

function setUp(): { timers: VirtualTimers; d: Driver; node: FakeNode; keeper: LeaseKeeper } {
  const timers = new VirtualTimers();
  const sm = new KvStateMachine();
  const d = new Driver(sm);
  const node = new FakeNode(timers, d);
  const keeper = new LeaseKeeper({ timers, source: sm, host: node.host(), metrics: null });
  keeper.start();
  return { timers, d, node, keeper };
}

const run = (timers: VirtualTimers, ms: number): Promise<boolean> => timers.runUntil(timers.nowMs() + ms);

describe('LeaseKeeper', () => {
  it('proposes the expiry once TTL + grace have passed since the last refresh, on the leader only', async () => {
    const { timers, d, node, keeper } = setUp();
    d.run({ op: 'lease-grant', ttlMs: 1000 });
    await run(timers, 800);
    d.run({ op: 'lease-keepalive', id: 1 });
    const keptAt = timers.nowMs();
    await run(timers, 1000 + LEASE_EXPIRY_GRACE_MS - 10);
    assert.equal(node.proposed.length, 0, 'nothing before TTL + grace');
    const left = keeper.remainingMs(1);
    assert.ok(left !== null && left === 0, `the countdown ran out (${String(left)})`);
    await run(timers, 2 * LEASE_CHECK_INTERVAL_MS);
    assert.equal(node.proposed.length, 1);
    const expiry = node.proposed[0];
    assert.deepEqual(expiry?.command, { op: 'lease-expire', id: 1, refreshIndex: 2, session: null, timeMs: 0 });
    assert.ok((expiry?.atMs ?? 0) - keptAt <= 1000 + LEASE_EXPIRY_GRACE_MS + LEASE_CHECK_INTERVAL_MS);
    assert.deepEqual(d.sm.leases(), [], 'the expiry applied');
    await run(timers, 3000);
    assert.equal(node.proposed.length, 1, 'proposed once');

    const follower = setUp();
    follower.node.leader = false;
    follower.d.run({ op: 'lease-grant', ttlMs: 1000 });
    await run(follower.timers, 5000);
    assert.deepEqual(follower.node.proposed, [], 'a follower only counts');
    assert.equal(follower.keeper.remainingMs(1), 0);
  });

  it('restarts every countdown at the full TTL when the leadership changes', async () => {
    const { timers, d, node, keeper } = setUp();
    d.run({ op: 'lease-grant', ttlMs: 1000 });
    await run(timers, 900);
    node.term = 2;
    await run(timers, LEASE_CHECK_INTERVAL_MS);
    const changedAt = timers.nowMs();
    const left = keeper.remainingMs(1) ?? 0;
    assert.ok(left > 1000 - LEASE_CHECK_INTERVAL_MS, `a full TTL again (${left} ms left)`);
    while (node.proposed.length === 0 && timers.nowMs() < changedAt + 5000) await run(timers, 10);
    const atMs = node.proposed[0]?.atMs ?? 0;
    assert.ok(atMs >= changedAt - LEASE_CHECK_INTERVAL_MS + 1000 + LEASE_EXPIRY_GRACE_MS, `proposed at ${atMs}`);
  });

  it('acknowledges a keepalive only when it was answered in time', async () => {
    const timers = new VirtualTimers();
    const sm = new KvStateMachine();
    const d = new Driver(sm);
    d.run({ op: 'lease-grant', ttlMs: 1000 });
    const answer = (delayMs: number) => (command: Uint8Array) =>
      new Promise<Uint8Array>((resolve) =>
        timers.setTimer(delayMs, () =>
          resolve(sm.apply({ term: 1, index: sm.lastApplied + 1, type: 'command', command })),
        ),
      );
    const prompt = keepAlive(answer(KEEPALIVE_ACK_WINDOW_MS), timers, 1, 10_000);
    await run(timers, KEEPALIVE_ACK_WINDOW_MS + 1);
    assert.equal((await prompt).type, 'lease');
    const late = keepAlive(answer(KEEPALIVE_ACK_WINDOW_MS + 50), timers, 1, 10_000);
    late.catch(() => undefined);
    await run(timers, KEEPALIVE_ACK_WINDOW_MS + 100);
    await assert.rejects(late, { code: 'RAFT_TIMEOUT', message: /answered after 550 ms/ });
  });
});

describe('LeaseKeeper at rest', () => {
  // Property: with no lease the keeper arms no timer (an idle agent wakes for nothing), and a
  // lease granted at apply wakes it through the state machine's lease-change notice, so its
  // countdown starts at once and it expires on time; after stop() a grant arms nothing.
  it('arms no timer without a lease, and wakes when a lease is applied to count it from then', async () => {
    const { timers, d, node, keeper } = setUp();
    await run(timers, 1000);
    assert.equal(timers.pendingCount(), 0, 'no timer while there is no lease');
    d.run({ op: 'lease-grant', ttlMs: 1000 });
    const grantedAt = timers.nowMs();
    await run(timers, 1000 + LEASE_EXPIRY_GRACE_MS + 2 * LEASE_CHECK_INTERVAL_MS);
    assert.equal(node.proposed.length, 1, 'the expiry was proposed');
    assert.ok((node.proposed[0]?.atMs ?? 0) - grantedAt <= 1000 + LEASE_EXPIRY_GRACE_MS + LEASE_CHECK_INTERVAL_MS);
    await run(timers, 1000);
    assert.equal(timers.pendingCount(), 0, 'asleep again once the lease is gone');
    keeper.stop();
    d.run({ op: 'lease-grant', ttlMs: 1000 });
    assert.equal(timers.pendingCount(), 0, 'a stopped keeper is no longer told');
  });
});
