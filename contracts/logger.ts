/**
 * The DiagnosticLogger port (reference concept `diagnostic_logger`): structured logging.
 */

/** Log levels of the reference, `warning` and `critical` included. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical';

/** Structured key-value context of one log record. */
export type LogFields = Readonly<Record<string, string | number | boolean | null>>;

/** Structured logging (reference `diagnostic_logger`). */
export interface DiagnosticLogger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
  trace(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warning(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  critical(message: string, fields?: LogFields): void;
}
