// Proves, on a real three-agent cluster (coaps between agents, LMDB, plain CoAP endpoints on
// loopback), that a watch with Observe on a follower sees every change exactly once and in
// order across a leader change: libcoap's coap-client-notls (`-s` observes; it exits 0 even on
// errors, so the test reads what it printed) and `coraft watch --json` (dist/ through
// bin/coraft.js: `npm run build` first) both watch a prefix on a follower while puts go through
// the endpoints before and after the leader is killed (SIGKILL); each put shows up once, in
// revision order, and the documents' ranges (since, revision] chain without gap or overlap.
// Then the watched node itself is killed and restarted while puts go on through the others:
// `coraft watch` reconnects and registers again with since = its last revision, so it still
// prints every put exactly once, in order, and within seconds: its probe sees changes the restarted
// agent never notified (the default --refresh-ms, 60 s of silence, is not what brings it back).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { CORAFT_BIN, type AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { coapClient, endpointOf, startCluster, waitFor, watchCoapClient } from './helpers.js';
import { coapClientInstalled } from '../../libcoap.js';

interface Doc {
  since: number;
  revision: number;
  events: { type: string; key: string; value?: string; revision: number }[];
}

/** The watch documents coap-client printed (it prints payloads back to back). */
function documents(output: string): Doc[] {
  const found = output.match(/\{"since":\d+,"revision":\d+,"events":\[[^\]]*\],"more":(true|false)\}/g) ?? [];
  return found.map((text) => JSON.parse(text) as Doc);
}

/** The values the documents carry, after checking that their ranges chain. */
function chainedValues(docs: readonly Doc[]): string[] {
  const values: string[] = [];
  let last = docs[0]?.since ?? 0;
  for (const doc of docs) {
    if (doc.revision <= last) continue;
    assert.equal(doc.since, last, `a gap or an overlap before ${JSON.stringify(doc)}`);
    values.push(...doc.events.map((e) => e.value ?? `deleted ${e.key}`));
    last = doc.revision;
  }
  return values;
}

describe('agent integration: watch with Observe across a leader change', function () {
  this.timeout(120_000);
  let cluster: AgentProcesses | null = null;

  before(function () {
    if (!coapClientInstalled()) this.skip();
  });

  after(async () => {
    await cluster?.close();
  });

  it('delivers every put once, in order, to coap-client and coraft watch on a follower', async () => {
    const started = await startCluster({ nodes: 3, requestTimeoutMs: 3000 });
    cluster = started.cluster;
    const agents = cluster;
    const leader = started.leader;
    const follower = agents.nodes.map((n) => n.id).find((id) => id !== leader) ?? '';
    const other = agents.nodes.map((n) => n.id).find((id) => id !== leader && id !== follower) ?? '';
    const watched = endpointOf(agents, follower);
    const observer = watchCoapClient('-s', '90', '-B', '90', '-m', 'get', `coap://${watched}/watch?prefix=wo/`);
    const cli = spawn(process.execPath, [
      CORAFT_BIN,
      'watch',
      '--prefix',
      'wo/',
      '--json',
      '--endpoint',
      watched,
      '--timeout-ms',
      '2000',
    ]);
    let cliOutput = '';
    cli.stdout.on('data', (chunk: Buffer) => (cliOutput += chunk.toString('utf8')));
    const expected: string[] = [];
    const put = async (id: string, i: number): Promise<void> => {
      const value = `v${i}`;
      const answer = await coapClient('-m', 'put', '-e', value, `coap://${endpointOf(agents, id)}/kv/wo/${i}`);
      assert.match(answer, /"revision":\d+/, answer);
      expected.push(value);
    };
    try {
      await waitFor('the first answer to coap-client', () => documents(observer.output()).length > 0);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      for (let i = 0; i < 10; i += 1) await put(i % 2 === 0 ? leader : follower, i);
      await waitFor('the puts before the kill', () => chainedValues(documents(observer.output())).length === 10);
      assert.equal(await agents.signal(leader, 'SIGKILL'), null);
      await agents.waitForLeader(30_000, leader);
      for (let i = 10; i < 20; i += 1)
        await waitFor(`put ${i}`, () => put(i % 2 === 0 ? other : follower, i).then(() => true));
      await waitFor('every put at coap-client', () => chainedValues(documents(observer.output())).length >= 20);
      await waitFor('every put at coraft watch', () => cliOutput.trim().split('\n').length >= 20);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(chainedValues(documents(observer.output())), expected, 'coap-client: each put once, in order');
      const lines = cliOutput
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { value: string; revision: number });
      assert.deepEqual(
        lines.map((l) => l.value),
        expected,
        'coraft watch: each put once, in order',
      );
      assert.ok(lines.every((l, i) => i === 0 || l.revision > (lines[i - 1]?.revision ?? 0)));
      observer.stop();
      // The watched node goes down and comes back: the CLI reconnects and resumes from its revision.
      agents.start(leader);
      await waitFor(`${leader} back`, async () => (await agents.status(leader))?.leaderId != null);
      assert.equal(await agents.signal(follower, 'SIGKILL'), null);
      for (let i = 20; i < 25; i += 1)
        await waitFor(`put ${i}`, () => put(i % 2 === 0 ? other : leader, i).then(() => true));
      agents.start(follower);
      for (let i = 25; i < 30; i += 1)
        await waitFor(`put ${i}`, () => put(i % 2 === 0 ? other : leader, i).then(() => true));
      await waitFor(
        'every put at coraft watch after the restart',
        () => cliOutput.trim().split('\n').length >= 30,
        15_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.deepEqual(
        cliOutput
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { value: string }).value),
        expected,
        'coraft watch: each put once, in order, across the restart of the watched node',
      );
    } finally {
      observer.stop();
      cli.kill('SIGTERM');
    }
  });
});
