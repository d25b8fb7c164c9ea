/**
 * The verdict of the memory-bounded soak (bench/soak.ts): per agent, the least-squares slope of
 * its anonymous resident memory (RssAnon: V8's heap, buffers and malloc, not the node binary's or
 * LMDB's mapped file pages, which the kernel can drop) after warm-up, with its 95% confidence
 * interval, judged against a stated slope: the agent passes when the whole interval lies at or
 * below it (RssAnon is shown flat within the bound), and fails otherwise (it grows, or the
 * samples are too noisy to show it does not). Pure and tested (test/bench/soak-analysis.test.ts).
 */

/** One reading of one agent. */
export interface SoakSample {
  /** Since the load started, ms. */
  readonly atMs: number;
  readonly rssBytes: number;
  readonly rssAnonBytes: number;
  /** RssFile (mapped files: the node binary, native modules, LMDB's map); 0 when unknown. */
  readonly rssFileBytes?: number;
}

/** A least-squares line through points, with the standard error of its slope. */
export interface LineFit {
  readonly slope: number;
  readonly intercept: number;
  /** Standard error of the slope (0 when every point is on the line). */
  readonly slopeStandardError: number;
  readonly points: number;
}

/** What one agent did over the soak. */
export interface SoakMemberFigures {
  readonly samples: number;
  readonly rssPeakBytes: number;
  readonly rssAnonPeakBytes: number;
  readonly rssFilePeakBytes: number;
  /** RssAnon at the end of warm-up and at the end (first and last sample after warm-up). */
  readonly rssAnonAfterWarmupBytes: number | null;
  readonly rssAnonEndBytes: number | null;
  /** Least-squares slope of RssAnon after warm-up, bytes per minute; null with fewer than 3 samples. */
  readonly rssAnonSlopeBytesPerMinute: number | null;
  /** The slope's 95% confidence interval, bytes per minute; null with fewer than 3 samples. */
  readonly rssAnonSlopeLowBytesPerMinute: number | null;
  readonly rssAnonSlopeHighBytesPerMinute: number | null;
  /** The slope's growth over the post-warm-up window, bytes. */
  readonly fittedGrowthBytes: number | null;
  /** True unless the slope's 95% interval lies at or below the bound (fewer than 3 samples: a leak, unproven flat). */
  readonly leak: boolean;
}

/**
 * The bound on RssAnon's slope after warm-up, bytes per minute: a leak of 1 MiB a minute fills the
 * 40-60 MiB between a loaded agent and the unit's MemoryHigh within the hour. It is also about
 * the least a 10-minute soak resolves: V8's collections swing RssAnon by 5-15 MiB between samples,
 * which leaves the slope of 8 minutes of 5-second samples a 95% interval of a few tenths of a MiB
 * a minute. A slower leak needs a longer soak (--minutes) and a smaller bound (--leak-mib-per-minute).
 */
export const LEAK_SLOPE_BYTES_PER_MINUTE = 1024 * 1024;

/** Two-sided 95% critical values of Student's t for 1 to 30 degrees of freedom. */
const T_95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The two-sided 95% critical value of Student's t with `df` degrees of freedom (the normal's 1.96 past 30). */
export function tCritical95(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`degrees of freedom must be a positive integer, got ${df}`);
  return T_95[df - 1] ?? 1.96;
}

/** The least-squares line through `points`; null with fewer than 3 points or no spread in x. */
export function fitLine(points: readonly (readonly [number, number])[]): LineFit | null {
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
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const residuals = points.reduce((s, [x, y]) => s + (y - intercept - slope * x) ** 2, 0);
  return { slope, intercept, slopeStandardError: Math.sqrt(residuals / (n - 2) / sxx), points: n };
}

/** The least-squares slope of y over x; null with fewer than 3 points or no spread in x. */
export function slope(points: readonly (readonly [number, number])[]): number | null {
  return fitLine(points)?.slope ?? null;
}

const peak = (values: readonly number[]): number => values.reduce((a, b) => Math.max(a, b), 0);

/**
 * One agent's figures from its samples; samples before `warmupMs` only count for the peaks. A
 * leak unless the 95% interval of RssAnon's slope after warm-up lies at or below `boundBytesPerMinute`.
 */
export function soakFigures(
  samples: readonly SoakSample[],
  warmupMs: number,
  boundBytesPerMinute = LEAK_SLOPE_BYTES_PER_MINUTE,
): SoakMemberFigures {
  const after = samples.filter((s) => s.atMs >= warmupMs);
  const fit = fitLine(after.map((s) => [s.atMs / 60_000, s.rssAnonBytes]));
  const first = after[0];
  const last = after[after.length - 1];
  const windowMinutes = first !== undefined && last !== undefined ? (last.atMs - first.atMs) / 60_000 : 0;
  const margin = fit === null ? null : tCritical95(fit.points - 2) * fit.slopeStandardError;
  const high = fit === null || margin === null ? null : fit.slope + margin;
  return {
    samples: samples.length,
    rssPeakBytes: peak(samples.map((s) => s.rssBytes)),
    rssAnonPeakBytes: peak(samples.map((s) => s.rssAnonBytes)),
    rssFilePeakBytes: peak(samples.map((s) => s.rssFileBytes ?? 0)),
    rssAnonAfterWarmupBytes: first?.rssAnonBytes ?? null,
    rssAnonEndBytes: last?.rssAnonBytes ?? null,
    rssAnonSlopeBytesPerMinute: fit?.slope ?? null,
    rssAnonSlopeLowBytesPerMinute: fit === null || margin === null ? null : fit.slope - margin,
    rssAnonSlopeHighBytesPerMinute: high,
    fittedGrowthBytes: fit === null ? null : fit.slope * windowMinutes,
    leak: high === null || high > boundBytesPerMinute,
  };
}

/** Whether an agent's output says V8 ran out of heap. */
export function isOutOfMemory(output: string): boolean {
  return /JavaScript heap out of memory|FATAL ERROR: .*(Allocation failed|Reached heap limit)/.test(output);
}
