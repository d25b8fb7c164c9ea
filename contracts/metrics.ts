/**
 * The Metrics port (reference concept `metrics`): counters, gauges and distributions, named from
 * the catalog of every metric the agent emits (metric-catalog.ts).
 */
import type { CounterName, GaugeName, HistogramName } from './metric-catalog.js';

/** Dimensions (labels) of one metric sample. */
export type MetricDimensions = Readonly<Record<string, string>>;

/**
 * Metrics recording (reference `metrics`). The reference's stateful builder
 * (`set_metric_name`, `add_dimension`, then `add_one` / `add_count` / `add_duration` /
 * `add_value`, then `emit`) becomes one call per sample naming the metric and its dimensions:
 * `increment` is add_one/add_count, `observeDurationMs` is add_duration, `setGauge` and
 * `observe` are add_value for levels and distributions, and `flush` is emit.
 */
export interface Metrics {
  increment(name: CounterName, count?: number, dimensions?: MetricDimensions): void;
  setGauge(name: GaugeName, value: number, dimensions?: MetricDimensions): void;
  observe(name: HistogramName, value: number, dimensions?: MetricDimensions): void;
  observeDurationMs(name: HistogramName, durationMs: number, dimensions?: MetricDimensions): void;
  flush(): Promise<void>;
}
