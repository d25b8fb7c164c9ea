// Proves POST /txn on the local endpoint (one-node cluster, virtual time, our own CoAP client):
// - a transaction whose compares hold runs its success branch as one log entry and answers
//   {succeeded, revision, results}; one whose compares fail runs the failure branch;
// - a branch with a value over the limit answers 4.13 and changes nothing;
// - bad bodies are 4.00 naming the problem (a value that is not a string is told so, not that
//   it gave both value and valueBase64), another Content-Format 4.15, reserved keys 4.03, more
//   than TXN_OPS_MAX operations 4.00, a branch writing one key twice 4.00 (a put and a get of one
//   key, or one key in both branches, are fine); Accept 60 answers CBOR;
// - the transaction goes through the exactly-once write path: its log entry carries the
//   endpoint's session and a request id; with ?client=ID&seq=N it runs once in that client's
//   session however often it is sent, and another query argument is 4.00.
import { strict as assert } from 'node:assert';
import { Decoder } from 'cbor-x';
import type { LogEntry } from '../../../contracts/log.js';
import { decodeKvCommand } from '../../../agent/kv/encoding.js';
import { formatCode } from '../../../transport/coap/codes.js';
import type { CoapClientRequest, CoapClientResponse } from '../../../transport/coap/index.js';
import { callEndpoint as call, virtualEndpointNode, type VirtualEndpointNode } from './harness.js';

const text = (r: CoapClientResponse): string => Buffer.from(r.payload).toString('utf8');
const post = (h: VirtualEndpointNode, body: unknown, extra: Partial<CoapClientRequest> = {}) =>
  call(h, {
    method: 'POST',
    path: ['txn'],
    payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    contentFormat: 50,
    ...extra,
  });
const lastIndex = (h: VirtualEndpointNode): number => h.node.getStatus().lastLogIndex;

