// Proves the anti-replay window of RFC 6347 §4.1.2.6: it accepts each sequence number at most
// once, rejects numbers that fell behind the window, and agrees with a brute-force model (a set
// of seen numbers plus the highest) on arbitrary sequences, including jumps past the window
// and numbers near 2^48.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { ReplayWindow } from '../../../transport/dtls/replay-window.js';
import { fcParams } from '../../fc-params.js';

describe('ReplayWindow', () => {
  it('accepts new numbers once and rejects repeats', () => {
    const w = new ReplayWindow(64);
    for (const seq of [0, 1, 5, 3, 2]) {
      assert.ok(w.check(seq));
      w.mark(seq);
      assert.ok(!w.check(seq));
    }
    assert.ok(w.check(4));
  });

  it('rejects numbers behind the window and accepts the oldest one inside it', () => {
    const w = new ReplayWindow(64);
    w.mark(100);
    assert.ok(!w.check(36));
    assert.ok(w.check(37));
    w.mark(1000);
    assert.ok(!w.check(100));
    assert.ok(!w.check(936));
    assert.ok(w.check(937));
  });

  it('rejects numbers outside 0..2^48-1 and handles the top of the range', () => {
    const w = new ReplayWindow(64);
    assert.ok(!w.check(-1));
    assert.ok(!w.check(2 ** 48));
    assert.ok(!w.check(1.5));
    w.mark(2 ** 48 - 1);
    assert.ok(!w.check(2 ** 48 - 1));
    assert.ok(w.check(2 ** 48 - 2));
  });

  it('agrees with a brute-force model', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(32, 64, 100),
        fc.array(fc.oneof(fc.nat({ max: 300 }), fc.nat({ max: 2 ** 48 - 1 })), { maxLength: 400 }),
        (size, seqs) => {
          const w = new ReplayWindow(size);
          const seen = new Set<number>();
          let highest = -1;
          for (const seq of seqs) {
            const expected = !seen.has(seq) && seq > highest - size;
            assert.equal(w.check(seq), expected, `seq ${seq} highest ${highest}`);
            if (expected) {
              w.mark(seq);
              seen.add(seq);
              highest = Math.max(highest, seq);
            }
            assert.equal(w.highestSeq(), highest);
          }
        },
      ),
      fcParams(100),
    );
  });
});
