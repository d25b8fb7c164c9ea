// Proves the server's duplicate cache on a fake clock: it never holds more than entriesMax
// requests (evicting the oldest and counting it), forgets requests after their lifetime,
// keeps a replaced entry (same message id, new token) apart from the stale one it replaced,
// and answers only the request it recorded (tokens told apart by every byte and by length, a
// token with a trailing zero byte from the one without). Its responses are copies that own exactly their
// bytes (a view of Node's Buffer pool would keep a whole 8 KiB slab alive per answer), their
// bytes stay within bytesMax by evicting the oldest requests, and a response larger than the
// whole bound is not kept.
import { strict as assert } from 'node:assert';
import { DuplicateCache } from '../../../transport/coap/duplicate-cache.js';

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
});
