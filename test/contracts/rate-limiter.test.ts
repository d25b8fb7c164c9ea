// Proves what contracts/rate-limiter.ts promises a flood's log: a LogThrottle lets a burst through
// line by line (perSecond in a second), lets at most 3 x perSecond through in a minute and
// 12 x perSecond in an hour however long the flood lasts, and accounts for every line it leaves
// out (each line let through carries how many were left out before it).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import {
  LOG_LINES_PER_HOUR_PER_SECOND,
  LOG_LINES_PER_MINUTE_PER_SECOND,
  LogThrottle,
  RateLimiter,
} from '../../contracts/rate-limiter.js';
import { fcParams } from '../fc-params.js';

/** A clock the test moves. */
class Clock {
  now = 0;
  nowMs(): number {
    return this.now;
  }
}

/** The times, ms, at which `throttle` let a line through, and every `suppressed` those lines carried. */
function run(clock: Clock, throttle: LogThrottle, times: readonly number[]): { out: number[]; told: number } {
  const out: number[] = [];
  let told = 0;
  for (const t of times) {
    clock.now = t;
    const suppressed = throttle.take();
    if (suppressed === null) continue;
    out.push(t);
    told += suppressed;
  }
  return { out, told };
}

/** Most of `times` that fall in any window of `windowMs` that starts at one of them. */
function mostInWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  let from = 0;
  for (let to = 0; to < times.length; to += 1) {
    while ((times[to] ?? 0) - (times[from] ?? 0) >= windowMs) from += 1;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

describe('RateLimiter and LogThrottle (contracts/rate-limiter.ts)', () => {
  it('a RateLimiter allows perWindow events in each window of its length', () => {
    const clock = new Clock();
    const limiter = new RateLimiter(clock, 2, 60_000);
    assert.deepStrictEqual([limiter.take(), limiter.take(), limiter.take()], [true, true, false]);
    clock.now = 59_999;
    assert.equal(limiter.hasRoom(), false);
    clock.now = 60_000;
    assert.equal(limiter.hasRoom(), true);
    assert.deepStrictEqual([limiter.take(), limiter.take(), limiter.take()], [true, true, false]);
  });

  it('lets a burst of perSecond lines through whole, then says how many it left out', () => {
    const clock = new Clock();
    const throttle = new LogThrottle(clock, 10);
    const burst = run(
      clock,
      throttle,
      Array.from({ length: 25 }, () => 0),
    );
    assert.equal(burst.out.length, 10);
    clock.now = 1_000;
    assert.equal(throttle.take(), 15);
  });

  it('logs a flood of 100 lines a second for 3 hours at the hour rate: 120 lines an hour at 10 a second', () => {
    const clock = new Clock();
    const throttle = new LogThrottle(clock, 10);
    const times = Array.from({ length: 3 * 3600 * 100 }, (_, i) => i * 10);
    const { out, told } = run(clock, throttle, times);
    assert.equal(mostInWindow(out, 1_000), 10);
    assert.equal(mostInWindow(out, 60_000), 30);
    assert.equal(out.length, 3 * 120, 'one hour window after another, each full');
    clock.now = 4 * 3_600_000;
    const last = throttle.take();
    assert.notEqual(last, null);
    assert.equal(out.length + told + (last ?? 0), times.length, 'every line let out or counted');
  });

  it('never lets more through than each window allows, and counts every line (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 120_000 }), { minLength: 1, maxLength: 3_000 }),
        (perSecond, gaps) => {
          const clock = new Clock();
          const throttle = new LogThrottle(clock, perSecond);
          const times: number[] = [];
          let t = 0;
          for (const gap of gaps) times.push((t += gap % 7 === 0 ? gap : gap % 50));
          const { out, told } = run(clock, throttle, times);
          // Fixed windows: any span of a window's length overlaps two of them.
          assert.ok(mostInWindow(out, 1_000) <= 2 * perSecond);
          assert.ok(mostInWindow(out, 60_000) <= 2 * LOG_LINES_PER_MINUTE_PER_SECOND * perSecond);
          assert.ok(mostInWindow(out, 3_600_000) <= 2 * LOG_LINES_PER_HOUR_PER_SECOND * perSecond);
          clock.now = t + 3_600_000;
          const last = throttle.take();
          assert.notEqual(last, null, 'an hour later a line goes out');
          assert.equal(out.length + told + (last ?? 0), times.length, 'every line let out or counted');
        },
      ),
      fcParams(200, 'log throttle bounds and counts'),
    );
  });
});
