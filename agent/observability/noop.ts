/**
 * Loggers and metrics that record nothing or record in memory: for tests, the simulator and
 * embedders that bring their own observability.
 */
import type { DiagnosticLogger, LogFields, LogLevel } from '../../contracts/logger.js';
import type { MetricDimensions, Metrics } from '../../contracts/metrics.js';

/** Metrics that record nothing (reference `noop_metrics`). */
export class NoopMetrics implements Metrics {
  increment(_name: string, _count?: number, _dimensions?: MetricDimensions): void {}
  setGauge(_name: string, _value: number, _dimensions?: MetricDimensions): void {}
  observe(_name: string, _value: number, _dimensions?: MetricDimensions): void {}
  observeDurationMs(_name: string, _durationMs: number, _dimensions?: MetricDimensions): void {}
  async flush(): Promise<void> {}
}

/** One record of a {@link MemoryLogger}. */
export interface LogRecord {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

/** A logger whose per-level methods all go through `log`. */
export abstract class LevelledLogger implements DiagnosticLogger {
  abstract log(level: LogLevel, message: string, fields?: LogFields): void;
  trace(message: string, fields?: LogFields): void {
    this.log('trace', message, fields);
  }
  debug(message: string, fields?: LogFields): void {
    this.log('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.log('info', message, fields);
  }
  warning(message: string, fields?: LogFields): void {
    this.log('warning', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.log('error', message, fields);
  }
  critical(message: string, fields?: LogFields): void {
    this.log('critical', message, fields);
  }
}

/** A logger that keeps the last `recordsMax` records in memory (and can forward them). */
export class MemoryLogger extends LevelledLogger {
  readonly records: LogRecord[] = [];

  constructor(
    private readonly recordsMax = 10_000,
    private readonly forward: DiagnosticLogger | null = null,
  ) {
    super();
  }

  log(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (this.records.length >= this.recordsMax) this.records.shift();
    this.records.push({ level, message, fields });
    this.forward?.log(level, message, fields);
  }
}
