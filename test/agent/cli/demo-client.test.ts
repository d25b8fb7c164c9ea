// Proves that the demo's client keeps writing through the endpoints that answer: with fake
// endpoints, it skips an agent that is down without a request, moves on after a failure and
// passes the failed endpoint over for passOverMs, still tries a passed-over endpoint when no
// other is left, and lets a bug (an error that is not a RaftError, or a failed assertion)
// through. On a real three-agent cluster, its writes resume within 2 s of a SIGKILL of the
// leader and never stop for 2 s afterwards.
import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { DemoClient } from '../../../agent/cli/demo-client.js';
import type { DemoRequest, DemoTarget } from '../../../agent/cli/demo-client.js';
import { ConfigError, InvariantError, NetworkError } from '../../../contracts/errors.js';
import { startCluster } from '../integration/helpers.js';

/** A fake endpoint: a key-value map that answers, fails with NET_TIMEOUT, or fails with a bug. */
class FakeTarget implements DemoTarget {
  isUp = true;
  behaviour: 'answer' | 'timeout' | 'bug' | 'invariant' = 'answer';
  readonly asked: string[] = [];
  private readonly values = new Map<string, Uint8Array>();

  constructor(readonly id: string) {}

  up(): boolean {
    return this.isUp;
  }

  request(request: DemoRequest): Promise<{ code: number; payload: Uint8Array }> {
    this.asked.push(request.method);
    if (this.behaviour === 'timeout')
      return Promise.reject(new NetworkError('NET_TIMEOUT', `${this.id} did not answer`));
    if (this.behaviour === 'bug') return Promise.reject(new TypeError('a bug'));
    if (this.behaviour === 'invariant') return Promise.reject(new InvariantError('a failed assertion'));
    const key = request.path.join('/');
    if (request.method === 'PUT') {
      this.values.set(key, request.payload ?? new Uint8Array(0));
      return Promise.resolve({ code: 0x44, payload: new Uint8Array(0) });
    }
    const value = this.values.get(key);
    return Promise.resolve(
      value === undefined ? { code: 0x84, payload: new Uint8Array(0) } : { code: 0x45, payload: value },
    );
  }
}

describe('demo client', () => {
  let now: number;
  let targets: FakeTarget[];
  let client: DemoClient;

  beforeEach(() => {
    now = 0;
    targets = ['n1', 'n2', 'n3'].map((id) => new FakeTarget(id));
    client = new DemoClient({ targets: () => targets, nowMs: () => now }, { passOverMs: 1000, keyCount: 10 });
  });

  /** The endpoints the next `count` rounds would use. */
  function rounds(count: number): string[] {
    const used: string[] = [];
    for (let i = 0; i < count; i += 1) {
      used.push(client.nextTarget()?.id ?? 'none');
    }
    return used;
  }

  it('writes and reads back through each endpoint in turn', async () => {
    for (let i = 0; i < 6; i += 1) assert.equal(await client.round(), 'ok');
    assert.equal(client.writes, 6);
    assert.equal(client.reads, 6);
    assert.deepEqual(
      targets.map((t) => t.asked.length),
      [4, 4, 4],
      'a PUT and a GET on each endpoint, twice',
    );
  });

  it('skips an agent that is down without sending it anything, whichever agent it is', async () => {
    for (const down of targets) {
      for (const t of targets) t.isUp = t !== down;
      const used = rounds(6);
      assert.ok(!used.includes(down.id), `${down.id} is down: ${used.join(',')}`);
      assert.equal(new Set(used).size, 2, `both live endpoints are used: ${used.join(',')}`);
    }
    for (let i = 0; i < 4; i += 1) assert.equal(await client.round(), 'ok');
    assert.deepEqual(targets[2]?.asked, [], 'n3 (down last) was never asked');
  });

  it('moves on at once from an endpoint that fails and passes it over for passOverMs', async () => {
    const [n1, n2, n3] = targets;
    assert.ok(n1 !== undefined && n2 !== undefined && n3 !== undefined);
    n2.behaviour = 'timeout';
    assert.equal(await client.round(), 'ok'); // n1
    assert.equal(await client.round(), 'failed'); // n2
    now = 10;
    assert.deepEqual(rounds(4), ['n3', 'n1', 'n3', 'n1'], 'n2 is passed over');
    now = 1010;
    assert.equal(client.nextTarget()?.id, 'n2', 'and tried again after passOverMs');
    assert.equal(client.failures, 1);
  });

  it('still tries a passed-over endpoint when no other is left, and recovers when it answers again', async () => {
    for (const t of targets) t.behaviour = 'timeout';
    for (let i = 0; i < 3; i += 1) assert.equal(await client.round(), 'failed');
    assert.equal(client.failures, 3);
    for (const t of targets) t.behaviour = 'answer';
    assert.equal(await client.round(), 'ok', 'a round still goes out while every endpoint is passed over');
    assert.equal(client.writes, 1);
  });

  it('does nothing while every agent is down', async () => {
    for (const t of targets) t.isUp = false;
    assert.equal(await client.round(), 'no-target');
    assert.deepEqual(
      targets.flatMap((t) => t.asked),
      [],
    );
  });

  it('lets a bug through instead of counting it as a failed request', async () => {
    for (const t of targets) t.behaviour = 'bug';
    await assert.rejects(client.round(), TypeError);
    for (const t of targets) t.behaviour = 'invariant';
    await assert.rejects(client.round(), InvariantError);
    assert.equal(client.failures, 0);
  });

  it('validates its options', () => {
    assert.throws(
      () => new DemoClient({ targets: () => targets, nowMs: () => now }, { passOverMs: -1, keyCount: 0 }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems, [
          'passOverMs must be an integer in [0, 60000], got -1',
          'keyCount must be an integer in [1, 1000], got 0',
        ]);
        return true;
      },
    );
  });
});

describe('demo client on a real cluster', function () {
  this.timeout(120_000);

  it('keeps writing within 2 s of a SIGKILL of the leader, through the nodes that are up', async () => {
    const { cluster, leader } = await startCluster({ nodes: 3, requestTimeoutMs: 1000 });
    const acks: number[] = [];
    const demoTargets: DemoTarget[] = cluster.agents().map((agent) => ({
      id: agent.init.id,
      up: () => cluster.agent(agent.init.id).process !== null,
      request: (request) => agent.client.request(request),
    }));
    const client = new DemoClient({ targets: () => demoTargets, nowMs: () => performance.now() });
    let running = true;
    const loop = (async () => {
      while (running) {
        const before = client.writes;
        await client.round();
        if (client.writes > before) acks.push(performance.now());
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      while (acks.length < 20) await new Promise((r) => setTimeout(r, 50));
      const killedAt = performance.now();
      await cluster.signal(leader, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 6000));
      const endedAt = performance.now();
      running = false;
      await loop;
      // The stretches without an acknowledged write: kill → first ack, ack → ack, last ack → end.
      const marks = [killedAt, ...acks.filter((t) => t > killedAt && t <= endedAt), endedAt];
      const gaps = marks.slice(1).map((t, i) => t - (marks[i] ?? t));
      assert.ok(marks.length > 2, 'no write acknowledged after the kill');
      const worst = Math.max(...gaps);
      assert.ok(
        worst < 2000,
        `writes stopped for ${Math.round(worst)} ms after the kill (gaps ${gaps.map(Math.round).join(', ')})`,
      );
    } finally {
      running = false;
      await loop;
      await cluster.close();
    }
  });
});
