/**
 * isoTime writes what Date.prototype.toISOString writes (it exists only to keep ICU's time-zone
 * data out of the agent's memory; agent/observability/iso-time.ts).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fcParams } from '../../fc-params.js';
import { isoTime, pinoIsoTime } from '../../../agent/observability/iso-time.js';

/** The range of a JavaScript Date, ms either side of the epoch. */
const DATE_RANGE_MS = 8.64e15;

describe('isoTime', () => {
  it('property: equals Date.prototype.toISOString for every time a Date can hold', () => {
    fc.assert(
      fc.property(fc.integer({ min: -DATE_RANGE_MS, max: DATE_RANGE_MS }), (ms) => {
        assert.equal(isoTime(ms), new Date(ms).toISOString());
      }),
      fcParams(2000, 'isoTime whole date range'),
    );
  });

  it('property: equals Date.prototype.toISOString within years 1970-2200 (where log lines live)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }), (ms) => {
        assert.equal(isoTime(ms), new Date(ms).toISOString());
      }),
      fcParams(2000, 'isoTime years 1970-2200'),
    );
  });

  it('pads every field and keeps the edges of the four-digit years', () => {
    assert.equal(isoTime(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), '2026-01-02T03:04:05.006Z');
    const year0 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z (Date.UTC reads year 0 as 1900)
    assert.equal(isoTime(year0), '0000-01-01T00:00:00.000Z');
    assert.equal(isoTime(year0 - 1), '-000001-12-31T23:59:59.999Z');
    assert.equal(isoTime(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), '9999-12-31T23:59:59.999Z');
    assert.equal(isoTime(Date.UTC(9999, 11, 31, 23, 59, 59, 999) + 1), '+010000-01-01T00:00:00.000Z');
  });

  it('gives pino its "time" field', () => {
    const before = Date.now();
    const field = pinoIsoTime();
    const match = /^,"time":"(.+)"$/.exec(field);
    assert.ok(match !== null, field);
    const at = Date.parse(match[1] ?? '');
    assert.ok(at >= before && at <= Date.now(), field);
  });
});
