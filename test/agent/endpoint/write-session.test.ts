// Proves the identity the local endpoint gives writes (agent/endpoint/write-session.ts) and how
// its write path answers (agent/endpoint/writes.ts), with a hand-written fake node:
// - the implicit session: sequences 1, 2, 3, ...; the watermark is the oldest unfinished one;
//   writes in flight are bounded by their span; writes past it wait their turn in a bounded queue,
//   first come first served (a flood past the queue is refused at once, and a write whose turn does
//   not come within the request timeout is refused, both with nothing submitted);
//   a long idle time or a forgotten session starts a new session id at sequence 1;
// - request ids: equal for a retransmission (same peer, token, message id, request), different
//   when any of them differs; and equal to the field-by-field hash they were first defined as
//   (length-prefixed fields), over many generated requests, so ids stay the same across versions
//   (a retransmission that reaches an upgraded node is still recognised);
// - answers: a write whose outcome is unknown is 5.03/5.04 saying it may or may not have been
//   applied, one refused before it was proposed or forwarded (RAFT_BUSY) 5.03 saying nothing was
//   applied; KV_SESSION_EXPIRED starts a new session; every submitted command carries the
//   session, the watermark and the request id, and the forwarding may retry it;
//   commandBytesMax counts the identity the endpoint adds, and a write over it is not submitted;
//   a failed assertion (a bug) is thrown on, never answered as a write of unknown outcome;
// - property: the session's window of unfinished sequences (a ring of flags) holds exactly what a
//   Set of them holds, with the Set's oldest as its oldest, whatever is finished in which order
//   (finishing twice, a sequence never handed out or one before the window included).
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { fcParams } from '../../fc-params.js';
import type { Clock } from '../../../contracts/clock.js';
import { ImplicitSession, SequenceWindow, requestIdOf, sha256With } from '../../../agent/endpoint/write-session.js';
import { EndpointWrites } from '../../../agent/endpoint/writes.js';
import type { WriteNode } from '../../../agent/endpoint/writes.js';
import { InvariantError, NotLeaderError, ProposalError, TimeoutError } from '../../../contracts/errors.js';
import { decodeKvCommand, encodeKvResult } from '../../../agent/kv/index.js';
import type { KvCommand, KvResult } from '../../../agent/kv/index.js';
import type { CoapRequest } from '../../../transport/coap/index.js';
import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { SeededPrng } from '../../../contracts/prng.js';
import { coapRequest as request } from './coap-request.js';

/** The request id as first defined: SHA-256 over length-prefixed fields, one at a time, first 16 bytes. */
function referenceRequestId(nodeId: string, request: CoapRequest): Uint8Array {
  const hash = createHash('sha256');
  const field = (bytes: Uint8Array | string): void => {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.byteLength);
    hash.update(length).update(data);
  };
  field('coraft-endpoint-request/1');
  field(nodeId);
  field(request.peer.address);
  field(String(request.peer.port));
  field(request.peer.identity ?? '');
  field(request.token);
  field(String(request.messageId));
  field(request.method);
  field(request.path.join('/'));
  field(request.query.join('&'));
  for (const etag of request.ifMatch) field(etag);
  field(request.ifNoneMatch ? '1' : '0');
  field(request.payload);
  return new Uint8Array(hash.digest().subarray(0, 16));
}

class FakeClock implements Clock {
  now = 0;
  nowMs(): number {
    return this.now;
  }
}

/** A node that records what it was asked to submit and answers from a script. */
class FakeNode implements WriteNode {
  readonly submitted: { command: KvCommand; retryUnknown: boolean }[] = [];
  answer: () => Promise<KvResult> = () => Promise.resolve({ type: 'put', revision: 1, previous: null, created: true });

  getNodeId(): string {
    return 'n1';
  }

  async submitAnywhere(command: Uint8Array, _timeoutMs: number, retryUnknown = false): Promise<Uint8Array> {
    this.submitted.push({ command: decodeKvCommand(command), retryUnknown });
    return encodeKvResult(await this.answer());
  }
}

const PUT: KvCommand = {
  op: 'put',
  key: 'k',
  value: new TextEncoder().encode('v'),
  returnPrevious: false,
  session: null,
  timeMs: 0,
};

/**
 * An endpoint's writes on `writesInFlightMax` slots (1 s request timeout) over a node that holds every answer
 * until its release in `waiting` is called.
 */
