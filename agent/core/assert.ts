/**
 * Assertions that stay on in production. A failed assertion is a bug: it throws
 * `InvariantError`, the process stops, and the node restarts from what it persisted.
 */
import { InvariantError } from '../errors.js';

/** Throws InvariantError with `message` unless `condition` holds. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Marks a branch that the type system proves unreachable (the end of every union switch). */
export function assertNever(value: never, message = 'unexpected value'): never {
  throw new InvariantError(`${message}: ${JSON.stringify(value)}`);
}
