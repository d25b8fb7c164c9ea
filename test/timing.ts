// Timing of the tests on slow machines. The tests' deadlines and mocha timeouts are sized for a
// native run; under emulation (`npm run test:arm` runs ARM node through qemu-user, 10 to 40
// times slower) the same work takes longer, and a deadline that expires there says nothing
// about the code. CORAFT_TEST_TIME_FACTOR (set by test/arm/run.ts, unset elsewhere) says how
// much slower the run is; the tests' timing helpers multiply their deadlines by it. Only
// deadlines scale, never what a test asserts about the code's own behaviour.

/** The environment variable that holds the slow-down factor (a number from 1 to 1000). */
export const TIME_FACTOR_ENV = 'CORAFT_TEST_TIME_FACTOR';
/** The largest factor accepted (a typo such as 10000 would make a hung test wait for days). */
const TIME_FACTOR_MAX = 1000;

/** Parses a factor as CORAFT_TEST_TIME_FACTOR holds it: 1 when unset, else a number from 1 to 1000. */
export function parseTimeFactor(text: string | undefined): number {
  if (text === undefined || text === '') return 1;
  const factor = Number(text);
  if (!Number.isFinite(factor) || factor < 1 || factor > TIME_FACTOR_MAX) {
    throw new Error(`${TIME_FACTOR_ENV}=${text}: expected a number from 1 to ${TIME_FACTOR_MAX}`);
  }
  return factor;
}

/** How many times slower than native this run is (1 on a native run). */
export const TIME_FACTOR = parseTimeFactor(process.env[TIME_FACTOR_ENV]);

/** `ms`, a deadline sized for a native run, scaled for this run. */
export function scaledMs(ms: number): number {
  return Math.round(ms * TIME_FACTOR);
}
