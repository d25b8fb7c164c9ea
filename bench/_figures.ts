/**
 * Small pure helpers of the comparison benches (vs-etcd, footprint): command-line options,
 * latency percentiles over a bounded sample buffer, ratios, units and plain-text tables.
 * Tested in test/bench/figures.test.ts.
 */

/** The value of `--name=value` or `--name value`, or `fallback`. */
export function option(args: readonly string[], name: string, fallback: string): string {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === `--${name}`) return args[i + 1] ?? fallback;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return fallback;
}

/** A positive integer option within [min, max]; throws naming the option otherwise. */
export function intOption(args: readonly string[], name: string, fallback: number, min: number, max: number): number {
  const text = option(args, name, String(fallback));
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new Error(`--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/**
 * A comma-separated list of integers within [min, max] (e.g. `--clients=1,16,64`); throws naming the option on bad
 * input.
 */
export function parseIntList(text: string, name: string, min: number, max: number): number[] {
  const items = text.split(',').map((s) => s.trim());
  const values = items.map(Number);
  const bad = items.filter(
    (s, i) => s === '' || !Number.isSafeInteger(values[i]) || (values[i] ?? 0) < min || (values[i] ?? 0) > max,
  );
  if (bad.length > 0)
    throw new Error(
      `--${name}: expected integers from ${min} to ${max} separated by commas, got ${JSON.stringify(text)}`,
    );
  return [...new Set(values)];
}

/**
 * The nearest-rank percentile of ascending `sorted` (p in [0, 1]): the smallest sample with at
 * least a fraction p of the samples at or below it. NaN for no samples.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? NaN;
}

/** Latencies of one measurement, in a buffer of fixed size; samples beyond it are counted, not kept. */
export class LatencyRecorder {
  private readonly samples: Float64Array;
  private kept = 0;
  private seen = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new Error(`LatencyRecorder: capacity must be a positive integer, got ${capacity}`);
    this.samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    this.seen += 1;
    if (this.kept < this.capacity) {
      this.samples[this.kept] = ms;
      this.kept += 1;
    }
  }

  /** Samples recorded, kept or not. */
  get count(): number {
    return this.seen;
  }

  /** The kept samples, ascending (a copy). */
  sorted(): Float64Array {
    return this.samples.slice(0, this.kept).sort();
  }

  /** p50, p99, p99.9 and the largest kept sample, ms rounded to 0.01; NaN when empty. */
  summary(): {
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly p999Ms: number;
    readonly maxMs: number;
    readonly truncated: boolean;
  } {
    const sorted = this.sorted();
    const r = (x: number): number => round(x, 2);
    return {
      p50Ms: r(percentile(sorted, 0.5)),
      p99Ms: r(percentile(sorted, 0.99)),
      p999Ms: r(percentile(sorted, 0.999)),
      maxMs: r(sorted[sorted.length - 1] ?? NaN),
      truncated: this.seen > this.kept,
    };
  }
}

/** `x` rounded to `digits` decimals. */
export function round(x: number, digits = 2): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : x;
}

/** a / b rounded to 0.01, or null when either is missing or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (
    a === null ||
    a === undefined ||
    b === null ||
    b === undefined ||
    !Number.isFinite(a) ||
    !Number.isFinite(b) ||
    b === 0
  )
    return null;
  return round(a / b, 2);
}

/** Bytes as MiB rounded to 0.1. */
export function mib(bytes: number): number {
  return round(bytes / 2 ** 20, 1);
}

/** A value size for people: `256 B`, `4 KiB`, `64 KiB`. */
export function sizeName(bytes: number): string {
  return bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

/** A cell: numbers with thousands separators (at most 2 decimals), null as '-'. */
export function cell(value: number | string | null | undefined): string {
  if (value === null || value === undefined || (typeof value === 'number' && Number.isNaN(value))) return '-';
  if (typeof value === 'string') return value;
  return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/**
 * A plain-text table: a header row, a rule and the rows, each column padded to its widest cell;
 * columns listed in `leftAligned` are padded on the right, the others (figures) on the left.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  leftAligned: readonly number[] = [0],
): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    headers
      .map((_, i) => {
        const text = cells[i] ?? '';
        const width = widths[i] ?? 0;
        return leftAligned.includes(i) ? text.padEnd(width) : text.padStart(width);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
