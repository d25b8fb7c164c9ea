/**
 * Metrics implementations behind the Metrics contract: Prometheus (prom-client, its own
 * registry, served on a loopback HTTP port at /metrics), StatsD (hot-shots), CloudWatch
 * embedded metric format (JSON lines to a file or stdout; no AWS access needed). The number of
 * series each keeps is bounded: past `seriesMax`, new series are dropped and counted.
 *
 * prom-client and hot-shots are optional peer dependencies (package.json), left out of a
 * production install: `PrometheusMetrics.create` and `StatsdMetrics.create` import them when the
 * configuration asks for that backend, and throw a ConfigError saying what to install when
 * they are absent (optional-package.ts).
 */
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type * as HotShots from 'hot-shots';
import type { StatsD } from 'hot-shots';
import type { MetricDimensions, Metrics } from '../../contracts/metrics.js';
import type { HostPort } from '../config/agent-config.js';
import { describeError } from '../../contracts/errors.js';
import { importOptional } from './optional-package.js';

/** The prom-client module. */
export type PromClientModule = typeof PromClient;
/** The hot-shots module. */
export type HotShotsModule = typeof HotShots;

function isPromClient(value: unknown): value is PromClientModule {
  if (typeof value !== 'object' || value === null) return false;
  return ['Registry', 'Counter', 'Gauge', 'Histogram'].every((name) => typeof Reflect.get(value, name) === 'function');
}

function isHotShots(value: unknown): value is HotShotsModule {
  return typeof value === 'object' && value !== null && typeof Reflect.get(value, 'StatsD') === 'function';
}

/** prom-client, imported now; ConfigError when it is not installed. */
export function importPromClient(): Promise<PromClientModule> {
  return importOptional('prom-client', 'metrics.kind "prometheus"', () => import('prom-client'), isPromClient);
}

/** hot-shots, imported now; ConfigError when it is not installed. */
export function importHotShots(): Promise<HotShotsModule> {
  return importOptional('hot-shots', 'metrics.kind "statsd"', () => import('hot-shots'), isHotShots);
}

/** Most metric series one implementation keeps. */
export const SERIES_MAX = 2000;

/** Histogram buckets for durations, ms. */
const DURATION_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 2500, 5000];

function metricName(prefix: string, name: string): string {
  return `${prefix}_${name}`.replace(/[^a-zA-Z0-9_:]/g, '_');
}

/** Prometheus metrics on a registry of their own. */
export class PrometheusMetrics implements Metrics {
  readonly registry: Registry;
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly histograms = new Map<string, Histogram>();
  private server: Server | null = null;
  droppedSeries = 0;

  /** Metrics named `prefix`_*, on prom-client as `promClient` (see create). */
  constructor(
    private readonly prefix: string,
    private readonly promClient: PromClientModule,
  ) {
    this.registry = new promClient.Registry();
  }

  /** Imports prom-client (ConfigError when it is not installed) and makes the metrics. */
  static async create(prefix: string): Promise<PrometheusMetrics> {
    return new PrometheusMetrics(prefix, await importPromClient());
  }

  private full(): boolean {
    return this.counters.size + this.gauges.size + this.histograms.size >= SERIES_MAX;
  }

  private get<T>(
    map: Map<string, T>,
    name: string,
    dimensions: MetricDimensions,
    make: (full: string, labels: string[]) => T,
  ): T | null {
    const existing = map.get(name);
    if (existing !== undefined) return existing;
    if (this.full()) {
      this.droppedSeries += 1;
      return null;
    }
    const metric = make(metricName(this.prefix, name), Object.keys(dimensions).sort());
    map.set(name, metric);
    return metric;
  }

  increment(name: string, count = 1, dimensions: MetricDimensions = {}): void {
    this.get(
      this.counters,
      name,
      dimensions,
      (full, labelNames) =>
        new this.promClient.Counter({ name: full, help: name, labelNames, registers: [this.registry] }),
    )?.inc(dimensions, count);
  }

  setGauge(name: string, value: number, dimensions: MetricDimensions = {}): void {
    this.get(
      this.gauges,
      name,
      dimensions,
      (full, labelNames) =>
        new this.promClient.Gauge({ name: full, help: name, labelNames, registers: [this.registry] }),
    )?.set(dimensions, value);
  }

