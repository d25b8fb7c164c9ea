/**
 * Small helpers for the CLI's option parsing on top of node:util parseArgs: integer options
 * with their limits, and usage errors that name the option.
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { ConfigError, describeError } from '../../contracts/errors.js';

/** A command-line usage error (exit code 2). */
export class UsageError extends Error {
  override get name(): string {
    return 'UsageError';
  }
}

/** Parses `args` with `options`, turning parseArgs errors into UsageErrors. */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeError(error));
  }
}

/** Reads an integer option within [min, max], or `fallback` when absent. */
export function intOption(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError([`--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`]);
  }
  return parsed;
}
