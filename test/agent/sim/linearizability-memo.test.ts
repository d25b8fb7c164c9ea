// Proves the compact memo of the linearizability search against a naive model: over random
// sequences of "take operation with register value" and "undo operation" steps (ok and info
// operations, invoke times out of index order, enough operations to span several bitset
// words), StateCache says 'added' exactly when the naive set of (taken set, value) strings had
// not seen the state, and 'seen' otherwise; and it answers 'full' at its state limit. A second
// run uses a Prng that returns only zeros, so that every state with the same value collides in
// the hash table and only the comparison of records tells states apart.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { SeededPrng } from '../../../contracts/prng.js';
import type { Prng } from '../../../contracts/prng.js';
import type { HistoryOperation } from '../../../agent/sim/history.js';
import { StateCache } from '../../../agent/sim/linearizability-memo.js';
import { fcParams } from '../../fc-params.js';

function operations(invokes: readonly number[], info: readonly boolean[]): HistoryOperation[] {
  return invokes.map((t, i) => ({
    client: 'c',
    id: i,
    op: 'put',
    key: 'k',
    value: 'v',
    output: null,
    invokeMs: t,
    completeMs: info[i] === true ? Infinity : t + 1,
    status: info[i] === true ? 'info' : 'ok',
  }));
}

/** A Prng that makes every Zobrist word 0. */
class ZeroPrng implements Prng {
  nextUint32(): number {
    return 0;
  }
  intBetween(min: number): number {
    return min;
  }
  nextFloat(): number {
    return 0;
  }
  chance(): boolean {
    return false;
  }
}

describe('StateCache', () => {
  for (const [name, makePrng] of [
    ['random Zobrist words', (): Prng => new SeededPrng(1)],
    ['all-colliding hashes', (): Prng => new ZeroPrng()],
  ] as const)
    it(`agrees with a naive set of states (${name})`, () => {
      const arb = fc
        .integer({ min: 1, max: 90 })
        .chain((n) =>
          fc.tuple(
            fc.array(fc.integer({ min: 0, max: 50 }), { minLength: n, maxLength: n }),
            fc.array(fc.boolean(), { minLength: n, maxLength: n }),
            fc.array(fc.tuple(fc.nat(n - 1), fc.integer({ min: 0, max: 2 }), fc.boolean()), { maxLength: 400 }),
          ),
        );
      fc.assert(
        fc.property(arb, ([invokes, info, steps]) => {
          const cache = new StateCache(operations(invokes, info), makePrng(), {
            statesMaxPerKey: 1e6,
            cacheBytesMaxPerKey: 1 << 30,
          });
          const taken = new Set<number>();
          const seen = new Set<string>();
          const stack: number[] = [];
          for (const [op, value, undo] of steps) {
            if (undo && stack.length > 0) {
              const last = stack.pop() ?? -1;
              cache.unmark(last);
              taken.delete(last);
              continue;
            }
            if (taken.has(op)) continue;
            const key = `${[...taken, op].sort((a, b) => a - b).join(',')}|${value}`;
            const expected = seen.has(key) ? 'seen' : 'added';
            assert.equal(cache.addIfAbsent(op, value), expected, key);
            if (expected === 'added') {
              seen.add(key);
              taken.add(op);
              stack.push(op);
            }
          }
          assert.equal(cache.size, seen.size);
        }),
        fcParams(200, `lincheck memo agrees with naive set, ${name}`),
      );
    });

  it('answers full at statesMaxPerKey and leaves the state as it was', () => {
    const cache = new StateCache(operations([0, 1, 2], [false, false, false]), new SeededPrng(1), {
      statesMaxPerKey: 2,
      cacheBytesMaxPerKey: 1 << 20,
    });
    assert.equal(cache.addIfAbsent(0, 1), 'added');
    assert.equal(cache.addIfAbsent(1, 1), 'added');
    assert.equal(cache.addIfAbsent(2, 1), 'full');
    cache.unmark(1);
    assert.equal(cache.addIfAbsent(1, 1), 'seen', 'op 2 was not left marked');
  });
});
