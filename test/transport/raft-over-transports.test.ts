// Proves Raft works over every peer transport with real agent processes: for coaps, coap,
// http and https, three `coraft agent` processes on loopback (made by `cluster init`, driven
// by AgentProcesses) elect a leader and commit 10,000 writes sent through all three nodes'
// local endpoints by 32 concurrent clients (followers forward to the leader). Every node must
// then report commitIndex and lastApplied past the writes, and a sample of keys must read
// back through each node. Then the leader is killed with SIGKILL; the two survivors must elect
// a new leader (in a higher term) and commit 500 more writes, checked the same way.
// Needs `npm run build` first (the agents run dist/); `npm test` builds.
import { strict as assert } from 'node:assert';
import { AgentProcesses } from '../../agent/cli/agent-processes.js';
import { checkKeys, statuses, waitForApplied, writeKeys } from './cluster-load.js';

const TRANSPORTS = ['coaps', 'coap', 'http', 'https'] as const;
const COMMANDS = 10_000;
const AFTER_FAILOVER = 500;
const CONCURRENCY = 32;

/** Key indexes read back: every 250th key and the last one. */
function sample(from: number, count: number): number[] {
  const picks = [];
  for (let i = from; i < from + count; i += 250) picks.push(i);
  picks.push(from + count - 1);
  return picks;
}

describe('Raft over every peer transport (3 agent processes)', function () {
  this.timeout(120_000);

  for (const transport of TRANSPORTS) {
    it(`${transport}: elects, commits ${COMMANDS} writes, survives a leader SIGKILL`, async function () {
      const cluster = await AgentProcesses.create({
        transport,
        storage: transport === 'coaps' ? 'lmdb' : 'memory',
        requestTimeoutMs: 2000,
      });
      try {
        cluster.startAll();
        const ids = cluster.agents().map((a) => a.init.id);
        await cluster.waitForLeader(30_000);
        const before = await statuses(cluster, ids);

        const prefix = `${transport}-k`;
        const first = await writeKeys({
          endpoints: cluster.agents().map((a) => a.init.endpoint),
          prefix,
          from: 0,
          count: COMMANDS,
          concurrency: CONCURRENCY,
        });
        assert.equal(first.written, COMMANDS);
        const base = Math.max(...before.map((s) => s.commitIndex));
        const applied = await waitForApplied(cluster, ids, base + COMMANDS, 30_000);
        assert.ok(
          applied.every((s) => s.term === applied[0]?.term),
          `one term across the nodes: ${JSON.stringify(applied)}`,
        );
        for (const agent of cluster.agents()) await checkKeys(agent.init.endpoint, prefix, sample(0, COMMANDS));

        // Kill the leader of now: under load leadership may have moved during the writes, and
        // killing a node that no longer leads would prove nothing about failover.
        const leader = await cluster.waitForLeader(30_000);
        const [leaderStatus] = await statuses(cluster, [leader]);
        await cluster.signal(leader, 'SIGKILL');
        const survivors = ids.filter((id) => id !== leader);
        const next = await cluster.waitForLeader(30_000, leader);
        assert.notEqual(next, leader);
        const [nextStatus] = await statuses(cluster, [next]);
        assert.ok(
          nextStatus !== undefined && nextStatus.term > (leaderStatus?.term ?? Infinity),
          'the new leader leads a later term',
        );

        const endpoints = survivors.map((id) => cluster.agent(id).init.endpoint);
        const second = await writeKeys({
          endpoints,
          prefix,
          from: COMMANDS,
          count: AFTER_FAILOVER,
          concurrency: CONCURRENCY,
        });
        assert.equal(second.written, AFTER_FAILOVER);
        const after = await waitForApplied(cluster, survivors, base + COMMANDS + AFTER_FAILOVER, 30_000);
        assert.ok(after.every((s) => s.leaderId === next));
        for (const endpoint of endpoints)
          await checkKeys(endpoint, prefix, [...sample(COMMANDS, AFTER_FAILOVER), 0, COMMANDS - 1]);
        console.log(
          `      ${transport}: ${COMMANDS} writes in ${first.elapsedMs} ms (${first.retries} ` +
            `retried), ${AFTER_FAILOVER} after failover in ${second.elapsedMs} ms`,
        );
      } finally {
        await cluster.close();
      }
    });
  }
});
