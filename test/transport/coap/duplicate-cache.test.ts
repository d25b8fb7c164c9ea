// Proves the server's duplicate cache on a fake clock: it never holds more than entriesMax
// requests (evicting the oldest and counting it), forgets requests after their lifetime,
// keeps a replaced entry (same message id, new token) apart from the stale one it replaced,
// and answers only the request it recorded.
import { strict as assert } from 'node:assert';
import { DuplicateCache } from '../../../transport/coap/duplicate-cache.js';

function clock() {
  let now = 0;
  return { nowMs: () => now, advance: (ms: number) => void (now += ms) };
}

const token = (n: number) => Uint8Array.from([n]);

describe('DuplicateCache', () => {
  it('stays within entriesMax, evicting the oldest', () => {
    const c = new DuplicateCache({ entriesMax: 3, lifetimeMs: 1000 }, clock());
    for (let id = 0; id < 10; id += 1) assert.equal(c.check('p', id, token(id)).kind, 'new');
    assert.equal(c.size, 3);
    assert.equal(c.evictions, 7);
    assert.equal(c.check('p', 9, token(9)).kind, 'in-progress');
    assert.equal(c.check('p', 0, token(0)).kind, 'new', 'the oldest was evicted');
  });

  it('forgets after the lifetime and answers only the recorded token', () => {
    const k = clock();
    const c = new DuplicateCache({ entriesMax: 10, lifetimeMs: 1000 }, k);
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

  it('replaces an entry whose message id comes back with another token, without evicting the new one', () => {
    const c = new DuplicateCache({ entriesMax: 2, lifetimeMs: 1000 }, clock());
    c.check('p', 1, token(1));
    assert.equal(c.check('p', 1, token(2)).kind, 'new');
    c.check('p', 2, token(3));
    assert.equal(c.check('p', 1, token(2)).kind, 'in-progress');
    assert.ok(c.size <= 2);
  });
});