describe('local endpoint: POST /txn', function () {
  this.timeout(60_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  it('runs the branch the compares choose as one log entry', async () => {
    h = await virtualEndpointNode();
    const applied: LogEntry[] = [];
    const onApply = h.endpoint.onApply.bind(h.endpoint);
    h.endpoint.onApply = (entry: LogEntry): void => {
      applied.push(entry);
      onApply(entry);
    };
    const before = lastIndex(h);
    const created = await post(h, {
      compare: [{ key: 'lock', absent: true }],
      success: [
        { op: 'put', key: 'lock', value: 'me' },
        { op: 'put', key: 'bin', valueBase64: Buffer.from([0xff]).toString('base64') },
        { op: 'get', key: 'bin' },
      ],
      failure: [
        { op: 'get', key: 'lock' },
        { op: 'put', key: 'lock', value: 'taken' },
      ],
    });
    assert.equal(formatCode(created.code), '2.04', text(created));
    const index = before + 1;
    assert.equal(lastIndex(h), index, 'one log entry');
    assert.deepEqual(JSON.parse(text(created)), {
      succeeded: true,
      revision: index,
      results: [
        { op: 'put', revision: index },
        { op: 'put', revision: index },
        { op: 'get', key: 'bin', found: true, valueBase64: '/w==', revision: index },
      ],
    });
    const entry = applied.find((e) => e.index === index);
    const command = decodeKvCommand(entry?.command ?? new Uint8Array(0));
    assert.equal(command.op, 'txn');
    assert.ok(command.session !== null && command.requestId !== undefined, 'exactly-once identity');
    const taken = await post(h, {
      compare: [{ key: 'lock', absent: true }],
      success: [{ op: 'put', key: 'lock', value: 'you' }],
      failure: [
        { op: 'get', key: 'lock' },
        { op: 'delete', key: 'nothing' },
      ],
    });
    assert.deepEqual(JSON.parse(text(taken)), {
      succeeded: false,
      revision: index,
      results: [
        { op: 'get', key: 'lock', found: true, value: 'me', revision: index },
        { op: 'delete', deleted: false },
      ],
    });
    const cbor = await post(h, { compare: [{ key: 'lock', value: 'me' }] }, { accept: 60 });
    assert.equal(cbor.contentFormat, 60);
    assert.deepEqual(new Decoder({ mapsAsObjects: true, useRecords: false }).decode(cbor.payload), {
      succeeded: true,
      revision: index,
      results: [],
    });
  });

  it('runs a transaction of a client session once, and refuses unknown query arguments', async () => {
    h = await virtualEndpointNode();
    const puts = async (): Promise<number> => {
      const watch = await call(h, { method: 'GET', path: ['watch'], query: ['key=counter', 'since=0'] });
      return (JSON.parse(text(watch)) as { events: unknown[] }).events.length;
    };
    const body = { success: [{ op: 'put', key: 'counter', value: '1' }] };
    const first = await post(h, body, { query: ['client=app', 'seq=1'] });
    assert.equal(formatCode(first.code), '2.04', text(first));
    const retry = await post(h, body, { query: ['client=app', 'seq=1'] });
    assert.equal(formatCode(retry.code), '2.04', text(retry));
    assert.deepEqual(JSON.parse(text(retry)), JSON.parse(text(first)), 'the retry gets the first answer');
    assert.equal(await puts(), 1, 'applied once');
    assert.equal(formatCode((await post(h, body, { query: ['client=app', 'seq=2'] })).code), '2.04');
    const stale = await post(h, body, { query: ['client=app', 'seq=1'] });
    assert.equal(formatCode(stale.code), '4.09', text(stale));
    assert.equal(await puts(), 2, 'seq 2 ran, the stale seq 1 did not');
    const index = lastIndex(h);
    for (const [query, pattern] of [
      [['seq=3'], /client and seq go together/],
      [['client=app', 'seq=3', 'lease=5'], /unknown query argument 'lease'; expected client, seq/],
    ] as const) {
      const refused = await post(h, body, { query: [...query] });
      assert.equal(formatCode(refused.code), '4.00', text(refused));
      assert.match(text(refused), pattern);
    }
    assert.equal(lastIndex(h), index, 'nothing was proposed');
  });

  it('changes nothing when one operation is over a limit', async () => {
    h = await virtualEndpointNode();
    const response = await post(h, {
      success: [
        { op: 'put', key: 'a', value: 'small' },
        { op: 'put', key: 'b', value: 'x'.repeat(64 * 1024 + 1) },
      ],
    });
    assert.equal(formatCode(response.code), '4.13', text(response));
    const read = await call(h, { method: 'GET', path: ['kv', 'a'] });
    assert.equal(formatCode(read.code), '4.04', 'the first put was undone');
  });

  it('refuses bad requests with a diagnostic', async () => {
    h = await virtualEndpointNode();
    const before = lastIndex(h);
    const many = Array.from({ length: 65 }, () => ({ op: 'get', key: 'k' }));
    for (const [body, code, pattern] of [
      ['{not json', '4.00', /not well-formed JSON/],
      [{ compare: [{ key: 'k', revision: 1, absent: true }] }, '4.00', /compare\[0\]: give key and one of/],
      [{ success: [{ op: 'cas', key: 'k' }] }, '4.00', /success\[0\]: op must be put/],
      [
        { failure: [{ op: 'delete', key: 'k', value: 'v' }] },
        '4.00',
        /failure\[0\]: a delete takes only op and key, not value/,
      ],
      [
        { success: [{ op: 'get', key: 'k', lease: 5 }] },
        '4.00',
        /success\[0\]: a get takes only op and key, not lease/,
      ],
      [{ success: [{ op: 'put', key: 'k', value: 'v', lease: 'x' }] }, '4.00', /lease must be a lease id/],
      [{ success: [{ op: 'put', key: 'k', valueBase64: '***' }] }, '4.00', /valueBase64 must be a base64 string/],
      [{ success: [{ op: 'put', key: 'k', value: 5 }] }, '4.00', /success\[0\]: value must be a string, got a number/],
      [{ compare: [{ key: 'k', value: null }] }, '4.00', /compare\[0\]: value must be a string, got null/],
      [{ success: [{ op: 'put', key: 'k', value: 'v', valueBase64: 'dg==' }] }, '4.00', /not both/],
      [{ success: [{ op: 'put', key: 'k' }] }, '4.00', /give value \(a string\) or valueBase64 \(base64\)$/],
      [{ success: many }, '4.00', /success has 65 items; at most 64/],
      [{ extra: [] }, '4.00', /unexpected field 'extra'/],
      [{ success: [{ op: 'get', key: '.coraft/trust' }] }, '4.03', /reserved/],
      [
        {
          success: [
            { op: 'put', key: 'k', value: 'a' },
            { op: 'get', key: 'k' },
            { op: 'put', key: 'k', value: 'b' },
          ],
        },
        '4.00',
        /the success branch writes key "k" twice/,
      ],
      [
        {
          failure: [
            { op: 'delete', key: 'k' },
            { op: 'put', key: 'k', value: 'b' },
          ],
        },
        '4.00',
        /the failure branch writes key "k" twice/,
      ],
    ] as const) {
      const response = await post(h, body);
      assert.equal(formatCode(response.code), code, JSON.stringify(body).slice(0, 60));
      assert.match(text(response), pattern);
    }
    const xml = await post(h, '<txn/>', { contentFormat: 41 });
    assert.equal(formatCode(xml.code), '4.15');
    assert.equal(lastIndex(h), before, 'nothing was proposed');
  });
});
