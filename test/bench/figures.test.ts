// Proves the comparison benches' arithmetic and presentation (bench/_figures.ts): the
// nearest-rank percentile (property: the result is a sample, at least a fraction p of the
// samples are at or below it and fewer than p strictly below it), the bounded latency buffer,
// option and list parsing that refuses bad input by name, ratios that refuse to divide by
// nothing, and tables whose columns line up.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  LatencyRecorder,
  cell,
  formatTable,
  intOption,
  option,
  parseIntList,
  percentile,
  ratio,
  sizeName,
} from '../../bench/_figures.js';
import { fcParams } from '../fc-params.js';

describe('bench figures', () => {
  it('takes nearest-rank percentiles', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(hundred, 0.5), 50);
    assert.equal(percentile(hundred, 0.99), 99);
    assert.equal(percentile(hundred, 1), 100);
    assert.equal(percentile(hundred, 0), 1);
    assert.equal(percentile([7], 0.99), 7);
    assert.equal(percentile([1, 2], 0.5), 1);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });

  it('property: a percentile is a sample with at least p of the samples at or below it, fewer than p below', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (samples, p) => {
          const sorted = Float64Array.from(samples).sort();
          const r = percentile(sorted, p);
          const n = sorted.length;
          assert.ok(sorted.includes(r));
          assert.ok(sorted.filter((x) => x <= r).length >= p * n);
          assert.ok(sorted.filter((x) => x < r).length < Math.max(1, p * n));
        },
      ),
      fcParams(100),
    );
  });

  it('keeps latencies up to its capacity and counts the rest', () => {
    const recorder = new LatencyRecorder(3);
    for (const ms of [5, 1, 3, 100, 200]) recorder.record(ms);
    assert.equal(recorder.count, 5);
    assert.deepEqual(recorder.summary(), { p50Ms: 3, p99Ms: 5, p999Ms: 5, maxMs: 5, truncated: true });
    assert.throws(() => new LatencyRecorder(0), /capacity/);
    assert.ok(Number.isNaN(new LatencyRecorder(1).summary().p50Ms));
  });

  it('gives the nearest-rank p99.9 beside p99: of 1 to 2,000 ms, 1,998 and 1,980', () => {
    const recorder = new LatencyRecorder(2_000);
    for (let ms = 2_000; ms >= 1; ms -= 1) recorder.record(ms);
    const summary = recorder.summary();
    assert.equal(summary.p99Ms, 1_980);
    assert.equal(summary.p999Ms, 1_998);
    assert.equal(summary.maxMs, 2_000);
  });

  it('reads options in both spellings and refuses bad numbers by name', () => {
    assert.equal(option(['--a=1', '--b', '2'], 'a', 'x'), '1');
    assert.equal(option(['--a=1', '--b', '2'], 'b', 'x'), '2');
    assert.equal(option(['--ab=1'], 'a', 'x'), 'x');
    assert.equal(intOption(['--duration-ms=500'], 'duration-ms', 10, 100, 1000), 500);
    assert.throws(
      () => intOption(['--duration-ms=50'], 'duration-ms', 10, 100, 1000),
      /--duration-ms: expected an integer from 100 to 1000, got "50"/,
    );
    assert.throws(() => intOption(['--duration-ms=1e9x'], 'duration-ms', 10, 100, 1000), /--duration-ms/);
  });

  it('parses comma lists, dropping repeats and refusing gaps, fractions and out-of-range items', () => {
    assert.deepEqual(parseIntList('1,16,64,16', 'clients', 1, 1024), [1, 16, 64]);
    assert.deepEqual(parseIntList(' 256, 4096 ', 'values', 1, 2 ** 20), [256, 4096]);
    for (const bad of ['1,,2', '0', '1.5', 'x', '2048', ''])
      assert.throws(() => parseIntList(bad, 'clients', 1, 1024), /--clients: expected integers from 1 to 1024/);
  });

  it('divides only by something', () => {
    assert.equal(ratio(559, 777), 0.72);
    assert.equal(ratio(1, 0), null);
    assert.equal(ratio(1, null), null);
    assert.equal(ratio(undefined, 2), null);
    assert.equal(ratio(Number.NaN, 2), null);
  });

  it('names sizes and formats cells', () => {
    assert.equal(sizeName(256), '256 B');
    assert.equal(sizeName(4096), '4 KiB');
    assert.equal(sizeName(65_536), '64 KiB');
    assert.equal(sizeName(1500), '1500 B');
    assert.equal(cell(1766.456), '1,766.46');
    assert.equal(cell(null), '-');
    assert.equal(cell(Number.NaN), '-');
    assert.equal(cell('x'), 'x');
  });

  it('lines up table columns: text to the left, figures to the right', () => {
    const table = formatTable(
      ['load', 'writes/s'],
      [
        ['1 x 256 B', '559'],
        ['64 x 4 KiB', '1,766'],
      ],
    );
    assert.equal(
      table,
      ['load        writes/s', '----------  --------', '1 x 256 B        559', '64 x 4 KiB     1,766'].join('\n'),
    );
  });
});
