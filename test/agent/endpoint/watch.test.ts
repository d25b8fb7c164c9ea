// Proves GET /watch (the replay a watch starts with) on the local endpoint, one-node cluster on
// virtual time: the changes after `since` to a prefix or to one key, in revision order, puts
// with their values and deletes, a transaction's changes at its one revision, a key that did
// not exist at `since`, each answer naming the range (since, revision] it covers; without since
// nothing is replayed; a since ahead of the store answers (since, since] with no events, its
// Store-Revision option the store's own revision, as every key-value answer; a compacted answer maps to 4.04 with
// the diagnostic `compacted: oldest revision N`; bad arguments are 4.00, the reserved prefix 4.03.
import { strict as assert } from 'node:assert';
import { STORE_REVISION_OPTION } from '../../../agent/endpoint/documents.js';
import { responseForKvError } from '../../../agent/endpoint/responses.js';
import { formatCode } from '../../../transport/coap/codes.js';
import { firstOption } from '../../../transport/coap/options.js';
import type { CoapClientResponse } from '../../../transport/coap/index.js';
import { callEndpoint as call, virtualEndpointNode, type VirtualEndpointNode } from './harness.js';

const text = (r: CoapClientResponse): string => Buffer.from(r.payload).toString('utf8');
const watch = (h: VirtualEndpointNode, ...query: string[]): Promise<CoapClientResponse> =>
  call(h, { method: 'GET', path: ['watch'], query });
const put = (h: VirtualEndpointNode, key: string, value: string): Promise<CoapClientResponse> =>
  call(h, { method: 'PUT', path: ['kv', ...key.split('/')], payload: Buffer.from(value) });

describe('local endpoint: GET /watch replay', function () {
  this.timeout(60_000);
  let h: VirtualEndpointNode;
  afterEach(async () => {
    await h.stop();
  });

  it('replays the changes after since, by prefix or by key', async () => {
    h = await virtualEndpointNode();
    const start = (JSON.parse(text(await put(h, 'w/a', 'one'))) as { revision: number }).revision;
    await put(h, 'other', 'x');
    await put(h, 'w/b', 'two');
    await call(h, { method: 'DELETE', path: ['kv', 'w', 'a'] });
    await call(h, {
      method: 'POST',
      path: ['txn'],
      contentFormat: 50,
      payload: Buffer.from(
        JSON.stringify({
          success: [
            { op: 'put', key: 'w/new', value: 'n' },
            { op: 'delete', key: 'w/b' },
          ],
        }),
      ),
    });
    const replay = await watch(h, 'prefix=w/', `since=${start}`);
    assert.equal(formatCode(replay.code), '2.05', text(replay));
    const r = start;
    assert.deepEqual(JSON.parse(text(replay)), {
      since: start,
      revision: r + 4,
      events: [
        { type: 'put', key: 'w/b', value: 'two', revision: r + 2 },
        { type: 'delete', key: 'w/a', revision: r + 3 },
        { type: 'put', key: 'w/new', value: 'n', revision: r + 4 },
        { type: 'delete', key: 'w/b', revision: r + 4 },
      ],
      more: false,
    });
    const missing = JSON.parse(text(await watch(h, 'key=w/new', `since=${start - 1}`))) as { events: unknown[] };
    assert.deepEqual(missing.events, [{ type: 'put', key: 'w/new', value: 'n', revision: r + 4 }]);
    const now = JSON.parse(text(await watch(h, 'prefix=w/'))) as { revision: number; events: unknown[] };
    assert.deepEqual(now, { since: r + 4, revision: r + 4, events: [], more: false });
    const ahead = await watch(h, 'prefix=w/', `since=${r + 1000}`);
    assert.deepEqual(JSON.parse(text(ahead)), { since: r + 1000, revision: r + 1000, events: [], more: false });
    const option = firstOption(ahead.options, STORE_REVISION_OPTION) ?? new Uint8Array(0);
    assert.equal(
      option.reduce((n, byte) => n * 256 + byte, 0),
      r + 4,
      'Store-Revision is the store revision, not the since asked for',
    );
  });

  it('refuses bad arguments and maps a compacted window to 4.04', async () => {
    h = await virtualEndpointNode();
    for (const [query, code] of [
      [['since=1'], '4.00'],
      [['prefix=a', 'key=b'], '4.00'],
      [['key='], '4.00'],
      [['prefix=a', 'since=-1'], '4.00'],
      [['prefix=.coraft/'], '4.03'],
    ] as const) {
      const response = await watch(h, ...query);
      assert.equal(formatCode(response.code), code, query.join('&'));
    }
    const compacted = responseForKvError({
      type: 'error',
      code: 'KV_COMPACTED',
      message: 'compacted: oldest revision 7',
    });
    assert.equal(formatCode(compacted.code), '4.04');
    assert.equal(Buffer.from(compacted.payload ?? []).toString(), 'compacted: oldest revision 7');
  });
});
