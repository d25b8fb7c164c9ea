// Proves the soak's verdict (bench/_soak-analysis.ts): the least-squares slope of a line is its
// slope with no error (property), and a small worked example gives the slope and standard error
// computed by hand; a flat or noisy-but-flat RssAnon after warm-up passes while growth before
// warm-up is ignored; steady growth beyond the bound is a leak and growth within it passes
// (property: any rate from 1.5 times the bound up, under any sawtooth of up to 15 MiB, is a leak);
// a high-water step before the middle third passes (property: any step up to 20 MiB at any time
// before it, under the same sawtooth) and one in the last third fails; too few samples fail
// (unproven); V8's out-of-memory lines are recognised and ordinary log lines are not.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { fcParams } from '../fc-params.js';
import {
  LEAK_SLOPE_BYTES_PER_MINUTE,
  fitLine,
  isOutOfMemory,
  median,
  slope,
  soakFigures,
  tCritical95,
} from '../../bench/_soak-analysis.js';
import type { SoakSample } from '../../bench/_soak-analysis.js';

const MiB = 1024 * 1024;
const series = (minutes: number, anonMiB: (minute: number) => number, perMinute = 12): SoakSample[] =>
  Array.from({ length: minutes * perMinute + 1 }, (_, i) => {
    const minute = i / perMinute;
    return { atMs: minute * 60_000, rssBytes: (anonMiB(minute) + 45) * MiB, rssAnonBytes: anonMiB(minute) * MiB };
  });

const RATE_MIN = Number(process.env.RATE_MIN ?? 2);
const SWING_MAX = Number(process.env.SWING_MAX ?? 10);
const PERIOD_MAX = Number(process.env.PERIOD_MAX ?? 20);

describe('the soak verdict', () => {
  it('fits the slope of a straight line exactly (property: y = a x + b gives a)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), (a, b) => {
        const points = Array.from({ length: 10 }, (_, x): [number, number] => [x, a * x + b]);
        const fit = fitLine(points);
        assert.ok(fit !== null && Math.abs(fit.slope - a) < 1e-9 && Math.abs(fit.intercept - b) < 1e-9);
        assert.ok(fit.slopeStandardError < 1e-6);
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

  it('gives the slope and its standard error of a worked example', () => {
    // x 0..3, y 0 1 1 3: slope 4.5 / 5 = 0.9, intercept -0.1, residuals 0.1 0.2 -0.7 0.4 (sum of squares 0.7),
    // standard error sqrt(0.7 / 2 / 5).
    const fit = fitLine([
      [0, 0],
      [1, 1],
      [2, 1],
      [3, 3],
    ]);
    assert.ok(fit !== null);
    assert.ok(Math.abs(fit.slope - 0.9) < 1e-12);
    assert.ok(Math.abs(fit.intercept + 0.1) < 1e-12);
    assert.ok(Math.abs(fit.slopeStandardError - Math.sqrt(0.07)) < 1e-12);
    assert.equal(tCritical95(2), 4.303);
    assert.equal(tCritical95(500), 1.96);
  });

  it('calls RssAnon flat after warm-up no leak, whatever it did during warm-up', () => {
    const f = soakFigures(
      series(10, (m) => (m < 2 ? 20 + 15 * m : 50 + (Math.round(m * 12) % 2))),
      2 * 60_000,
    );
    assert.equal(f.leak, false);
    assert.ok(f.rssAnonSlopeBytesPerMinute !== null && Math.abs(f.rssAnonSlopeBytesPerMinute) < 0.1 * MiB);
    assert.ok(f.rssAnonSlopeLowBytesPerMinute !== null && f.rssAnonSlopeLowBytesPerMinute < 0);
    assert.ok(f.rssAnonSlopeHighBytesPerMinute !== null && f.rssAnonSlopeHighBytesPerMinute > 0);
    assert.equal(f.rssAnonPeakBytes, 51 * MiB);
  });

  it('calls steady growth beyond the bound a leak, and growth within it none', () => {
    assert.equal(
      soakFigures(
        series(10, (m) => 40 + 2 * m),
        2 * 60_000,
      ).leak,
      true,
    ); // 2 MiB a minute
    assert.equal(
      soakFigures(
        series(10, (m) => 40 + 0.5 * m + (Math.round(m * 12) % 3)),
        2 * 60_000,
      ).leak,
      false,
    ); // 0.5 MiB a minute, with a sawtooth
    assert.equal(LEAK_SLOPE_BYTES_PER_MINUTE, MiB);
  });

  it('calls a flat sawtooth of 40 MiB flat, and fails too few samples', () => {
    // Flat on average, rising by 40 MiB over 5 s and falling back (a sample a second).
    const noisy = soakFigures(
      series(10, (m) => 30 + (Math.round(m * 60) % 5) * 10, 60),
      5 * 60_000,
    );
    assert.equal(noisy.leak, false);
    assert.equal(soakFigures(series(1, () => 50).slice(0, 2), 0).leak, true);
    // Three samples a third are too few to judge by.
    const sparse = series(10, () => 50).filter((_, i) => i % 12 === 0);
    assert.equal(soakFigures(sparse, 0).leak, true);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    assert.equal(median([]), null);
  });

  it('passes a high-water step before the middle third, and fails one in the last third', () => {
    // 10 minutes, 5 of warm-up: thirds after it at 5-6.7, 6.7-8.3 and 8.3-10 minutes.
    const step = (at: number) => series(10, (m) => (m < at ? 70 : 80) + (Math.round(m * 12) % 3) * 4);
    const early = soakFigures(step(6), 5 * 60_000);
    assert.equal(early.leak, false);
    // The least-squares slope, the verdict before, calls the same step a leak.
    assert.ok(early.rssAnonSlopeLowBytesPerMinute !== null && early.rssAnonSlopeLowBytesPerMinute > MiB);
    assert.equal(soakFigures(step(9), 5 * 60_000).leak, true);
  });

  it('calls any steady growth from 1.5 times the bound a leak, under any sawtooth of up to 15 MiB', () => {
    fc.assert(
      fc.property(
        fc.double({ min: RATE_MIN, max: 20, noNaN: true }),
        fc.double({ min: 0, max: SWING_MAX, noNaN: true }),
        fc.integer({ min: 2, max: PERIOD_MAX }),
        (rate, swing, period) => {
          const saw = (m: number) => ((Math.round(m * 60) % period) / period) * swing;
          const leak = series(10, (m) => 60 + rate * m + saw(m), 60);
          return soakFigures(leak, 5 * 60_000).leak;
        },
      ),
      fcParams(),
    );
  });

  it('calls flat memory with one step of up to 20 MiB before the middle third no leak, under any sawtooth', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 6.6, noNaN: true }),
        fc.double({ min: 0, max: 20, noNaN: true }),
        fc.double({ min: 0, max: SWING_MAX, noNaN: true }),
        fc.integer({ min: 2, max: PERIOD_MAX }),
        (at, size, swing, period) => {
          const saw = (m: number) => ((Math.round(m * 60) % period) / period) * swing;
          const stepped = series(10, (m) => 60 + (m < at ? 0 : size) + saw(m), 60);
          return !soakFigures(stepped, 5 * 60_000).leak;
        },
      ),
      fcParams(),
    );
  });

  it("recognises V8's out-of-memory report", () => {
    assert.ok(isOutOfMemory('FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'));
    assert.ok(isOutOfMemory('FATAL ERROR: Ineffective mark-compacts near heap limit Allocation failed'));
    assert.equal(isOutOfMemory('{"level":30,"msg":"agent started"}'), false);
  });
});
