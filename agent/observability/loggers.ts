/**
 * DiagnosticLogger implementations: pino (structured JSON on stdout, one object per line,
 * which journald stores as is) and a plain console logger for people. Neither is a global:
 * the agent builds one and injects it. Keys and other secrets are never passed to a logger.
 */
import { pino } from 'pino';
import type { Logger as PinoInstance } from 'pino';
import type { LogFields, LogLevel } from '../../contracts/logger.js';
import { isoTime, pinoIsoTime } from './iso-time.js';
import { LevelledLogger } from './noop.js';

const LEVEL_ORDER: Readonly<Record<LogLevel, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warning: 40,
  error: 50,
  critical: 60,
};

/** pino's name for each of our levels (`warning` is pino's `warn`, `critical` its `fatal`). */
const PINO_LEVEL: Readonly<Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'>> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
};

/**
 * Structured JSON logs through pino, to stdout (fd 1) by default. Every line carries the
 * `base` fields (e.g. `node`) once: callers also pass `node` in their fields, for loggers
 * without a base, and pino would print a key of its bindings and of the call twice, so the
 * base is merged here instead, a field of the call replacing a base field of the same name.
 */
export class PinoLogger extends LevelledLogger {
  private readonly pino: PinoInstance;
  private readonly base: LogFields;

  constructor(options: { readonly level: LogLevel; readonly base?: LogFields; readonly fd?: number }) {
    super();
    this.base = { ...options.base };
    // base: null leaves out pino's own pid and hostname; journald records both already.
    this.pino = pino(
      { level: PINO_LEVEL[options.level], base: null, timestamp: pinoIsoTime },
      pino.destination({ fd: options.fd ?? 1, sync: true }),
    );
  }

  log(level: LogLevel, message: string, fields: LogFields = {}): void {
    this.pino[PINO_LEVEL[level]]({ ...this.base, ...fields }, message);
  }

  flush(): void {
    this.pino.flush();
  }
}

/** Plain lines for a terminal: time, level, message, then key=value fields. */
export class ConsoleLogger extends LevelledLogger {
  constructor(
    private readonly level: LogLevel,
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
  ) {
    super();
  }

  log(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (LEVEL_ORDER[level] < LEVEL_ORDER[this.level]) return;
    const rest = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : String(v)}`)
      .join(' ');
    this.write(`${isoTime(Date.now())} ${level.toUpperCase().padEnd(8)} ${message}${rest === '' ? '' : ` ${rest}`}\n`);
  }
}
