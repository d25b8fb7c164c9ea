/**
 * Metrics implementations behind the Metrics contract: Prometheus (prom-client, its own
 * registry, served on a loopback HTTP port at /metrics) and StatsD (hot-shots); the CloudWatch
 * embedded metric format is emf-metrics.ts (JSON lines to a file or stdout). The number of
 * series each keeps is bounded: past `seriesMax`, new series are dropped and counted.
 *
 * prom-client and hot-shots are optional peer dependencies (package.json), left out of a
 * production install: `PrometheusMetrics.create` and `StatsdMetrics.create` import them when the
 * configuration asks for that backend, and throw a ConfigError saying what to install when
 * they are absent (optional-package.ts).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type * as PromClient from 'prom-client';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type * as HotShots from 'hot-shots';
import type { StatsD } from 'hot-shots';
import type { MetricDimensions, Metrics } from '../../contracts/metrics.js';
import { METRIC_CATALOG, SERIES_MAX } from '../../contracts/metric-catalog.js';
import type { CounterName, GaugeName, HistogramName, MetricName, MetricSpec } from '../../contracts/metric-catalog.js';
import type { HostPort } from '../config/agent-config.js';
import { describeError } from '../../contracts/errors.js';
import { importOptional } from './optional-package.js';
import { registerProcessMetrics } from './process-metrics.js';

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

export { SERIES_MAX };

/** Most connections /metrics holds at once; more are closed as they arrive. */
const SCRAPE_CONNECTIONS_MAX = 8;
/** How long /metrics waits for a request's headers and body, and keeps an idle connection, ms. */
const SCRAPE_TIMEOUT_MS = 10_000;

function metricName(prefix: string, name: string): string {
  return `${prefix}_${name}`.replace(/[^a-zA-Z0-9_:]/g, '_');
}

/**
 * Prometheus metrics on a registry of their own: the whole catalog (contracts/metric-catalog.ts),
 * registered at once with its help text and dimensions, and the process metrics
 * (process-metrics.ts: `process_resident_memory_bytes`, `process_cpu_seconds_total`, ...;
 * unprefixed, as every Node.js exporter names them).
 */
export class PrometheusMetrics implements Metrics {
  readonly registry: Registry;
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  private readonly histograms = new Map<string, Histogram>();
  /** Per metric with dimensions, the dimension values seen (their count is bounded by SERIES_MAX). */
  private readonly series = new Map<MetricName, Set<string>>();
  private seriesCount = 0;
  private server: Server | null = null;
  droppedSeries = 0;

  /** Metrics named `prefix`_*, on prom-client as `promClient` (see create). */
  constructor(prefix: string, promClient: PromClientModule, options: { readonly processMetrics?: boolean } = {}) {
    const registry = new promClient.Registry();
    this.registry = registry;
    for (const [name, spec] of Object.entries(METRIC_CATALOG) as [MetricName, MetricSpec][]) {
      const common = {
        name: metricName(prefix, name),
        help: spec.help,
        labelNames: [...spec.labels],
        registers: [registry],
      };
      if (spec.kind === 'counter') this.counters.set(name, new promClient.Counter(common));
      else if (spec.kind === 'gauge') this.gauges.set(name, new promClient.Gauge(common));
      else this.histograms.set(name, new promClient.Histogram({ ...common, buckets: [...(spec.buckets ?? [])] }));
    }
    if (options.processMetrics ?? true) registerProcessMetrics(promClient, registry);
  }

  /** Imports prom-client (ConfigError when it is not installed) and makes the metrics. */
  static async create(prefix: string): Promise<PrometheusMetrics> {
    return new PrometheusMetrics(prefix, await importPromClient());
  }

  /**
   * Whether a sample of `name` with `dimensions` may be kept: dimensions its spec does not name
   * are refused (prom-client would throw), and past SERIES_MAX series of all metrics together a new
   * set of values is dropped and counted (dimension values can come from peers' messages).
   */
  private admit(name: MetricName, dimensions: MetricDimensions): boolean {
    const labels = METRIC_CATALOG[name].labels;
    let key = '';
    for (const dimension in dimensions) {
      if (!labels.includes(dimension)) {
        this.droppedSeries += 1;
        return false;
      }
    }
    if (labels.length === 0) return true;
    for (const label of labels) key += `${dimensions[label] ?? ''}\u0000`;
    let seen = this.series.get(name);
    if (seen?.has(key) === true) return true;
    if (this.seriesCount >= SERIES_MAX) {
      this.droppedSeries += 1;
      return false;
    }
    if (seen === undefined) this.series.set(name, (seen = new Set()));
    seen.add(key);
    this.seriesCount += 1;
    return true;
  }

  increment(name: CounterName, count = 1, dimensions: MetricDimensions = {}): void {
    if (this.admit(name, dimensions)) this.counters.get(name)?.inc(dimensions, count);
  }

  setGauge(name: GaugeName, value: number, dimensions: MetricDimensions = {}): void {
    if (this.admit(name, dimensions)) this.gauges.get(name)?.set(dimensions, value);
  }

  observe(name: HistogramName, value: number, dimensions: MetricDimensions = {}): void {
    if (this.admit(name, dimensions)) this.histograms.get(name)?.observe(dimensions, value);
  }

  observeDurationMs(name: HistogramName, durationMs: number, dimensions: MetricDimensions = {}): void {
    this.observe(name, durationMs, dimensions);
  }

  async flush(): Promise<void> {}

  /** Serves /metrics on `listen` (loopback by default). */
  listen(listen: HostPort): Promise<void> {
    const server = createServer(
      { requestTimeout: SCRAPE_TIMEOUT_MS, headersTimeout: SCRAPE_TIMEOUT_MS },
      (request, response) => {
        if (request.url !== '/metrics') {
          response.writeHead(404).end('not found\n');
          return;
        }
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          response.writeHead(405, { allow: 'GET, HEAD' }).end('method not allowed\n');
          return;
        }
        this.registry.metrics().then(
          (text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          (error: unknown) => response.writeHead(500).end(`${describeError(error)}\n`),
        );
      },
    );
    server.maxConnections = SCRAPE_CONNECTIONS_MAX;
    server.keepAliveTimeout = SCRAPE_TIMEOUT_MS;
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

/** Largest StatsD datagram: within a 1,500-byte Ethernet frame's UDP payload over IPv6. */
const STATSD_DATAGRAM_BYTES = 1432;
/** Longest a StatsD line waits for its datagram to fill, ms. */
const STATSD_FLUSH_MS = 1000;

/** StatsD metrics through hot-shots (UDP, fire and forget), lines gathered into datagrams. */
export class StatsdMetrics implements Metrics {
  private readonly client: StatsD;
  errors = 0;

  /** A client of the StatsD server in `options`, on hot-shots as `hotShots` (see create). */
  constructor(options: StatsdOptions, hotShots: HotShotsModule) {
    this.client = new hotShots.StatsD({
      host: options.host,
      port: options.port,
      prefix: `${options.prefix}.`,
      // Lines gathered into datagrams of at most STATSD_DATAGRAM_BYTES, sent when full or each
      // second: a loaded leader counts thousands of events a second, and one datagram (one system
      // call) per event cost more than the event.
      maxBufferSize: STATSD_DATAGRAM_BYTES,
      bufferFlushInterval: STATSD_FLUSH_MS,
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
