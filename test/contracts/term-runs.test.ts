// Proves the run-length store of a log's terms (contracts/term-runs.ts) against the array it
// replaces in the log projection. Property: after any sequence of appends (of any term, lower
// ones included), truncations, prefix drops and moves of an empty range's start, TermRuns
// reports the same size, first index, last term and term of every index as a plain array of
// terms with its first index, and a clone taken at any point is not changed by later operations.
// Replays with FC_SEED/FC_PATH.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { TermRuns } from '../../contracts/term-runs.js';
import { fcParams } from '../fc-params.js';

type Operation =
  | { readonly kind: 'push'; readonly term: number }
  | { readonly kind: 'truncate'; readonly share: number }
  | { readonly kind: 'drop'; readonly share: number }
  | { readonly kind: 'start'; readonly first: number }
  | { readonly kind: 'clone' };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('push' as const), term: fc.integer({ min: 0, max: 6 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('truncate' as const), share: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('drop' as const), share: fc.double({ min: 0, max: 1, noNaN: true }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('start' as const), first: fc.integer({ min: 0, max: 1000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clone' as const) }) },
);

/** The array the projection kept before, with its first index. */
class ArrayModel {
  constructor(
    public first: number,
    public terms: number[],
  ) {}
}

function assertSame(runs: TermRuns, model: ArrayModel): void {
  assert.equal(runs.size(), model.terms.length);
  if (model.terms.length > 0) assert.equal(runs.first(), model.first);
  assert.equal(runs.lastTerm(), model.terms[model.terms.length - 1]);
  for (let i = -1; i <= model.terms.length; i += 1) assert.equal(runs.termAt(model.first + i), model.terms[i]);
}

describe('TermRuns', () => {
  it('holds the same terms as an array under any appends, truncations and prefix drops', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 20 }),
        fc.array(operation, { maxLength: 60 }),
        (first, initial, operations) => {
          const runs = new TermRuns(first, initial);
          const model = new ArrayModel(first, initial.slice());
          const clones: { runs: TermRuns; model: ArrayModel }[] = [];
          assertSame(runs, model);
          for (const op of operations) {
            switch (op.kind) {
              case 'push':
                runs.push(op.term);
                model.terms.push(op.term);
                break;
              case 'truncate': {
                const keep = Math.floor(op.share * model.terms.length);
                runs.truncate(keep);
                model.terms.length = keep;
                break;
              }
              case 'drop': {
                const count = Math.floor(op.share * model.terms.length);
                runs.dropFirst(count);
                model.terms = model.terms.slice(count);
                model.first += count;
                break;
              }
              case 'start':
                if (model.terms.length > 0) break;
                runs.startAt(op.first);
                model.first = op.first;
                break;
              case 'clone':
                clones.push({ runs: runs.clone(), model: new ArrayModel(model.first, model.terms.slice()) });
                break;
            }
            assertSame(runs, model);
          }
          for (const clone of clones) assertSame(clone.runs, clone.model);
        },
      ),
      fcParams(500),
    );
  });

  it('keeps one run per term however many entries it holds', () => {
    const runs = new TermRuns(1);
    for (let i = 0; i < 10_000; i += 1) runs.push(i < 5_000 ? 3 : 4);
    runs.dropFirst(4_999);
    assert.equal(runs.size(), 5_001);
    assert.equal(runs.termAt(5_000), 3);
    assert.equal(runs.termAt(5_001), 4);
    assert.equal(runs.first(), 5_000);
    assert.throws(() => runs.startAt(1), { code: 'RAFT_INVARIANT' });
  });
});
