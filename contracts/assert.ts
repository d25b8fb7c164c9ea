/**
 * Assertions that stay on in production, for every layer. A failed assertion is a bug in
 * coraft, never an operating condition: it throws `InvariantError`, which is not caught to
 * continue; the process stops and the node restarts from what it persisted.
 */
import { InvariantError } from './errors.js';

/** Throws InvariantError with `message` unless `condition` holds. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Marks a branch that the type system proves unreachable (the end of every union switch). */
export function assertNever(value: never, message = 'unexpected value'): never {
  throw new InvariantError(`${message}: ${JSON.stringify(value)}`);
}

/** Throws InvariantError unless `value` is a non-negative safe integer. */
export function assertIndex(value: number, what: string): void {
  assert(Number.isSafeInteger(value) && value >= 0, `${what} is not a non-negative safe integer: ${value}`);
}
