// Proves the server's duplicate cache on a fake clock: it never holds more than entriesMax
// requests (evicting the oldest and counting it), forgets requests after their lifetime,
// keeps a replaced entry (same message id, new token) apart from the stale one it replaced,
// and answers only the request it recorded (tokens told apart by every byte and by length, a
// token with a trailing zero byte from the one without). Its responses are copies that own exactly their
// bytes (a view of Node's Buffer pool would keep a whole 8 KiB slab alive per answer), their
// bytes stay within bytesMax by evicting the oldest requests, and a response larger than the
// whole bound is not kept.
// Property: after any sequence of checks, answers and clock steps over a few peers, message ids
// and tokens, under any limits, the cache (a ring of slots found through a hash index) answers,
// counts, evicts and holds bytes exactly as a reference model of Maps and a list in insertion
// order, and its index, counts and bytes agree with its ring (checkInvariants).
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { DuplicateCache, type DuplicateCacheOptions } from '../../../transport/coap/duplicate-cache.js';
import { fcParams } from '../../fc-params.js';

function clock() {
  let now = 0;
  return { nowMs: () => now, advance: (ms: number) => void (now += ms) };
}

const token = (n: number) => Uint8Array.from([n]);

describe('DuplicateCache', () => {
  it('stays within entriesMax, evicting the oldest', () => {
    const c = new DuplicateCache({ entriesMax: 3, lifetimeMs: 1000, bytesMax: 1024 }, clock());
    for (let id = 0; id < 10; id += 1) assert.equal(c.check('p', id, token(id)).kind, 'new');
    assert.equal(c.size, 3);
    assert.equal(c.evictions, 7);
    assert.equal(c.check('p', 9, token(9)).kind, 'in-progress');
    assert.equal(c.check('p', 0, token(0)).kind, 'new', 'the oldest was evicted');
  });

  it('forgets after the lifetime and answers only the recorded token', () => {
    const k = clock();
    const c = new DuplicateCache({ entriesMax: 10, lifetimeMs: 1000, bytesMax: 1024 }, k);
    c.check('p', 1, token(1));
    c.answer('p', 1, token(2), Uint8Array.from([9]));
    assert.equal(c.check('p', 1, token(1)).kind, 'in-progress');
    c.answer('p', 1, token(1), Uint8Array.from([7]));
    const status = c.check('p', 1, token(1));
    assert.ok(status.kind === 'answered' && status.response[0] === 7);
    assert.equal(c.check('q', 1, token(1)).kind, 'new', 'another peer is another request');
    k.advance(1000);
    assert.equal(c.check('p', 1, token(1)).kind, 'new');
  });

  it('tells tokens apart by every byte and by length, zeros included', () => {
    const c = new DuplicateCache({ entriesMax: 10, lifetimeMs: 1000, bytesMax: 1024 }, clock());
    const eight = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    c.check('p', 1, eight);
    c.answer('p', 1, eight, Uint8Array.from([7]));
    assert.equal(c.check('p', 1, Uint8Array.from(eight)).kind, 'answered', 'an equal token is the same request');
    // In turn under message id 1: a token unequal to the one before is a new request that replaces it.
    const turns: [number[], string][] = [
      [[1, 2, 3, 4, 5, 6, 7, 9], 'new'],
      [[0, 2, 3, 4, 5, 6, 7, 9], 'new'],
      [[0, 2, 3, 4, 5, 6, 7], 'new'],
      [[0, 2, 3, 4, 5, 6, 7], 'in-progress'],
      [[0, 2, 3, 4, 5, 6, 7, 0], 'new'],
      [[], 'new'],
      [[0], 'new'],
      [[0, 0], 'new'],
      [[0, 0], 'in-progress'],
    ];
    for (const [bytes, kind] of turns)
      assert.equal(c.check('p', 1, Uint8Array.from(bytes)).kind, kind, JSON.stringify(bytes));
  });

  it('replaces an entry whose message id comes back with another token, without evicting the new one', () => {
    const c = new DuplicateCache({ entriesMax: 2, lifetimeMs: 1000, bytesMax: 1024 }, clock());
    c.check('p', 1, token(1));
    assert.equal(c.check('p', 1, token(2)).kind, 'new');
    c.check('p', 2, token(3));
    assert.equal(c.check('p', 1, token(2)).kind, 'in-progress');
    assert.ok(c.size <= 2);
  });

  it('keeps a copy of each response that owns exactly its bytes, not a view of a pool slab', () => {
    const c = new DuplicateCache({ entriesMax: 10, lifetimeMs: 1000, bytesMax: 1024 }, clock());
    c.check('p', 1, token(1));
    // Buffer.from of a short array is carved from Node's shared 8 KiB pool.
    const pooled = Buffer.from([1, 2, 3]);
    assert.ok(pooled.buffer.byteLength > pooled.byteLength);
    c.answer('p', 1, token(1), pooled);
    pooled[0] = 9;
    const status = c.check('p', 1, token(1));
    assert.ok(status.kind === 'answered');
    assert.deepEqual([...status.response], [1, 2, 3]);
    assert.equal(status.response.buffer.byteLength, 3);
    assert.equal(c.bytes, 3);
  });

  it('stays within bytesMax, evicting the oldest answers, and does not keep a response over the bound', () => {
    const c = new DuplicateCache({ entriesMax: 100, lifetimeMs: 1000, bytesMax: 1024 }, clock());
    for (let id = 0; id < 10; id += 1) {
      c.check('p', id, token(id));
      c.answer('p', id, token(id), new Uint8Array(300).fill(id));
      assert.ok(c.bytes <= 1024);
    }
    assert.equal(c.bytes, 900);
    assert.equal(c.size, 3);
    assert.equal(c.evictions, 7);
    const kept = c.check('p', 9, token(9));
    assert.ok(kept.kind === 'answered' && kept.response[0] === 9);
    assert.equal(c.check('p', 6, token(6)).kind, 'new', 'the oldest answers were evicted');
    c.check('p', 50, token(50));
    c.answer('p', 50, token(50), new Uint8Array(1025));
    assert.equal(c.check('p', 50, token(50)).kind, 'new', 'a response over the bound forgets its request');
    assert.ok(c.bytes <= 1024);
  });

  it('behaves as a reference model of Maps and an insertion-order list (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('check' as const), peer: fc.nat(2), id: fc.nat(5), token: fc.nat(3) }),
      fc.record({
        kind: fc.constant('answer' as const),
        peer: fc.nat(2),
        id: fc.nat(5),
        token: fc.nat(3),
        bytes: fc.nat(400),
      }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.nat(600) }),
    );
    const limits = fc.record({
      entriesMax: fc.integer({ min: 1, max: 80 }),
      bytesMax: fc.integer({ min: 1, max: 1200 }),
    });
    fc.assert(
      fc.property(limits, fc.array(op, { maxLength: 300, size: 'large' }), ({ entriesMax, bytesMax }, ops) => {
        const k = clock();
        const options = { entriesMax, lifetimeMs: 1000, bytesMax };
        const cache = new DuplicateCache(options, k);
        const model = new ModelCache(options, k);
        const tokens = [[], [1], [2], [1, 0]].map((t) => Uint8Array.from(t));
        ops.forEach((o, step) => {
          if (o.kind === 'advance') return k.advance(o.ms);
          const [peer, token] = [`peer-${o.peer}`, tokens[o.token] ?? new Uint8Array()];
          if (o.kind === 'check') {
            assert.deepEqual(cache.check(peer, o.id, token), model.check(peer, o.id, token), `step ${step}`);
          } else {
            const response = new Uint8Array(o.bytes).fill(step & 0xff);
            cache.answer(peer, o.id, token, response);
            model.answer(peer, o.id, token, response);
          }
          assert.deepEqual([cache.size, cache.bytes, cache.evictions], [model.count, model.bytes, model.evicted]);
          cache.checkInvariants();
        });
        return true;
      }),
      fcParams(300, 'duplicate cache model'),
    );
  });
});

