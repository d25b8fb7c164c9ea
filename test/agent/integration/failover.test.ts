/**
 * Proves, on a real three-agent cluster (coaps, cbor, LMDB), that leader changes cost clients
 * nothing they were promised: (1) clients writing and reading through the local endpoints
 * while the leader is SIGKILLed produce a history that the project's linearizability checker
 * accepts, with acknowledged operations after the new leader took over; (2) SIGTERM on the
 * leader hands leadership over (exit 0, exactly one new term, no election timeout waited) while
 * a client loop running through the other nodes sees no failed request at all.
 */
import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import type { HistoryEvent } from '../../../agent/sim/history.js';
import { pairOperations } from '../../../agent/sim/history.js';
import { checkLinearizability } from '../../../agent/sim/linearizability.js';
import { startCluster, waitFor } from './helpers.js';
import { describeError } from '../../../contracts/errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Clients that write unique values and read them back through every running agent, recording a history. */
class Workload {
  readonly events: HistoryEvent[] = [];
  ok = 0;
  errors: string[] = [];
  private running = true;
  private readonly started = performance.now();
  private readonly loops: Promise<void>[];

  constructor(
    private readonly cluster: AgentProcesses,
    clients: number,
    private readonly targets: () => readonly string[],
    /** Keys no earlier workload wrote, so that the history starts from absent keys. */
    private readonly keys: readonly string[],
  ) {
    this.loops = Array.from({ length: clients }, (_, c) => this.loop(c));
  }

  private now(): number {
    return performance.now() - this.started;
  }

  private async loop(client: number): Promise<void> {
    for (let id = 0; this.running; id += 1) {
      const targets = this.targets();
      const target = targets[(client + id) % targets.length];
      if (target === undefined) break;
      const key = this.keys[(client * 7 + id) % this.keys.length] ?? 'none';
      const isPut = id % 2 === 0;
      const value = `c${client}-${id}`;
      this.events.push({
        t: this.now(),
        type: 'invoke',
        client,
        id,
        op: isPut ? 'put' : 'get',
        key,
        value: isPut ? value : null,
      });
      try {
        const response = await this.cluster
          .agent(target)
          .client.request(
            isPut
              ? { method: 'PUT', path: ['kv', key], payload: encoder.encode(value) }
              : { method: 'GET', path: ['kv', key] },
          );
        const text = decoder.decode(response.payload);
        if (response.code < 0x80 || (!isPut && response.code === 0x84)) {
          this.ok += 1;
          this.events.push({
            t: this.now(),
            type: 'ok',
            client,
            id,
            value: isPut ? null : response.code === 0x84 ? null : text,
          });
        } else {
          this.errors.push(`${target}: ${text}`);
          // A refused write may still have been proposed: its outcome is unknown.
          this.events.push({ t: this.now(), type: isPut ? 'info' : 'fail', client, id, value: null });
        }
      } catch (error) {
        this.errors.push(`${target} ${isPut ? 'put' : 'get'} at ${Math.round(this.now())} ms: ${describeError(error)}`);
        this.events.push({ t: this.now(), type: isPut ? 'info' : 'fail', client, id, value: null });
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

describe('agent integration: leader failover on real agents', function () {
  this.timeout(90_000);
  let cluster: AgentProcesses;
  let leader: string;
  const output = new Map<string, string>();

  before(async function () {
    ({ cluster, leader } = await startCluster({
      nodes: 3,
      requestTimeoutMs: 3000,
      output: (id, chunk) => output.set(id, `${output.get(id) ?? ''}${chunk}`),
    }));
  });

  after(async function () {
    await cluster.close();
  });

  const running = (): string[] =>
    cluster
      .agents()
      .filter((a) => a.process !== null)
      .map((a) => a.init.id);

  it('keeps reads linearizable when the leader is killed (SIGKILL) under load', async function () {
    const workload = new Workload(cluster, 4, running, ['kill-a', 'kill-b', 'kill-c']);
    try {
      await waitFor('acknowledged operations before the kill', () => workload.ok >= 80);
      const killed = leader;
      assert.equal(await cluster.signal(killed, 'SIGKILL'), null);
      leader = await cluster.waitForLeader(20_000, killed);
      const okAtNewLeader = workload.ok;
      await waitFor('acknowledged operations under the new leader', () => workload.ok >= okAtNewLeader + 80);
      await workload.stop();
      const operations = pairOperations(workload.events);
      const result = checkLinearizability(operations);
      assert.equal(result.ok, true, result.ok === true ? '' : `${result.explanation}`);
      cluster.start(killed);
      await waitFor(`${killed} back in the cluster`, async () => (await cluster.status(killed))?.leaderId === leader);
    } finally {
      await workload.stop();
    }
  });

  it('hands leadership over on SIGTERM with no failed client request and no election timeout', async function () {
    const before = await cluster.status(leader);
    assert.ok(before !== null && before.state === 'leader');
    const others = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
    // Clients go through the two agents that stay up; the leader's own endpoint closes on SIGTERM.
    const workload = new Workload(cluster, 2, () => others, ['term-a', 'term-b']);
    try {
      await waitFor('acknowledged operations before SIGTERM', () => workload.ok >= 40);
      const old = leader;
      assert.equal(await cluster.signal(old, 'SIGTERM'), 0, 'a stopped agent exits 0');
      leader = await cluster.waitForLeader(20_000, old);
      const okAtNewLeader = workload.ok;
      await waitFor('acknowledged operations under the new leader', () => workload.ok >= okAtNewLeader + 40);
      await workload.stop();
      assert.deepEqual(workload.errors, [], 'no client request failed');
      const after = await cluster.status(leader);
      assert.ok(after !== null);
      assert.equal(after.term, before.term + 1, 'one term: the transferee campaigned at once, nobody timed out');
      assert.match(output.get(old) ?? '', /handed leadership over before stopping/);
      const result = checkLinearizability(pairOperations(workload.events));
      assert.equal(result.ok, true, result.ok === true ? '' : `${result.explanation}`);
    } finally {
      await workload.stop();
    }
  });
});
