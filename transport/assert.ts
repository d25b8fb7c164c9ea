/**
 * Assertions for the transports. A failed assertion is a bug in coraft, never an operating
 * condition: it throws InvariantError and is not caught to continue. (The core's own assert
 * lives in agent/core, which components do not import.)
 */
import { InvariantError } from '../agent/contracts.js';

/** Throws InvariantError with `message` unless `condition` holds. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Marks a branch the type system proves unreachable (the end of every union switch). */
export function assertNever(value: never, message = 'unexpected value'): never {
  throw new InvariantError(`${message}: ${JSON.stringify(value)}`);
}
