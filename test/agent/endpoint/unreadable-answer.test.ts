// Proves how the local endpoint answers when the node returns a result this version cannot read,
// as a member of an earlier version gets from a leader of a later one during a rolling upgrade
// (deploy/README.md, "Upgrading a running cluster"): a put result with a field it does not know.
// The request was not at fault, so the answer is 5.02 Bad Gateway, not 4.00, saying the answer
// could not be read and to upgrade this member; a write so answered says it may or may not have been
// applied, in the same words with or without its own `?client=&seq=` (a transaction and a lease
// keepalive too).
import { strict as assert } from 'node:assert';
import { Encoder } from 'cbor-x';
import type { Clock } from '../../../contracts/clock.js';
import { ImplicitSession } from '../../../agent/endpoint/write-session.js';
import { EndpointWrites, type WriteNode } from '../../../agent/endpoint/writes.js';
import { readAnswer, responseForError } from '../../../agent/endpoint/responses.js';
import type { KvCommand } from '../../../agent/kv/index.js';
import type { CoapRequest, CoapResponse } from '../../../transport/coap/index.js';
import { coapRequest } from './coap-request.js';
import { leaseResources } from '../../../agent/endpoint/lease-resource.js';
import type { NodeApi } from '../../../agent/runtime/node-api.js';

const raw = new Encoder({ mapsAsObjects: true, useRecords: false });
/** A put result as a later version might write it: one field more. */
const laterPut = raw.encode({ type: 'put', rev: 7, prev: null, later: true });

const clock: Clock = { nowMs: () => 0 };

const node: WriteNode = {
  getNodeId: () => 'n1',
  submitAnywhere: () => Promise.resolve(laterPut),
};

function put(query: string[]): [KvCommand, CoapRequest] {
  const command: KvCommand = {
    op: 'put',
    key: 'k',
    value: new TextEncoder().encode('v'),
    returnPrevious: false,
    session: null,
    timeMs: 0,
  };
  const request = coapRequest({ path: ['kv', 'k'], query, payload: command.value });
  return [command, request];
}

function text(response: CoapResponse): string {
  const { code, payload } = response;
  return `${code >> 5}.${String(code & 31).padStart(2, '0')} ${new TextDecoder().decode(payload)}`;
}

const unreadable = /^5\.02 the answer could not be read \(result: unexpected field 'later'\).*upgrade this member/;

describe('an answer of a later version that this endpoint cannot read', () => {
  it('answers a write 5.02, saying it may have been applied, with or without client and seq', async () => {
    const session = new ImplicitSession(
      { nodeId: 'n1', bootId: 'b', clock },
      { writesInFlightMax: 4, idleRotateMs: 1000 },
    );
    const writes = new EndpointWrites(node, session, { timeoutMs: 1000, oversize: () => null, clock });
    const explicit = put(['client=c', 'seq=1']);
    for (const [command, request] of [
      put([]),
      [{ ...explicit[0], session: { clientId: 'c', seq: 1 } }, explicit[1]],
    ] as const) {
      const outcome = await writes.submit(command, request);
      assert.equal(outcome.kind, 'response');
      if (outcome.kind !== 'response') return;
      assert.match(text(outcome.response), unreadable);
      assert.match(text(outcome.response), /; the write may or may not have been applied$/, request.query.join('&'));
    }
    const txn: KvCommand = {
      op: 'txn',
      compare: [],
      success: [],
      failure: [],
      session: { clientId: 'c', seq: 2 },
      timeMs: 0,
    };
    const answered = await writes.submit(
      txn,
      coapRequest({ method: 'POST', path: ['txn'], query: ['client=c', 'seq=2'] }),
    );
    assert.equal(answered.kind, 'response');
    if (answered.kind === 'response')
      assert.match(text(answered.response), /; the transaction may or may not have been applied$/);
    // A DELETE with If-Match is a transaction too, and a write to its client.
    const conditional = await writes.submit(txn, coapRequest({ method: 'DELETE', path: ['kv', 'k'] }));
    if (conditional.kind === 'response')
      assert.match(text(conditional.response), /; the write may or may not have been applied$/);
    else assert.fail('answered 5.02');
  });

  it('answers a lease keepalive 5.02, saying it may or may not have been applied', async () => {
    const later = raw.encode({ type: 'lease', id: 5, ttl: 10_000, later: true });
    const resources = leaseResources({
      node: { submitAnywhere: () => Promise.resolve(later) } as unknown as NodeApi,
      submit: () => Promise.reject(new Error('not a session write')),
      clock,
      remainingMs: () => null,
      timeoutMs: 1000,
    });
    const handler = new Map(resources).get('/lease/*')?.POST;
    assert.ok(handler !== undefined);
    const response = await handler(
      coapRequest({ method: 'POST', path: ['lease', '5', 'keepalive'], payload: new Uint8Array(0) }),
    );
    assert.match(text(response), /^5\.02 the answer could not be read \(.*upgrade this member/);
    assert.match(text(response), /; the keepalive of lease 5 may or may not have been applied$/);
  });

  it('answers a read 5.02', () => {
    assert.throws(() => readAnswer(laterPut), { name: 'UnreadableAnswerError' });
    try {
      readAnswer(laterPut);
    } catch (error) {
      assert.match(text(responseForError(error)), unreadable);
    }
  });
});
