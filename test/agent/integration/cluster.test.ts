/**
 * Proves, on real agent processes (a cluster made by `cluster init`: coaps peers, cbor, LMDB),
 * that the local endpoint does what the issue promises when driven by the `coraft` CLI and by
 * libcoap's coap-client: writes sent to followers are forwarded and committed everywhere, a
 * retried (client, seq) write is applied once, Observe notifications arrive on /kv/{key} and
 * /status, a fourth agent is added and removed with `coraft members` (signed with the admin key
 * of the cluster's provisioner folder; unsigned, the change is refused; the removal is signed
 * offline and sent with `coraft admin submit`, once), and the `--trace` files
 * of all nodes agree on every applied entry. One cluster serves every case, in order.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { adminKeyFile } from '../../../agent/cli/cluster-init.js';
import { coapClient, coraft, endpointOf, startCluster, waitFor, watchCoapClient } from './helpers.js';

interface TraceEvent {
  readonly type: string;
  readonly node: string;
  readonly index?: number;
  readonly term?: number;
  readonly digest?: string;
  readonly voters?: readonly string[];
}

function readTrace(file: string): TraceEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as TraceEvent);
}

describe('agent integration: a running cluster through the CLI and coap-client', function () {
  this.timeout(60_000);
  let cluster: AgentProcesses;
  let leader: string;
  let followers: string[];
  const traceDir = mkdtempSync(join(tmpdir(), 'coraft-trace-'));
  const traceOf = (id: string): string => join(traceDir, `${id}.jsonl`);
  const url = (id: string, path: string): string => `coap://${endpointOf(cluster, id)}${path}`;

  before(async function () {
    // n4 has keys and a config but starts outside the cluster: the membership case adds it.
    ({ cluster, leader } = await startCluster({
      nodes: 4,
      initialMembers: 3,
      startCount: 3,
      agentArgs: (id) => ['--trace', traceOf(id)],
      // A leader keeps its log back to its followers, and 5,000 entries by default; keep 100, so
      // that the 1,100 writes before n4 joins leave it to catch up by InstallSnapshot.
      configOverrides: () => ({ raft: { logRetainEntries: 100 } }),
    }));
    followers = ['n1', 'n2', 'n3'].filter((id) => id !== leader);
  });

  after(async function () {
    await cluster.close();
    rmSync(traceDir, { recursive: true, force: true });
  });

  it('forwards writes sent to followers and commits them on every node', async function () {
    const [f1, f2] = followers;
    assert.ok(f1 !== undefined && f2 !== undefined);
    const put = await coraft('kv', 'put', 'fwd/a', 'from-cli', '--endpoint', endpointOf(cluster, f1));
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^fwd\/a = from-cli \(revision \d+\)\n$/);
    const coapPut = await coapClient('-m', 'put', '-e', 'from-coap', url(f2, '/kv/fwd/b'));
    assert.match(coapPut, /^\{"revision":\d+,"storeRevision":\d+\}$/);
    // Linearizable reads on every node (followers forward them) see both writes.
    for (const id of ['n1', 'n2', 'n3']) {
      assert.equal(await coapClient('-m', 'get', url(id, '/kv/fwd/a')), 'from-cli');
      const get = await coraft('kv', 'get', 'fwd/b', '--json', '--endpoint', endpointOf(cluster, id));
      assert.equal(get.code, 0, get.stderr);
      assert.equal((JSON.parse(get.stdout) as { value: string }).value, 'from-coap');
    }
    // Committed and applied on every node: local (stale) reads converge.
    for (const id of ['n1', 'n2', 'n3']) {
      await waitFor(
        `fwd/b applied on ${id}`,
        async () => (await coapClient('-m', 'get', url(id, '/kv/fwd/b?stale'))) === 'from-coap',
      );
    }
    const missing = await coraft('kv', 'get', 'fwd/none', '--endpoint', endpointOf(cluster, f1));
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no such key: fwd\/none/);
    assert.match(await coapClient('-m', 'get', url(f2, '/kv/fwd/none')), /^4\.04 no such key$/);
    const del = await coapClient('-m', 'delete', url(f2, '/kv/fwd/a'));
    assert.match(del, /^\{"revision":\d+,"deleted":true,"storeRevision":\d+\}$/);
  });

  it('deletes with kv del --expect only at that revision', async function () {
    const [f1] = followers;
    assert.ok(f1 !== undefined);
    const at = ['--endpoint', endpointOf(cluster, f1)];
    const put = await coraft('kv', 'put', 'cond/a', 'x', '--json', ...at);
    assert.equal(put.code, 0, put.stderr);
    const { revision } = JSON.parse(put.stdout) as { revision: number };
    const stale = await coraft('kv', 'del', 'cond/a', '--expect', String(revision + 1000), ...at);
    assert.equal(stale.code, 1, stale.stderr);
    assert.match(stale.stderr, /4\.12/);
    assert.equal((await coraft('kv', 'get', 'cond/a', ...at)).stdout, 'x\n', 'kept');
    const del = await coraft('kv', 'del', 'cond/a', '--expect', String(revision), ...at);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout, 'deleted cond/a\n');
  });

  it('applies a retried (client, seq) write once', async function () {
    const [f1, f2] = followers;
    assert.ok(f1 !== undefined && f2 !== undefined);
    const first = await coapClient('-m', 'put', '-e', 'one', url(f1, '/kv/once?client=c1&seq=1'));
    const revision = Number(/^\{"revision":(\d+),"storeRevision":\d+\}$/.exec(first)?.[1]);
    assert.ok(revision > 0, first);
    // The retry, through another node and with another payload, answers what the first did and changes nothing.
    assert.equal(await coapClient('-m', 'put', '-e', 'one-again', url(f2, '/kv/once?client=c1&seq=1')), first);
    const retryCli = await coraft(
      'kv',
      'put',
      'once',
      'one-cli',
      '--client',
      'c1',
      '--seq',
      '1',
      '--json',
      '--endpoint',
      endpointOf(cluster, leader),
    );
    assert.equal(retryCli.code, 0, retryCli.stderr);
    assert.deepEqual(JSON.parse(retryCli.stdout), { key: 'once', revision });
    const read = await coraft('kv', 'get', 'once', '--json', '--endpoint', endpointOf(cluster, f2));
    assert.deepEqual(JSON.parse(read.stdout), { key: 'once', found: true, value: 'one', revision });
    // The next sequence number is a new write.
    const second = await coraft(
      'kv',
      'put',
      'once',
      'two',
      '--client',
      'c1',
      '--seq',
      '2',
      '--json',
      '--endpoint',
      endpointOf(cluster, f1),
    );
    assert.equal(second.code, 0, second.stderr);
    const next = (JSON.parse(second.stdout) as { revision: number }).revision;
    assert.ok(next > revision);
    // An old sequence number after a newer one does not write again either.
    await coapClient('-m', 'put', '-e', 'late', url(f1, '/kv/once?client=c1&seq=1'));
    const after = await coraft('kv', 'get', 'once', '--json', '--endpoint', endpointOf(cluster, f1));
    assert.deepEqual(JSON.parse(after.stdout), { key: 'once', found: true, value: 'two', revision: next });
    // Half a session is refused.
    assert.match(
      await coapClient('-m', 'put', '-e', 'x', url(f1, '/kv/once?client=c1')),
      /^4\.00 client and seq go together/,
    );
  });

  it('sends Observe notifications on /kv/{key} and /status', async function () {
    const [f1, f2] = followers;
    assert.ok(f1 !== undefined && f2 !== undefined);
    assert.equal((await coraft('kv', 'put', 'watched', '<v0>', '--endpoint', endpointOf(cluster, leader))).code, 0);
    const onKey = watchCoapClient('-s', '30', '-B', '30', '-m', 'get', url(f1, '/kv/watched'));
    const onStatus = watchCoapClient('-s', '30', '-B', '30', '-m', 'get', url(f2, '/status'));
    try {
      await waitFor('the first answer to the observer of /kv/watched', () => onKey.output().includes('<v0>'));
      await waitFor('the first answer to the observer of /status', () => onStatus.output().includes('"nodeId"'));
      const statusDocs = (): { commitIndex: number }[] =>
        onStatus
          .output()
          .split(/(?=\{"nodeId")/)
          .map((text) => JSON.parse(text) as { commitIndex: number });
      const commitBefore = statusDocs().at(-1)?.commitIndex ?? 0;
      for (const value of ['<v1>', '<v2>', '<v3>']) {
        const put = await coraft('kv', 'put', 'watched', value, '--endpoint', endpointOf(cluster, f2));
        assert.equal(put.code, 0, put.stderr);
      }
      await waitFor('notifications of every write', () => onKey.output().includes('<v3>'));
      assert.match(onKey.output(), /<v0>(<v\d>)*<v3>/);
      const statuses = await waitFor('a /status notification with a later commit index', () => {
        const docs = statusDocs();
        return docs.length > 1 && (docs.at(-1)?.commitIndex ?? 0) >= commitBefore + 3 ? docs : null;
      });
      const indexes = statuses.map((s) => s.commitIndex);
      assert.deepEqual(
        [...indexes].sort((a, b) => a - b),
        indexes,
        'notifications arrive in order',
      );
    } finally {
      onKey.stop();
      onStatus.stop();
    }
  });

  it('adds a fourth agent with `coraft members add` and removes it with `members remove`', async function () {
    const [f1] = followers;
    assert.ok(f1 !== undefined);
    assert.equal((await coraft('kv', 'put', 'before-join', 'old', '--endpoint', endpointOf(cluster, leader))).code, 0);
    // More entries than a snapshot leaves in the log (100 here), then a snapshot on the leader, so
    // that the new node must catch up by InstallSnapshot.
    const client = cluster.agent(leader).client;
    const bulk = Array.from({ length: 8 }, async (_, worker) => {
      for (let i = worker; i < 1100; i += 8)
        await client.call({
          method: 'PUT',
          path: ['kv', 'bulk', String(i % 50)],
          payload: new TextEncoder().encode(`b${i}`),
        });
    });
    await Promise.all(bulk);
    const admin = ['--admin-key', adminKeyFile(cluster.dir)];
    const snapshot = await coraft('snapshot', '--json', '--endpoint', endpointOf(cluster, leader), ...admin);
    assert.equal(snapshot.code, 0, snapshot.stderr);
    assert.ok((JSON.parse(snapshot.stdout) as { snapshotIndex: number }).snapshotIndex > 0);
    cluster.start('n4');
    const address = `127.0.0.1:${Number(endpointOf(cluster, 'n4').split(':')[1]) - 1}`;
    // Unsigned, the change is refused: by the CLI without a key, by the endpoint without a signature.
    const unsigned = await coraft('members', 'add', 'n4', address, '--endpoint', endpointOf(cluster, f1));
    assert.equal(unsigned.code, 2);
    assert.match(unsigned.stderr, /--admin-key FILE/);
    assert.match(
      await coapClient('-m', 'post', '-e', JSON.stringify({ id: 'n4', address }), url(f1, '/members')),
      /^4\.03 /,
    );
    const add = await coraft('members', 'add', 'n4', address, '--endpoint', endpointOf(cluster, f1), ...admin);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'added n4\n');
    assert.match(add.stderr, /adding n4 at 127\.0\.0\.1:\d+/);
    const list = await coraft('members', 'list', '--json', '--endpoint', endpointOf(cluster, 'n4'));
    assert.equal(list.code, 0, list.stderr);
    const members = (JSON.parse(list.stdout) as { members: { id: string; role: string }[] }).members;
    assert.deepEqual(members.map((m) => [m.id, m.role]).sort(), [
      ['n1', 'voter'],
      ['n2', 'voter'],
      ['n3', 'voter'],
      ['n4', 'voter'],
    ]);
    // The new node holds the data (from the snapshot) and serves writes through the leader.
    await waitFor(
      'n4 to hold the data written before it joined',
      async () => (await coapClient('-m', 'get', url('n4', '/kv/before-join?stale'))) === 'old',
    );
    assert.match(
      await coapClient('-m', 'put', '-e', 'via-n4', url('n4', '/kv/joined')),
      /^\{"revision":\d+,"storeRevision":\d+\}$/,
    );
    assert.equal(await coapClient('-m', 'get', url(leader, '/kv/joined')), 'via-n4');

    // Signed offline (--sign-only), sent later by someone without the admin key (admin submit).
    const signedFile = join(traceDir, 'remove-n4.signed');
    const signed = await coraft('members', 'remove', 'n4', '--sign-only', signedFile, ...admin);
    assert.equal(signed.code, 0, signed.stderr);
    const remove = await coraft('admin', 'submit', signedFile, '--endpoint', endpointOf(cluster, leader));
    assert.equal(remove.code, 0, remove.stderr);
    assert.equal(remove.stdout, 'done: remove-member applied\n');
    const again = await coraft('admin', 'submit', signedFile, '--endpoint', endpointOf(cluster, f1));
    assert.equal(again.code, 1, 'a signed command runs once');
    assert.match(again.stderr, /4\.03 .*replayed/);
    const table = await coraft('members', 'list', '--endpoint', endpointOf(cluster, f1));
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^MEMBER +ADDRESS +ROLE +MATCH\n/);
    assert.doesNotMatch(table.stdout, /\bn4\b/);
    assert.equal(await cluster.signal('n4', 'SIGTERM'), 0);
    // The three remaining voters still commit.
    assert.equal((await coraft('kv', 'put', 'after-remove', 'ok', '--endpoint', endpointOf(cluster, f1))).code, 0);
  });

  it('writes --trace files whose leader, apply, snapshot and config events agree across the nodes', async function () {
    // Stop every agent so that every trace is flushed and closed.
    for (const id of ['n1', 'n2', 'n3']) assert.equal(await cluster.signal(id, 'SIGTERM'), 0);
    const traces = new Map(['n1', 'n2', 'n3', 'n4'].map((id) => [id, readTrace(traceOf(id))]));
    const applied = new Map<number, { digest: string; term: number; node: string }>();
    for (const [id, events] of traces) {
      assert.ok(
        events.every((e) => e.node === id),
        `${id}'s trace holds only its own events`,
      );
      const applies = events.filter((e) => e.type === 'apply');
      assert.ok(applies.length > 0, `${id} traced applied entries`);
      for (let i = 1; i < applies.length; i += 1)
        assert.equal(
          applies[i]?.index,
          (applies[i - 1]?.index ?? 0) + 1,
          `${id} applies entries in order, without gaps`,
        );
      for (const e of applies) {
        assert.ok(e.index !== undefined && e.digest !== undefined && e.term !== undefined);
        const seen = applied.get(e.index);
        if (seen === undefined) applied.set(e.index, { digest: e.digest, term: e.term, node: id });
        else
          assert.deepEqual(
            [e.digest, e.term],
            [seen.digest, seen.term],
            `${id} and ${seen.node} applied different entries at index ${e.index}`,
          );
      }
    }
    const all = [...traces.values()].flat();
    const leaders = all.filter((e) => e.type === 'leader');
    assert.ok(
      leaders.some((e) => e.node === leader),
      'the leader traced its election',
    );
    assert.equal(new Set(leaders.map((e) => e.term)).size, leaders.length, 'one leader per term');
    assert.ok(
      all.some((e) => e.type === 'config' && e.voters?.includes('n4') === true),
      'adding n4 is traced',
    );
    assert.ok(
      all.some((e) => e.type === 'config' && e.voters !== undefined && !e.voters.includes('n4')),
      'removing n4 is traced',
    );
    assert.ok(
      traces.get('n4')?.some((e) => e.type === 'snapshot'),
      'n4 traced the snapshot it installed',
    );
  });
});