function heldWrites(writesInFlightMax: number): {
  node: FakeNode;
  waiting: (() => void)[];
  clock: FakeClock;
  writes: EndpointWrites;
} {
  const node = new FakeNode();
  const waiting: (() => void)[] = [];
  node.answer = () =>
    new Promise((resolve) => waiting.push(() => resolve({ type: 'put', revision: 1, previous: null, created: true })));
  const clock = new FakeClock();
  const session = new ImplicitSession(
    { nodeId: 'n1', bootId: 'b', clock },
    { writesInFlightMax, idleRotateMs: 10_000 },
  );
  return {
    node,
    waiting,
    clock,
    writes: new EndpointWrites(node, session, { timeoutMs: 1000, oversize: () => null, clock }),
  };
}

function diagnostic(outcome: Awaited<ReturnType<EndpointWrites['submit']>>): string {
  assert.equal(outcome.kind, 'response');
  if (outcome.kind !== 'response') return '';
  const { code, payload } = outcome.response;
  return `${(code >> 5).toString()}.${(code & 31).toString().padStart(2, '0')} ${new TextDecoder().decode(payload)}`;
}

describe('the endpoint write session', () => {
  it('numbers writes and sends the oldest unfinished one as the watermark', () => {
    const session = new ImplicitSession(
      { nodeId: 'n1', bootId: 'b00t', clock: new FakeClock() },
      { writesInFlightMax: 10, idleRotateMs: 1000 },
    );
    const [a, b, c] = [session.begin(), session.begin(), session.begin()];
    assert.ok(a !== null && b !== null && c !== null);
    assert.deepEqual(
      [a.session, b.session, c.session],
      [
        { clientId: '@n1/b00t.0', seq: 1, ackedBelow: 1 },
        { clientId: '@n1/b00t.0', seq: 2, ackedBelow: 1 },
        { clientId: '@n1/b00t.0', seq: 3, ackedBelow: 1 },
      ],
    );
    session.finish(b);
    assert.equal(session.begin()?.session.ackedBelow, 1, 'sequence 1 is still in flight');
    session.finish(a);
    assert.equal(session.begin()?.session.ackedBelow, 3, 'everything below 3 is finished');
  });

  it('bounds the writes in flight: a flood is refused, not queued', () => {
    const session = new ImplicitSession(
      { nodeId: 'n1', bootId: 'b', clock: new FakeClock() },
      { writesInFlightMax: 3, idleRotateMs: 1000 },
    );
    const tickets = [session.begin(), session.begin(), session.begin()];
    assert.equal(session.begin(), null, 'a fourth write would make 4 in flight');
    assert.equal(session.inFlightCount, 3);
    const [first] = tickets;
    assert.ok(first !== null && first !== undefined);
    session.finish(first);
    assert.deepEqual(session.begin()?.session, { clientId: '@n1/b.0', seq: 4, ackedBelow: 2 });
  });

  it('lets the others go on in a new session past a slow write, which finishes in its own', () => {
    // The property: whatever the order writes finish in, no session spans more than writesInFlightMax sequences
    // (the state machine keeps that many responses per session), and a write is refused only while
    // writesInFlightMax writes are unfinished.
    const session = new ImplicitSession(
      { nodeId: 'n1', bootId: 'b', clock: new FakeClock() },
      { writesInFlightMax: 3, idleRotateMs: 1000 },
    );
    const stuck = session.begin();
    assert.ok(stuck !== null);
    for (let i = 0; i < 10; i += 1) {
      const ticket = session.begin();
      assert.ok(ticket !== null, `write ${i} is refused with only the stuck one in flight`);
      assert.ok(ticket.session.seq - ticket.session.ackedBelow + 1 <= 3, JSON.stringify(ticket.session));
      session.finish(ticket);
    }
    assert.equal(session.clientId, '@n1/b.1', 'the writes after the slow one moved to a new session');
    assert.equal(session.inFlightCount, 1, 'the slow write is still counted');
    const [a, b] = [session.begin(), session.begin()];
    assert.ok(a !== null && b !== null);
    assert.equal(session.begin(), null, 'three in flight over both sessions: the bound holds across sessions');
    session.finish(stuck);
    session.finish(stuck);
    assert.equal(session.inFlightCount, 2, 'the slow write finished in its own session, once');
    assert.ok(session.begin() !== null);
  });

  it('starts a new session after a long idle time (not while a write is in flight) or once forgotten', () => {
    const clock = new FakeClock();
    const session = new ImplicitSession(
      { nodeId: 'n1', bootId: 'b', clock },
      { writesInFlightMax: 3, idleRotateMs: 1000 },
    );
    const first = session.begin();
    assert.ok(first !== null);
    session.finish(first);
    clock.now = 999;
    const busy = session.begin();
    assert.equal(busy?.session.clientId, '@n1/b.0', 'not idle long enough');
    clock.now = 5000;
    assert.deepEqual(
      session.begin()?.session,
      { clientId: '@n1/b.0', seq: 3, ackedBelow: 2 },
      'no new session while a write is in flight',
    );
    const renewed = new ImplicitSession(
      { nodeId: 'n1', bootId: 'b', clock },
      { writesInFlightMax: 3, idleRotateMs: 1000 },
    );
    const done = renewed.begin();
    assert.ok(done !== null);
    renewed.finish(done);
    clock.now = 6000;
    assert.deepEqual(
      renewed.begin()?.session,
      { clientId: '@n1/b.1', seq: 1, ackedBelow: 1 },
      'idle for 1000 ms: a new session',
    );
    const forgotten = new ImplicitSession(
      { nodeId: 'n1', bootId: 'b', clock },
      { writesInFlightMax: 3, idleRotateMs: 1000 },
    );
    const lost = forgotten.begin();
    assert.ok(lost !== null);
    forgotten.forgotten(lost);
    forgotten.finish(lost);
    assert.deepEqual(forgotten.begin()?.session, { clientId: '@n1/b.1', seq: 1, ackedBelow: 1 });
  });

  it('gives a retransmission the same request id and any other request another', () => {
    const base = requestIdOf('n1', request());
    assert.equal(base.byteLength, 16);
    assert.deepEqual(requestIdOf('n1', request()), base);
    const variants: Partial<CoapRequest>[] = [
      { messageId: 78 },
      { token: new Uint8Array([1, 2, 3, 5]) },
      { peer: { address: '127.0.0.1', port: 40001, identity: null } },
      { payload: new TextEncoder().encode('w') },
      { path: ['k2'] },
      { method: 'DELETE' },
      { ifNoneMatch: true },
    ];
    for (const variant of variants)
      assert.notDeepEqual(requestIdOf('n1', request(variant)), base, JSON.stringify(Object.keys(variant)));
    assert.notDeepEqual(requestIdOf('n2', request()), base);
  });

  it('computes the same request id as the field-by-field definition, for any request', () => {
    const prng = new SeededPrng(16);
    const bytes = (max: number): Uint8Array =>
      Uint8Array.from({ length: prng.nextUint32() % (max + 1) }, () => prng.nextUint32() & 0xff);
    const word = (): string => ['', 'k', 'ключ', '日本', 'a/b', '@x', 'z'.repeat(300)][prng.nextUint32() % 7] ?? '';
    for (let i = 0; i < 500; i += 1) {
      const variant: Partial<CoapRequest> = {
        messageId: prng.nextUint32() & 0xffff,
        token: bytes(8),
        peer: {
          address: i % 2 === 0 ? '127.0.0.1' : '::1',
          port: prng.nextUint32() & 0xffff,
          identity: i % 3 === 0 ? null : word(),
        },
        payload: bytes(i % 50 === 0 ? 70_000 : 600),
        path: ['kv', word(), word()],
        query: i % 4 === 0 ? [] : [`client=${word()}`, `seq=${i}`],
        method: i % 5 === 0 ? 'DELETE' : 'PUT',
        ifMatch: Array.from({ length: i % 3 }, () => bytes(8)),
        ifNoneMatch: i % 7 === 0,
      };
      const nodeId = word();
      assert.deepEqual(
        requestIdOf(nodeId, request(variant)),
        referenceRequestId(nodeId, request(variant)),
        `case ${i}`,
      );
    }
  });
});

