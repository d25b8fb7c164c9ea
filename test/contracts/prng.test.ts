// Proves the seeded PRNG is deterministic (same seed, same sequence), that different seeds
// diverge, and that intBetween stays in range and reaches both ends.
import { strict as assert } from 'node:assert';
import { SeededPrng } from '../../contracts/prng.js';

describe('SeededPrng', () => {
  it('gives the same sequence for the same seed', () => {
    const a = new SeededPrng(42);
    const b = new SeededPrng(42);
    for (let i = 0; i < 1000; i += 1) assert.equal(a.nextUint32(), b.nextUint32());
  });

  it('gives different sequences for different seeds', () => {
    const a = new SeededPrng(1);
    const b = new SeededPrng(2);
    const same = Array.from({ length: 100 }, () => a.nextUint32() === b.nextUint32()).filter(Boolean).length;
    assert.ok(same < 3, `only ${same} of 100 values coincide`);
  });

  it('keeps intBetween within [min, max) and covers the range', () => {
    const prng = new SeededPrng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i += 1) {
      const v = prng.intBetween(-3, 4);
      assert.ok(v >= -3 && v < 4, `value ${v} in range`);
      seen.add(v);
    }
    assert.equal(seen.size, 7);
  });

  it('rejects an empty range', () => {
    assert.throws(() => new SeededPrng(1).intBetween(5, 5), { code: 'RAFT_INVARIANT' });
  });
});
