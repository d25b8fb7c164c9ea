/**
 * Small helpers for the CLI's option parsing on top of node:util parseArgs: integer options
 * with their limits, and usage errors that name the option.
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { describeError } from '../../contracts/errors.js';

/** A command-line usage error (exit code 2). */
/**
 * The exit codes every command shares for a bad command line and a bad configuration: 2 (a usage
 * error: an unknown option, a missing or malformed argument) and 78 (EX_CONFIG, sysexits(3): an
 * agent.json, an inventory or a key file that is invalid), as `coraft agent` exits 78 too.
 */
export const CLI_EXIT = { usage: 2, config: 78 } as const;

export class UsageError extends Error {
  override get name(): string {
    return 'UsageError';
  }
}

/**
 * How many positional arguments a command takes: a count, or, for a command whose first positional
 * is a verb, the count (the verb included) for each verb. An unknown verb is left to the command,
 * which names the verbs there are.
 */
export type PositionalsMax = number | Readonly<Record<string, number>>;

/**
 * Parses `args` with `options`, turning parseArgs errors into UsageErrors. A positional argument
 * beyond `positionalsMax` (none by default) is a UsageError naming it: ignoring it would run
 * something else than what was asked (`kv put k hello world` storing "hello").
 */
export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(
  args: readonly string[],
  options: T,
  positionalsMax: PositionalsMax = 0,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs adds a hint about positional arguments that start with '-' to an unknown option: none of ours does.
    throw new UsageError(
      describeError(error).replace(/\. To specify a positional argument starting with a '-'.*$/s, ''),
    );
  }
  refuseExtraPositionals(parsed.positionals, positionalsMax);
  return parsed;
}

/** Throws a UsageError naming the first of `positionals` beyond `positionalsMax`. */
export function refuseExtraPositionals(positionals: readonly string[], positionalsMax: PositionalsMax): void {
  const verb = positionals[0];
  const max =
    typeof positionalsMax === 'number'
      ? positionalsMax
      : verb !== undefined && Object.hasOwn(positionalsMax, verb)
        ? positionalsMax[verb]
        : undefined;
  if (max === undefined || positionals.length <= max) return;
  const extra = positionals[max];
  const where =
    max === 0 ? ': this command takes options only' : ` after ${JSON.stringify(positionals.slice(0, max).join(' '))}`;
  throw new UsageError(`unexpected argument ${JSON.stringify(extra)}${where}`);
}

/** Reads an integer option within [min, max], or `fallback` when absent. */
export function intOption(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return parsed;
}
