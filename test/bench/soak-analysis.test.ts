// Proves the soak's verdict (bench/_soak-analysis.ts): the least-squares slope of a line is its
// slope (property); a flat or noisy-but-flat RssAnon after warm-up is no leak while growth before
// warm-up is ignored; steady growth beyond the bound is a leak; V8's out-of-memory lines are
// recognised and ordinary log lines are not.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { fcParams } from '../fc-params.js';
import { LEAK_GROWTH_BYTES_MIN, isOutOfMemory, slope, soakFigures } from '../../bench/_soak-analysis.js';
import type { SoakSample } from '../../bench/_soak-analysis.js';

const MiB = 1024 * 1024;
const series = (minutes: number, anonMiB: (minute: number) => number): SoakSample[] =>
  Array.from({ length: minutes * 12 + 1 }, (_, i) => {
    const minute = i / 12;
    return { atMs: minute * 60_000, rssBytes: (anonMiB(minute) + 45) * MiB, rssAnonBytes: anonMiB(minute) * MiB };
  });

describe('the soak verdict', () => {
  it('fits the slope of a straight line exactly (property: y = a x + b gives a)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), (a, b) => {
        const points = Array.from({ length: 10 }, (_, x): [number, number] => [x, a * x + b]);
        const s = slope(points);
        assert.ok(s !== null && Math.abs(s - a) < 1e-9);
      }),
      fcParams(),
    );
    assert.equal(slope([[0, 1]]), null);
    assert.equal(
      slope([
        [1, 1],
        [1, 2],
        [1, 3],
      ]),
      null,
    );
  });

  it('calls RssAnon flat after warm-up no leak, whatever it did during warm-up', () => {
    const f = soakFigures(
      series(10, (m) => (m < 2 ? 20 + 15 * m : 50 + (Math.round(m * 12) % 2))),
      2 * 60_000,
    );
    assert.equal(f.leak, false);
    assert.ok(f.rssAnonSlopeBytesPerMinute !== null && Math.abs(f.rssAnonSlopeBytesPerMinute) < 0.1 * MiB);
    assert.equal(f.rssAnonPeakBytes, 51 * MiB);
  });

  it('calls steady growth beyond the bound a leak, and growth within it none', () => {
    assert.equal(
      soakFigures(
        series(10, (m) => 40 + 2 * m),
        2 * 60_000,
      ).leak,
      true,
    ); // 16 MiB over 8 min
    assert.equal(
      soakFigures(
        series(10, (m) => 40 + 0.5 * m),
        2 * 60_000,
      ).leak,
      false,
    ); // 4 MiB
    assert.ok(LEAK_GROWTH_BYTES_MIN >= 4 * MiB);
  });

  it("recognises V8's out-of-memory report", () => {
    assert.ok(isOutOfMemory('FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'));
    assert.ok(isOutOfMemory('FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed'));
    assert.equal(isOutOfMemory('{"level":30,"msg":"agent started"}'), false);
  });
});