describe('the window of unfinished sequences', () => {
  it('holds what a Set of the unfinished sequences holds (property)', () => {
    const op = fc.oneof(fc.constant(null), fc.integer({ min: -2, max: 40 }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 200 }), (span, ops) => {
        const window = new SequenceWindow(span);
        const model = new Set<number>();
        let next = 1;
        for (const o of ops) {
          const oldest = Math.min(next, ...model);
          if (o === null) {
            if (next - oldest >= span) continue;
            assert.equal(window.add(), next);
            model.add(next);
            next += 1;
          } else {
            const seq = Math.max(1, next - 1 - o);
            assert.equal(window.delete(seq), model.delete(seq), `finish ${seq}`);
          }
          assert.deepEqual([window.size, window.next, window.oldest], [model.size, next, Math.min(next, ...model)]);
        }
        return true;
      }),
      fcParams(300, 'sequence window'),
    );
  });
});

describe('the request id digest', () => {
  it("is SHA-256 with or without Node's one-call hash (Node 20.11, the armv7 build, has none)", () => {
    const input = Buffer.from(new Uint8Array(5000).map((_, i) => (i * 7) & 0xff));
    const expected = createHash('sha256').update(input).digest();
    assert.deepEqual(sha256With(undefined)(input), expected);
    if (typeof nodeCrypto.hash === 'function') assert.deepEqual(sha256With(nodeCrypto.hash)(input), expected);
  });
});

