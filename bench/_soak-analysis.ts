/**
 * The verdict of the memory-bounded soak (bench/soak.ts): per agent, the least-squares slope of
 * its anonymous resident memory (RssAnon: V8's heap and buffers, not LMDB's mapped file pages,
 * which grow with the data) after warm-up, and whether that is a leak. Pure and tested
 * (test/bench/soak-analysis.test.ts).
 */

/** One reading of one agent. */
export interface SoakSample {
  /** Since the load started, ms. */
  readonly atMs: number;
  readonly rssBytes: number;
  readonly rssAnonBytes: number;
}

/** What one agent did over the soak. */
export interface SoakMemberFigures {
  readonly samples: number;
  readonly rssPeakBytes: number;
  readonly rssAnonPeakBytes: number;
  /** RssAnon at the end of warm-up and at the end (first and last sample after warm-up). */
  readonly rssAnonAfterWarmupBytes: number | null;
  readonly rssAnonEndBytes: number | null;
  /** Least-squares slope of RssAnon after warm-up, bytes per minute; null with fewer than 3 samples. */
  readonly rssAnonSlopeBytesPerMinute: number | null;
  /** The slope's growth over the post-warm-up window, bytes. */
  readonly fittedGrowthBytes: number | null;
  readonly leak: boolean;
}

/** Growth after warm-up that counts as a leak: this many bytes, or this share of RssAnon after warm-up, if more. */
export const LEAK_GROWTH_BYTES_MIN = 8 * 1024 * 1024;
export const LEAK_GROWTH_SHARE = 0.1;

/** The least-squares slope of y over x; null with fewer than 3 points or no spread in x. */
export function slope(points: readonly (readonly [number, number])[]): number | null {
  if (points.length < 3) return null;
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) * (x - mx);
  }
  return sxx === 0 ? null : sxy / sxx;
}

/** One agent's figures from its samples; samples before `warmupMs` only count for the peaks. */
export function soakFigures(samples: readonly SoakSample[], warmupMs: number): SoakMemberFigures {
  const after = samples.filter((s) => s.atMs >= warmupMs);
  const perMinute = slope(after.map((s) => [s.atMs / 60_000, s.rssAnonBytes]));
  const first = after[0];
  const last = after[after.length - 1];
  const windowMinutes = first !== undefined && last !== undefined ? (last.atMs - first.atMs) / 60_000 : 0;
  const growth = perMinute === null ? null : perMinute * windowMinutes;
  const bound = Math.max(LEAK_GROWTH_BYTES_MIN, LEAK_GROWTH_SHARE * (first?.rssAnonBytes ?? 0));
  return {
    samples: samples.length,
    rssPeakBytes: Math.max(0, ...samples.map((s) => s.rssBytes)),
    rssAnonPeakBytes: Math.max(0, ...samples.map((s) => s.rssAnonBytes)),
    rssAnonAfterWarmupBytes: first?.rssAnonBytes ?? null,
    rssAnonEndBytes: last?.rssAnonBytes ?? null,
    rssAnonSlopeBytesPerMinute: perMinute,
    fittedGrowthBytes: growth,
    leak: growth !== null && growth > bound,
  };
}

/** Whether an agent's output says V8 ran out of heap. */
export function isOutOfMemory(output: string): boolean {
  return /JavaScript heap out of memory|FATAL ERROR: .*(Allocation failed|Reached heap limit)/.test(output);
}
