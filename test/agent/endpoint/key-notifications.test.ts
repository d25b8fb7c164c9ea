// Proves that the observers of a key hear of a batch of applied changes once, with the latest
// value (agent/endpoint/key-notifications.ts), on a one-node cluster with virtual time and raw
// CoAP clients on the in-memory network: the writes are applied with the endpoint deaf, and
// their entries then replayed into it in one synchronous loop, as the node applies a Ready's
// committed entries. A notification per entry made observers × entries messages at once (1,024
// observers of a key written 50 times in one batch took a 64 MiB heap to its limit); coalesced,
// each observer gets one notification a turn, and later batches still reach it.
import { strict as assert } from 'node:assert';
import type { LogEntry } from '../../../contracts/log.js';
import { virtualEndpointNode, type VirtualEndpointNode, type Wire } from './harness.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
const token = (n: number): Uint8Array => Uint8Array.from([n >> 8, n & 0xff, 0x0c]);

let nextMessageId = 1;

/** Writes `values` to `key` one after the other, the endpoint deaf to their entries, and returns the entries. */
async function writeUnheard(h: VirtualEndpointNode, key: string, values: readonly string[]): Promise<LogEntry[]> {
  const entries: LogEntry[] = [];
  const onApply = h.endpoint.onApply.bind(h.endpoint);
  h.endpoint.onApply = (entry: LogEntry): void => void entries.push(entry);
  for (const value of values) {
    const writer = h.wire();
    const messageId = nextMessageId++;
    await writer.send({
      method: 'PUT',
      path: `/kv/${key}`,
      messageId,
      token: token(messageId),
      payload: Buffer.from(value),
    });
    await h.run(300);
    await writer.socket.close();
  }
  h.endpoint.onApply = onApply;
  return entries;
}

describe('local endpoint: observers hear of a batch of changes once', function () {
  this.timeout(60_000);
  let h: VirtualEndpointNode;

  afterEach(async () => {
    await h.stop();
  });

  it('sends each observer one notification, of the latest value, for 50 entries applied at once', async () => {
    h = await virtualEndpointNode();
    await writeUnheard(h, 'k', ['v0']);
    const observers: { wire: Wire; token: Uint8Array }[] = [];
    for (let i = 0; i < 20; i++) {
      const wire = h.wire();
      const t = token(1000 + i);
      await wire.send({ path: '/kv/k', messageId: nextMessageId++, token: t, observe: 0 });
      observers.push({ wire, token: t });
    }
    await h.run(100);
    for (const o of observers) assert.equal(o.wire.withToken(o.token).length, 1, 'registered');
    const values = Array.from({ length: 50 }, (_, i) => `v${i + 1}`);
    const entries = await writeUnheard(h, 'k', values);
    assert.ok(entries.length >= 50, 'the writes were applied');
    for (const entry of entries) h.endpoint.onApply(entry);
    await h.run(100);
    for (const o of observers) {
      const heard = o.wire.withToken(o.token).slice(1);
      assert.deepEqual(
        heard.map((m) => text(m.payload)),
        ['v50'],
        'one notification, the latest value',
      );
    }
    // A later batch is heard too.
    for (const entry of await writeUnheard(h, 'k', ['v51'])) h.endpoint.onApply(entry);
    await h.run(100);
    for (const o of observers) assert.equal(text(o.wire.withToken(o.token).at(-1)?.payload ?? new Uint8Array()), 'v51');
  });
});