  observe(name: string, value: number, dimensions: MetricDimensions = {}): void {
    this.get(
      this.histograms,
      name,
      dimensions,
      (full, labelNames) =>
        new this.promClient.Histogram({
          name: full,
          help: name,
          labelNames,
          buckets: DURATION_BUCKETS_MS,
          registers: [this.registry],
        }),
    )?.observe(dimensions, value);
  }

  observeDurationMs(name: string, durationMs: number, dimensions: MetricDimensions = {}): void {
    this.observe(name, durationMs, dimensions);
  }

  async flush(): Promise<void> {}

  /** Serves /metrics on `listen` (loopback by default). */
  listen(listen: HostPort): Promise<void> {
    const server = createServer((request, response) => {
      if (request.url !== '/metrics') {
        response.writeHead(404).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(`${describeError(error)}\n`),
      );
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
  }

  /** The address /metrics is served on, once listening. */
  address(): HostPort | null {
    const address = this.server?.address();
    return address === undefined || address === null || typeof address === 'string'
      ? null
      : { host: address.address, port: address.port };
  }

  close(): Promise<void> {
    const server = this.server;
    if (server === null) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

/** Where StatsD metrics go, and their prefix. */
export interface StatsdOptions {
  readonly host: string;
  readonly port: number;
  readonly prefix: string;
}

/** StatsD metrics through hot-shots (UDP, fire and forget). */
export class StatsdMetrics implements Metrics {
  private readonly client: StatsD;
  errors = 0;

  /** A client of the StatsD server in `options`, on hot-shots as `hotShots` (see create). */
  constructor(options: StatsdOptions, hotShots: HotShotsModule) {
    this.client = new hotShots.StatsD({
      host: options.host,
      port: options.port,
      prefix: `${options.prefix}.`,
      errorHandler: () => {
        this.errors += 1;
      },
    });
  }

  /** Imports hot-shots (ConfigError when it is not installed) and makes the client. */
  static async create(options: StatsdOptions): Promise<StatsdMetrics> {
    return new StatsdMetrics(options, await importHotShots());
  }

  private tags(dimensions: MetricDimensions): string[] {
    return Object.entries(dimensions).map(([k, v]) => `${k}:${v}`);
  }

  increment(name: string, count = 1, dimensions: MetricDimensions = {}): void {
    this.client.increment(name, count, this.tags(dimensions));
  }

  setGauge(name: string, value: number, dimensions: MetricDimensions = {}): void {
    this.client.gauge(name, value, this.tags(dimensions));
  }

  observe(name: string, value: number, dimensions: MetricDimensions = {}): void {
    this.client.histogram(name, value, this.tags(dimensions));
  }

  observeDurationMs(name: string, durationMs: number, dimensions: MetricDimensions = {}): void {
    this.client.timing(name, durationMs, this.tags(dimensions));
  }

  flush(): Promise<void> {
    return new Promise((resolve) => this.client.close(() => resolve()));
  }
}

interface EmfSeries {
  readonly name: string;
  readonly dimensions: MetricDimensions;
  readonly unit: 'Count' | 'None' | 'Milliseconds';
  values: number[];
}

/** Most values an EMF series buffers between flushes. */
const EMF_VALUES_MAX = 100;

/**
 * CloudWatch embedded metric format: each flush writes one JSON object per series to a file
 * (or stdout), which the CloudWatch agent turns into metrics without any API call.
 */
export class EmfMetrics implements Metrics {
  private readonly series = new Map<string, EmfSeries>();
  droppedSeries = 0;

  constructor(
    private readonly namespace: string,
    private readonly write: (line: string) => void,
    private readonly nowMs: () => number = () => Date.now(),
  ) {}

  /** EMF lines appended to `file`, or written to stdout when `file` is null. */
  static toFile(namespace: string, file: string | null): EmfMetrics {
    return new EmfMetrics(
      namespace,
      file === null ? (line) => process.stdout.write(line) : (line) => appendFileSync(file, line),
    );
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
    else if (!accumulate && unit === 'None' && series.values.length > 0) series.values = [value];
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
      this.write(`${JSON.stringify(document)}\n`);
      series.values = [];
    }
    return Promise.resolve();
  }
}
