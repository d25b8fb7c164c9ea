// Proves the bounded FIFO ring buffer against an array model under random pushes and shifts
// (fast-check), and that pushing onto a full buffer is a bug (InvariantError).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { RingBuffer } from '../../transport/ring-buffer.js';
import { fcParams } from '../fc-params.js';

describe('RingBuffer', () => {
  it('behaves like a bounded array queue', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.integer(), fc.constant(null)), { maxLength: 100 }),
        (capacity, steps) => {
          const ring = new RingBuffer<number>(capacity);
          const model: number[] = [];
          for (const step of steps) {
            if (step === null) assert.equal(ring.shift(), model.shift());
            else if (model.length < capacity) {
              ring.push(step);
              model.push(step);
            }
            assert.equal(ring.length, model.length);
            assert.equal(ring.peek(), model[0]);
            assert.equal(ring.isFull(), model.length === capacity);
          }
        },
      ),
      fcParams(100),
    );
  });

  it('refuses a push onto a full buffer', () => {
    const ring = new RingBuffer<number>(1);
    ring.push(1);
    assert.throws(() => ring.push(2), { code: 'RAFT_INVARIANT' });
  });
});
