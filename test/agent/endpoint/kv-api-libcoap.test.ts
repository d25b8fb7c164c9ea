// Proves, with libcoap's coap-client-notls over real UDP on loopback against a one-node cluster
// in this process, that `GET /kv?prefix=P&limit=N&after=K` lists a prefix in key order with the
// store revision, that a write's answer carries the same store revision, and that bad arguments
// are answered 4.00 (coap-client exits 0 on errors, so the test reads its output); and that
// `coraft kv list` (dist/, run through bin/coraft.js: build first) follows the pages to the end
// or to --limit; that `POST /txn` from coap-client runs a transaction (and answers a bad one
// 4.00), and `coraft txn --file F` prints the branch and results. Skipped when
// coap-client-notls is not installed. Also that `GET /watch?prefix=P&since=R` replays the
// changes after R to coap-client, and `coraft watch` prints them (--once) and then follows new
// changes, one line each.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CORAFT_BIN } from '../../../agent/cli/agent-processes.js';
import { coapClient, coraft, waitFor } from '../integration/helpers.js';
import { udpEndpointNode, type EndpointNode } from './harness.js';
import { coapClientInstalled } from '../../libcoap.js';

describe('local endpoint: listing and transactions with coap-client-notls', function () {
  this.timeout(60_000);
  let h: (EndpointNode & { readonly port: number }) | null = null;

  before(function () {
    if (!coapClientInstalled()) this.skip();
  });

  after(async () => {
    await h?.stop();
  });

  it('lists a prefix page by page', async () => {
    h = await udpEndpointNode();
    const base = `coap://127.0.0.1:${h.port}`;
    for (const key of ['svc/b', 'svc/a', 'svc/c', 'other'])
      await coapClient('-m', 'put', '-e', `value-of-${key}`, `${base}/kv/${key}`);
    const last = JSON.parse(await coapClient('-m', 'put', '-e', 'again', `${base}/kv/svc/a`)) as {
      revision: number;
      storeRevision: number;
    };
    assert.equal(last.storeRevision, last.revision);
    const first = JSON.parse(await coapClient('-m', 'get', `${base}/kv?prefix=svc/&limit=2`)) as unknown;
    assert.deepEqual(first, {
      revision: last.storeRevision,
      items: [
        { key: 'svc/a', value: 'again', revision: last.revision },
        { key: 'svc/b', value: 'value-of-svc/b', revision: last.revision - 4 },
      ],
      more: true,
    });
    const second = JSON.parse(await coapClient('-m', 'get', `${base}/kv?prefix=svc/&limit=2&after=svc/b`)) as {
      items: { key: string }[];
      more: boolean;
    };
    assert.deepEqual(
      second.items.map((i) => i.key),
      ['svc/c'],
    );
    assert.equal(second.more, false);
    assert.match(await coapClient('-m', 'get', `${base}/kv?limit=0`), /limit must be an integer from 1 to 1000/);
  });

  it('coraft kv list follows the pages', async () => {
    assert.ok(h !== null);
    const endpoint = `127.0.0.1:${h.port}`;
    for (let i = 0; i < 5; i += 1) await coapClient('-m', 'put', '-e', `n${i}`, `coap://${endpoint}/kv/cli/${i}`);
    const all = await coraft('kv', 'list', '--prefix', 'cli/', '--endpoint', endpoint, '--json');
    assert.equal(all.code, 0, all.stderr);
    const document = JSON.parse(all.stdout) as { items: { key: string; value: string }[]; more: boolean };
    assert.deepEqual(
      document.items.map((i) => `${i.key}=${i.value}`),
      ['cli/0=n0', 'cli/1=n1', 'cli/2=n2', 'cli/3=n3', 'cli/4=n4'],
    );
    assert.equal(document.more, false);
    const two = await coraft('kv', 'list', '--prefix', 'cli/', '--limit', '2', '--endpoint', endpoint);
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stdout, /^KEY +REVISION +VALUE\ncli\/0 +\d+ +n0\ncli\/1 +\d+ +n1\n$/);
  });

  it('runs a transaction from coap-client and from coraft txn', async () => {
    assert.ok(h !== null);
    const endpoint = `127.0.0.1:${h.port}`;
    const body = JSON.stringify({
      compare: [{ key: 'leader', absent: true }],
      success: [
        { op: 'put', key: 'leader', value: 'gw1' },
        { op: 'get', key: 'leader' },
      ],
    });
    const answer = JSON.parse(await coapClient('-m', 'post', '-t', '50', '-e', body, `coap://${endpoint}/txn`)) as {
      succeeded: boolean;
      revision: number;
      results: unknown[];
    };
    assert.equal(answer.succeeded, true);
    assert.deepEqual(answer.results, [
      { op: 'put', revision: answer.revision },
      { op: 'get', key: 'leader', found: true, value: 'gw1', revision: answer.revision },
    ]);
    const bad = await coapClient(
      '-m',
      'post',
      '-t',
      '50',
      '-e',
      '{"success":[{"op":"cas"}]}',
      `coap://${endpoint}/txn`,
    );
    assert.match(bad, /key must be a non-empty string/);
    const dir = mkdtempSync(join(tmpdir(), 'coraft-txn-'));
    const file = join(dir, 'txn.json');
    writeFileSync(file, body);
    const cli = await coraft('txn', '--file', file, '--endpoint', endpoint).finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^failure branch ran at revision \d+\n$/);
  });

  it('replays the changes after a revision to coap-client', async () => {
    assert.ok(h !== null);
    const base = `coap://127.0.0.1:${h.port}`;
    const first = JSON.parse(await coapClient('-m', 'put', '-e', 'one', `${base}/kv/feed/a`)) as { revision: number };
    await coapClient('-m', 'put', '-e', 'two', `${base}/kv/feed/b`);
    await coapClient('-m', 'delete', `${base}/kv/feed/a`);
    const replay = JSON.parse(await coapClient('-m', 'get', `${base}/watch?prefix=feed/&since=${first.revision}`)) as {
      events: unknown[];
    };
    assert.deepEqual(replay.events, [
      { type: 'put', key: 'feed/b', value: 'two', revision: first.revision + 1 },
      { type: 'delete', key: 'feed/a', revision: first.revision + 2 },
    ]);
  });

  it('coraft watch replays and follows', async () => {
    assert.ok(h !== null);
    const endpoint = `127.0.0.1:${h.port}`;
    const first = JSON.parse(await coapClient('-m', 'put', '-e', 'v1', `coap://${endpoint}/kv/cw/a`)) as {
      revision: number;
    };
    await coapClient('-m', 'delete', `coap://${endpoint}/kv/cw/a`);
    const once = await coraft(
      'watch',
      '--prefix',
      'cw/',
      '--since',
      String(first.revision - 1),
      '--once',
      '--endpoint',
      endpoint,
    );
    assert.equal(once.code, 0, once.stderr);
    assert.equal(
      once.stdout,
      `put cw/a = v1 (revision ${first.revision})\ndelete cw/a (revision ${first.revision + 1})\n`,
    );
    const child = spawn(process.execPath, [CORAFT_BIN, 'watch', 'cw/b', '--json', '--endpoint', endpoint]);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await coapClient('-m', 'put', '-e', 'followed', `coap://${endpoint}/kv/cw/b`);
      await coapClient('-m', 'put', '-e', 'other', `coap://${endpoint}/kv/cw/c`);
      await waitFor('the followed change', () => output.includes('followed'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const lines = output
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { key: string; value: string });
      assert.deepEqual(
        lines.map((l) => [l.key, l.value]),
        [['cw/b', 'followed']],
        'exactly once, that key only',
      );
    } finally {
      child.kill('SIGTERM');
    }
  });
});
