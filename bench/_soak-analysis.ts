/**
 * The verdict of the memory-bounded soak (bench/soak.ts) on each agent's anonymous resident memory
 * (RssAnon: V8's heap, buffers and malloc, not the node binary's or LMDB's mapped file pages,
 * which the kernel can drop) after warm-up. Pure and tested (test/bench/soak-analysis.test.ts).
 *
 * The question is whether the agent leaks: whether the memory it holds keeps growing at a steady
 * rate. RssAnon answers it only through three kinds of movement that are not a leak:
 * - V8's collections swing it by 5-15 MiB between samples (committed old space 28-48 MiB for a
 *   live heap of 20-35), a sawtooth whose samples are not independent;
 * - a snapshot's encoding adds a few MiB for a second or two, every snapshot;
 * - high-water marks rise in steps and stay: glibc's main heap keeps its largest extent (it
 *   shrinks only from its top), and V8 keeps old-space pages committed; the largest steps come at
 *   a leader change, when an agent takes up the leader's working set (a 10-minute soak at 64
 *   clients x 256 B: glibc's main heap 26.4 -> 31 -> 36.9 MiB on one agent within its 2nd to 4th
 *   minute, then flat to the end; in a 4-minute one a follower's 24.7 -> 33.5 in one step, while
 *   V8's heap used plus ArrayBuffer bytes stayed at a median of 53-57 MiB; three heap snapshots
 *   90 s apart on every agent showed no constructor and no container growing).
 * The least-squares slope with its 95% interval, the verdict until now, is reported still, but no
 * longer judges: a step anywhere in the window gives it a slope with a narrow interval though
 * nothing grows after the step, and the sawtooth's correlated residuals make the interval
 * narrower than it should be.
 *
 * The verdict compares the median of RssAnon over the last third of the window after warm-up with
 * its median over the middle third. A leak of r bytes a minute raises the whole distribution, so
 * the medians a third of the window apart differ by about r times a third of the window, and the
 * agent fails once that exceeds the bound times the same time (the same bound as before, per
 * minute). The median of a third (40 or more samples in a 10-minute soak) does not follow single
 * samples' swings or a snapshot's short peak, and a step during warm-up or the first third does
 * not count; a step in the last third does, and fails the soak: RssAnon was not flat then, and a
 * soak cannot tell a step that will stay from growth that goes on. A longer soak or warm-up
 * (--minutes, --warmup-minutes) settles such a case.
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
  /** Medians of RssAnon over the middle and the last third of the window after warm-up; null with too few samples. */
  readonly rssAnonMiddleMedianBytes: number | null;
  readonly rssAnonLastMedianBytes: number | null;
  /** What the bound allows between the two medians: the bound per minute times a third of the window, bytes. */
  readonly allowedRiseBytes: number | null;
  /**
   * True when the last third's median exceeds the middle third's by more than allowedRiseBytes, or
   * with fewer than MIN_SAMPLES_PER_THIRD samples in a third (unproven flat).
   */
  readonly leak: boolean;
}

/**
 * The bound on RssAnon's growth after warm-up, bytes per minute: a leak of 1 MiB a minute fills the
 * 40-60 MiB between a loaded agent and the unit's MemoryHigh within the hour. In a 10-minute soak
 * (5 of warm-up) it allows the last third's median 1.6-1.7 MiB above the middle third's; in one
 * at 64 clients x 256 B whose agents held still after warm-up (glibc's heap flat to 0.1 MiB, V8's
 * heap used plus ArrayBuffers lower), those medians moved by +1.0, -2.8 and -2.7 MiB. A slower
 * leak needs a longer soak (--minutes) and a smaller bound (--leak-kib-per-minute).
 */
export const LEAK_SLOPE_BYTES_PER_MINUTE = 1024 * 1024;

/** The fewest samples a third of the window after warm-up needs for its median to judge. */
export const MIN_SAMPLES_PER_THIRD = 5;

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

/** The median of `values` (the mean of the two middle ones for an even count); null when empty. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const half = Math.floor(sorted.length / 2);
  const upper = sorted[half] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[half - 1] ?? 0) + upper) / 2;
}

/** The middle and last thirds (by time) of `after`, with a third's length in minutes; null when too short. */
function thirds(after: readonly SoakSample[]) {
  const first = after[0];
  const last = after[after.length - 1];
  if (first === undefined || last === undefined || last.atMs <= first.atMs) return null;
  const third = (last.atMs - first.atMs) / 3;
  const middle = after.filter((s) => s.atMs >= first.atMs + third && s.atMs < first.atMs + 2 * third);
  const end = after.filter((s) => s.atMs >= first.atMs + 2 * third);
  return { middle, end, thirdMinutes: third / 60_000 };
}

/**
 * One agent's figures from its samples; samples before `warmupMs` only count for the peaks. A
 * leak when RssAnon's median over the last third of the window after warm-up exceeds its median
 * over the middle third by more than `boundBytesPerMinute` times a third of the window.
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
  const parts = thirds(after);
  const enough =
    parts !== null && parts.middle.length >= MIN_SAMPLES_PER_THIRD && parts.end.length >= MIN_SAMPLES_PER_THIRD;
  const middleMedian = enough ? median(parts.middle.map((s) => s.rssAnonBytes)) : null;
  const lastMedian = enough ? median(parts.end.map((s) => s.rssAnonBytes)) : null;
  const allowed = enough ? boundBytesPerMinute * parts.thirdMinutes : null;
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
    rssAnonMiddleMedianBytes: middleMedian,
    rssAnonLastMedianBytes: lastMedian,
    allowedRiseBytes: allowed,
    leak: middleMedian === null || lastMedian === null || allowed === null || lastMedian - middleMedian > allowed,
  };
}

/** Whether an agent's output says V8 ran out of heap. */
export function isOutOfMemory(output: string): boolean {
  return /JavaScript heap out of memory|FATAL ERROR: .*(Allocation failed|Reached heap limit)/.test(output);
}
