// Proves the shared front-dropping queue (contracts/front-queue.ts):
// - property: after any sequence of pushes, shifts, drops from the front, truncations of the back
//   and clears (any cut threshold, small ones so that the array is cut often), the queue holds
//   exactly what an array that shifts and splices for real holds: the same length, the same item
//   at every position (undefined outside), the same first and last, the same toArray;
// - it keeps nothing it dropped or truncated: watched through WeakRefs after a collection, with
//   fewer drops than the cut threshold (so the array is not cut yet), the dropped items are
//   collected and the held ones are not.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { FrontQueue } from '../../contracts/front-queue.js';
import { collectGarbage } from '../collect-garbage.js';
import { fcParams } from '../fc-params.js';

type Op =
  | { readonly kind: 'push'; readonly value: number }
  | { readonly kind: 'shift' }
  | { readonly kind: 'drop'; readonly count: number }
  | { readonly kind: 'truncate'; readonly count: number }
  | { readonly kind: 'clear' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('push' as const), value: fc.integer() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('shift' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), count: fc.integer({ min: -2, max: 12 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('truncate' as const), count: fc.integer({ min: -2, max: 40 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
);

/**
 * Pushes `count` buffers (item i filled with i) and returns a WeakRef of each; no local of the async test keeps
 * one (its suspended frame would).
 */
function fill(queue: FrontQueue<Uint8Array>, count: number): WeakRef<Uint8Array>[] {
  return Array.from({ length: count }, (_, i) => {
    const item = new Uint8Array(65_536).fill(i);
    queue.push(item);
    return new WeakRef(item);
  });
}

describe('FrontQueue', () => {
  it('holds exactly what a shifting array holds, whatever the pushes, drops, truncations and clears', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 300 }), (cutAfter, ops) => {
        const queue = new FrontQueue<{ value: number }>(cutAfter);
        const model: { value: number }[] = [];
        for (const step of ops) {
          switch (step.kind) {
            case 'push': {
              const item = { value: step.value };
              queue.push(item);
              model.push(item);
              break;
            }
            case 'shift':
              assert.equal(queue.shift(), model.shift());
              break;
            case 'drop':
              queue.drop(step.count);
              model.splice(0, Math.max(0, step.count));
              break;
            case 'truncate':
              queue.truncate(step.count);
              model.length = Math.min(model.length, Math.max(0, step.count));
              break;
            case 'clear':
              queue.clear();
              model.length = 0;
              break;
          }
          assert.equal(queue.length, model.length);
          assert.equal(queue.first(), model[0]);
          assert.equal(queue.last(), model[model.length - 1]);
        }
        for (let i = -1; i <= model.length; i += 1) assert.equal(queue.at(i), model[i]);
        assert.deepStrictEqual(queue.toArray(), model);
      }),
      fcParams(300, 'front queue matches a shifting array'),
    );
  });

  it('keeps nothing it dropped from the front or truncated from the back', async () => {
    const queue = new FrontQueue<Uint8Array>(1024);
    const watched = fill(queue, 20);
    queue.drop(6);
    assert.equal(queue.shift()?.[0], 6);
    queue.truncate(10); // items 7..16 stay; 17..19 go
    assert.equal(queue.length, 10);
    await collectGarbage();
    const held = watched.map((ref) => ref.deref() !== undefined);
    assert.deepStrictEqual(
      held,
      Array.from({ length: 20 }, (_, i) => i >= 7 && i <= 16),
      'exactly the items still queued are alive',
    );
  });
});