interface ModelEntry {
  readonly peer: string;
  readonly id: number;
  readonly token: string;
  readonly expiresAtMs: number;
  response: Uint8Array | null;
}

/** The cache as Maps per peer and a list in insertion (= expiry) order holding replaced entries too. */
class ModelCache {
  private readonly peers = new Map<string, Map<number, ModelEntry>>();
  private readonly order: ModelEntry[] = [];
  count = 0;
  bytes = 0;
  evicted = 0;

  constructor(
    private readonly options: DuplicateCacheOptions,
    private readonly k: { nowMs(): number },
  ) {}

  check(peer: string, id: number, token: Uint8Array): unknown {
    const now = this.k.nowMs();
    while (this.order.length > 0 && (this.order[0]?.expiresAtMs ?? 0) <= now) this.remove(this.order.shift());
    const entry = this.peers.get(peer)?.get(id);
    if (entry !== undefined && entry.token === String(token)) {
      return entry.response === null ? { kind: 'in-progress' } : { kind: 'answered', response: entry.response };
    }
    if (entry !== undefined) this.remove(entry);
    if (this.order.length === this.options.entriesMax) this.evictOldest();
    const fresh = { peer, id, token: String(token), expiresAtMs: now + this.options.lifetimeMs, response: null };
    const inner = this.peers.get(peer) ?? new Map<number, ModelEntry>();
    this.peers.set(peer, inner.set(id, fresh));
    this.order.push(fresh);
    this.count += 1;
    return { kind: 'new' };
  }

  answer(peer: string, id: number, token: Uint8Array, response: Uint8Array): void {
    const entry = this.peers.get(peer)?.get(id);
    if (entry === undefined || entry.token !== String(token) || entry.response !== null) return;
    if (response.byteLength > this.options.bytesMax) {
      if (this.remove(entry)) this.evicted += 1;
      return;
    }
    while (this.bytes + response.byteLength > this.options.bytesMax) this.evictOldest();
    if (this.peers.get(peer)?.get(id) !== entry) return;
    entry.response = Buffer.from(response);
    this.bytes += response.byteLength;
  }

  private evictOldest(): void {
    if (this.remove(this.order.shift())) this.evicted += 1;
  }

  private remove(entry: ModelEntry | undefined): boolean {
    if (entry === undefined || this.peers.get(entry.peer)?.get(entry.id) !== entry) return false;
    this.peers.get(entry.peer)?.delete(entry.id);
    this.count -= 1;
    this.bytes -= entry.response?.byteLength ?? 0;
    entry.response = null;
    return true;
  }
}