describe('the endpoint write path', () => {
  it('lets a failed assertion (a bug) through instead of answering it as an unknown outcome', async () => {
    const node = new FakeNode();
    const session = new ImplicitSession(
      { nodeId: 'n1', bootId: 'b', clock: new FakeClock() },
      { writesInFlightMax: 8, idleRotateMs: 1000 },
    );
    const writes = new EndpointWrites(node, session, { timeoutMs: 1000, oversize: () => null, clock: new FakeClock() });
    node.answer = () => Promise.reject(new InvariantError('applied <= committed'));
    await assert.rejects(writes.submit(PUT, request()), InvariantError);
    assert.equal(session.inFlightCount, 0, 'the write is finished all the same');
    await assert.rejects(writes.submit({ ...PUT, session: { clientId: 'c', seq: 1 } }, request()), InvariantError);
  });

  it('submits every write with its session, watermark and request id, retryable', async () => {
    const node = new FakeNode();
    const writes = new EndpointWrites(
      node,
      new ImplicitSession(
        { nodeId: 'n1', bootId: 'b', clock: new FakeClock() },
        { writesInFlightMax: 8, idleRotateMs: 1000 },
      ),
      { timeoutMs: 1000, oversize: () => null, clock: new FakeClock() },
    );
    const outcome = await writes.submit(PUT, request());
    assert.deepEqual(outcome, { kind: 'result', result: { type: 'put', revision: 1, previous: null, created: true } });
    const sent = node.submitted[0];
    assert.ok(sent !== undefined);
    assert.deepEqual(sent.command.session, { clientId: '@n1/b.0', seq: 1, ackedBelow: 1 });
    assert.deepEqual(sent.command.requestId, requestIdOf('n1', request()));
    assert.equal(sent.retryUnknown, true);
    await writes.submit(PUT, request({ messageId: 78 }));
    assert.deepEqual(
      node.submitted[1]?.command.session,
      { clientId: '@n1/b.0', seq: 2, ackedBelow: 2 },
      'the first write is finished',
    );
  });

  it('answers a write of unknown outcome with 5.03/5.04 saying it may or may not have been applied', async () => {
    const node = new FakeNode();
    const writes = new EndpointWrites(
      node,
      new ImplicitSession(
        { nodeId: 'n1', bootId: 'b', clock: new FakeClock() },
        { writesInFlightMax: 8, idleRotateMs: 1000 },
      ),
      { timeoutMs: 1000, oversize: () => null, clock: new FakeClock() },
    );
    node.answer = () => Promise.reject(new TimeoutError('command at index 9 not applied within 1000 ms'));
    assert.match(diagnostic(await writes.submit(PUT, request())), /^5\.04 .*may or may not have been applied/);
    node.answer = () => Promise.reject(new NotLeaderError(null, 'no leader is known'));
    assert.match(diagnostic(await writes.submit(PUT, request())), /^5\.03 .*may or may not have been applied/);
    // RAFT_BUSY is a refusal before the write was proposed or forwarded: known not to have run.
    node.answer = () => Promise.reject(new ProposalError('RAFT_BUSY', 'not forwarded to n2: 128 outstanding'));
    assert.match(diagnostic(await writes.submit(PUT, request())), /^5\.03 not forwarded .*; nothing was applied$/);
    node.answer = () => Promise.resolve({ type: 'error', code: 'KV_STALE_SEQUENCE', message: 'below the floor' });
    assert.match(diagnostic(await writes.submit(PUT, request())), /^5\.03 the write may or may not have been applied/);
    const txn: KvCommand = { op: 'txn', compare: [], success: [], failure: [], session: null, timeMs: 0 };
    assert.match(diagnostic(await writes.submit(txn, request())), /^5\.03 the transaction may or may not/);
    node.answer = () => Promise.resolve({ type: 'error', code: 'KV_VALUE_TOO_LARGE', message: 'too big' });
    assert.deepEqual(
      await writes.submit(PUT, request()),
      { kind: 'result', result: { type: 'error', code: 'KV_VALUE_TOO_LARGE', message: 'too big' } },
      'a refusal is definite',
    );
  });

  it('starts a new session when the state machine forgot the current one', async () => {
    const node = new FakeNode();
    const writes = new EndpointWrites(
      node,
      new ImplicitSession(
        { nodeId: 'n1', bootId: 'b', clock: new FakeClock() },
        { writesInFlightMax: 8, idleRotateMs: 1000 },
      ),
      { timeoutMs: 1000, oversize: () => null, clock: new FakeClock() },
    );
    node.answer = () => Promise.resolve({ type: 'error', code: 'KV_SESSION_EXPIRED', message: 'no session' });
    assert.match(diagnostic(await writes.submit(PUT, request())), /^5\.03 the write may or may not have been applied/);
    node.answer = () => Promise.resolve({ type: 'put', revision: 4, previous: null, created: false });
    await writes.submit(PUT, request());
    assert.deepEqual(node.submitted[1]?.command.session, { clientId: '@n1/b.1', seq: 1, ackedBelow: 1 });
  });

  it('queues writes past writesInFlightMax in arrival order, and refuses a flood past the queue at once', async () => {
    const { node, waiting, writes } = heldWrites(2);
    // 2 slots, and 8 waiting writes per slot: 18 writes are taken, the 19th is refused at once.
    const taken = Array.from({ length: 18 }, (_, i) => writes.submit(PUT, request({ messageId: i + 1 })));
    assert.match(diagnostic(await writes.submit(PUT, request({ messageId: 19 }))), /^5\.03 too many writes in flight/);
    await Promise.resolve();
    assert.equal(node.submitted.length, 2, 'only the writes with a slot are submitted');
    for (let answered = 0; answered < 18; answered += 1) {
      waiting.shift()?.();
      for (let turn = 0; turn < 8; turn += 1) await Promise.resolve();
    }
    const outcomes = await Promise.all(taken);
    assert.deepEqual(
      outcomes.map((o) => o.kind),
      Array.from({ length: 18 }, () => 'result'),
    );
    assert.deepEqual(
      node.submitted.map((s) => s.command.session?.seq),
      Array.from({ length: 18 }, (_, i) => i + 1),
      'the waiting writes were submitted in the order they came',
    );
  });

  it('refuses a waiting write whose slot is not free within the request timeout, submitting nothing', async () => {
    const { node, waiting, clock, writes } = heldWrites(1);
    const first = writes.submit(PUT, request({ messageId: 1 }));
    const late = writes.submit(PUT, request({ messageId: 2 }));
    clock.now = 1500;
    const next = writes.submit(PUT, request({ messageId: 3 }));
    waiting.shift()?.();
    assert.equal((await first).kind, 'result');
    assert.match(diagnostic(await late), /^5\.03 no write slot came free at this endpoint within the request timeout/);
    for (let turn = 0; turn < 8; turn += 1) await Promise.resolve();
    waiting.shift()?.();
    assert.equal((await next).kind, 'result', 'the slot went to the next write in time');
    assert.equal(node.submitted.length, 2);
  });

  it('measures a write against commandBytesMax with its identity, and submits nothing when too large', async () => {
    const node = new FakeNode();
    const seen: number[] = [];
    const tooLarge = { code: 0x8d, payload: new TextEncoder().encode('too large') };
    const oversize = (bytes: number): typeof tooLarge | null => {
      seen.push(bytes);
      return bytes > 60 ? tooLarge : null;
    };
    const writes = new EndpointWrites(
      node,
      new ImplicitSession(
        { nodeId: 'n1', bootId: 'b', clock: new FakeClock() },
        { writesInFlightMax: 8, idleRotateMs: 1000 },
      ),
      { timeoutMs: 1000, oversize, clock: new FakeClock() },
    );
    assert.deepEqual(await writes.submit(PUT, request()), { kind: 'response', response: tooLarge });
    assert.equal(node.submitted.length, 0);
    const plain = new EndpointWrites(
      node,
      new ImplicitSession(
        { nodeId: 'n1', bootId: 'b', clock: new FakeClock() },
        { writesInFlightMax: 8, idleRotateMs: 1000 },
      ),
      { timeoutMs: 1000, oversize: () => null, clock: new FakeClock() },
    );
    await plain.submit(PUT, request());
    assert.ok((seen[0] ?? 0) > 60, `the identity is counted (${String(seen[0])} bytes)`);
  });
});
