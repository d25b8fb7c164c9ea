/**
 * The assertion of storage/: a failed one is a bug (InvariantError), never an operating error.
 * Storage imports nothing from agent/ but the contracts, so it keeps its own copy of `assert`.
 */
import { InvariantError } from '../agent/contracts.js';

/** Throws InvariantError with `message` unless `condition` holds. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/** Throws InvariantError unless `value` is a non-negative safe integer. */
export function assertIndex(value: number, what: string): void {
  assert(Number.isSafeInteger(value) && value >= 0, `${what} is not a non-negative safe integer: ${value}`);
}
