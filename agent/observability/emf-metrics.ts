/**
 * CloudWatch embedded metric format: each flush writes one JSON object per series to a file (or
 * stdout), which the CloudWatch agent turns into metrics without any API call.
 *
 * An agent at rest writes nothing to flash for its gauges (issue 17): a gauge is written when its
 * value changed since it was last written, not at every flush (an idle member sets its commit and
 * applied index again on every Ready). Counters and histograms are written when they moved. The
 * file is bounded: past {@link EMF_FILE_BYTES_MAX} it is renamed to FILE.1 (replacing the one
 * before) and a new one begun, the rotation the CloudWatch agent follows. A write that fails (a
 * full disk, a removed folder) drops that flush's lines, counted, and is said once on stderr (the
 * agent's log) until a write succeeds again: metrics never stop the agent.
 */
import { appendFileSync, renameSync, statSync } from 'node:fs';
import type { MetricDimensions, Metrics } from '../../contracts/metrics.js';
import { describeError } from '../../contracts/errors.js';
import { SERIES_MAX } from '../../contracts/metric-catalog.js';

/** Most values an EMF series buffers between flushes. */
export const EMF_VALUES_MAX = 100;
/** Largest EMF file before it is rotated to FILE.1: the two together stay under twice this. */
export const EMF_FILE_BYTES_MAX = 16 * 2 ** 20;

interface EmfSeries {
  readonly name: string;
  readonly dimensions: MetricDimensions;
  readonly unit: 'Count' | 'None' | 'Milliseconds';
  values: number[];
  /** A gauge's value as last written; undefined before its first write, and for other kinds. */
  written?: number;
}

/** Appends text to `file`, rotating it to `file.1` past `bytesMax`; throws what the file system throws. */
export class RotatingFile {
  private bytes: number | null = null;

  constructor(
    private readonly file: string,
    private readonly bytesMax: number = EMF_FILE_BYTES_MAX,
  ) {}

  write(text: string): void {
    if (this.bytes === null) this.bytes = sizeOf(this.file);
    const length = Buffer.byteLength(text);
    if (this.bytes > 0 && this.bytes + length > this.bytesMax) {
      renameSync(this.file, `${this.file}.1`);
      this.bytes = 0;
    }
    appendFileSync(this.file, text);
    this.bytes += length;
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** CloudWatch EMF metrics, written by `write` (one call per flush with every line). */
export class EmfMetrics implements Metrics {
  private readonly series = new Map<string, EmfSeries>();
  droppedSeries = 0;
  /** Flushes whose write failed (their lines are dropped). */
  failedWrites = 0;
  private failing = false;

  constructor(
    private readonly namespace: string,
    private readonly write: (text: string) => void,
    private readonly nowMs: () => number = () => Date.now(),
    private readonly warn: (message: string) => void = (message) => console.error(message),
  ) {}

  /** EMF lines appended to `file` (rotated, see {@link RotatingFile}), or written to stdout when `file` is null. */
  static toFile(namespace: string, file: string | null): EmfMetrics {
    if (file === null) return new EmfMetrics(namespace, (text) => process.stdout.write(text));
    const rotating = new RotatingFile(file);
    return new EmfMetrics(namespace, (text) => rotating.write(text));
  }

  private record(
    name: string,
    value: number,
    dimensions: MetricDimensions,
    unit: EmfSeries['unit'],
    accumulate: boolean,
  ): void {
    const key = `${name}|${JSON.stringify(Object.entries(dimensions).sort())}`;
    let series = this.series.get(key);
    if (series === undefined) {
      if (this.series.size >= SERIES_MAX) {
        this.droppedSeries += 1;
        return;
      }
      series = { name, dimensions, unit, values: [] };
      this.series.set(key, series);
    }
    if (accumulate && series.values.length > 0) series.values[0] = (series.values[0] ?? 0) + value;
    else if (!accumulate && unit === 'None') series.values = series.written === value ? [] : [value];
    else if (series.values.length < EMF_VALUES_MAX) series.values.push(value);
  }

  increment(name: string, count = 1, dimensions: MetricDimensions = {}): void {
    this.record(name, count, dimensions, 'Count', true);
  }

  setGauge(name: string, value: number, dimensions: MetricDimensions = {}): void {
    this.record(name, value, dimensions, 'None', false);
  }

  observe(name: string, value: number, dimensions: MetricDimensions = {}): void {
    this.record(name, value, dimensions, 'Count', false);
  }

  observeDurationMs(name: string, durationMs: number, dimensions: MetricDimensions = {}): void {
    this.record(name, durationMs, dimensions, 'Milliseconds', false);
  }

  flush(): Promise<void> {
    const timestamp = Math.floor(this.nowMs());
    const lines: string[] = [];
    const gauges: [EmfSeries, number][] = [];
    for (const series of this.series.values()) {
      if (series.values.length === 0) continue;
      const dimensionNames = Object.keys(series.dimensions).sort();
      const document = {
        _aws: {
          Timestamp: timestamp,
          CloudWatchMetrics: [
            {
              Namespace: this.namespace,
              Dimensions: [dimensionNames],
              Metrics: [{ Name: series.name, Unit: series.unit }],
            },
          ],
        },
        ...series.dimensions,
        [series.name]: series.values.length === 1 ? series.values[0] : series.values,
      };
      lines.push(`${JSON.stringify(document)}\n`);
      const first = series.values[0];
      if (series.unit === 'None' && first !== undefined) gauges.push([series, first]);
      series.values = [];
    }
    if (lines.length > 0 && this.writeLines(lines.join('')))
      for (const [series, value] of gauges) series.written = value;
    return Promise.resolve();
  }

  /** Writes `text`; false when the write failed (said once until one succeeds). */
  private writeLines(text: string): boolean {
    try {
      this.write(text);
      if (this.failing) this.warn('metrics: EMF lines are written again');
      this.failing = false;
      return true;
    } catch (error) {
      this.failedWrites += 1;
      if (!this.failing)
        this.warn(`metrics: EMF lines cannot be written, dropped until they can: ${describeError(error)}`);
      this.failing = true;
      return false;
    }
  }
}
