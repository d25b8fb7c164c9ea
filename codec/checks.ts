/**
 * The value checks every codec applies, and the SerializationErrors they throw. Each check
 * takes the value as `unknown` plus the path of the record it sits in and the field name, and
 * builds the path string only when it fails, so that the checks cost nothing on the hot path
 * beyond the test itself.
 */
import { InvariantError, SerializationError } from '../contracts/errors.js';
import { ADDRESS_CHARS_MAX, ERROR_CODE_CHARS_MAX, ERROR_MESSAGE_CHARS_MAX, NODE_ID_CHARS_MAX } from './limits.js';

/** Throws InvariantError unless `condition` holds: a bug in the codec, never bad input. */
export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

/**
 * Where a value sits: a path string, or a reader whose `path` is only built when an error
 * needs it (building it for every field read would cost more than the checks themselves).
 */
export type At = string | { readonly path: string };

/** Marks a branch the type system proves unreachable (the end of every switch over a union). */
export function unreachable(value: never): never {
  throw new InvariantError(`unexpected value: ${String(value)}`);
}

/** A CODEC_MALFORMED error at `at.field`. */
export function malformed(at: At, field: string, problem: string): SerializationError {
  return new SerializationError('CODEC_MALFORMED', `${joinPath(at, field)}: ${problem}`);
}

/** A CODEC_LIMIT error at `at.field`. */
export function overLimit(at: At, field: string, problem: string): SerializationError {
  return new SerializationError('CODEC_LIMIT', `${joinPath(at, field)}: ${problem}`);
}

/** `at.field`, or `at` alone when `field` is empty. */
export function joinPath(at: At, field: string): string {
  const base = typeof at === 'string' ? at : at.path;
  if (field === '') return base;
  return field.startsWith('[') ? `${base}${field}` : `${base}.${field}`;
}

/** A short description of a value for an error message; never echoes long input back. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (typeof value === 'number') return `the number ${String(value)}`;
  if (typeof value === 'bigint') return `the big integer ${value.toString().slice(0, 24)}`;
  if (typeof value === 'boolean') return `the boolean ${String(value)}`;
  if (typeof value === 'string')
    return value.length <= 24 ? `the string ${JSON.stringify(value)}` : `a string of ${value.length} chars`;
  return `a value of type ${typeof value}`;
}

/** Returns `value` if it is a non-negative safe integer (with -0 read as 0). */
export function checkUint(value: unknown, at: At, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(at, field, `expected a non-negative safe integer, got ${describe(value)}`);
  }
  return value + 0;
}

/** Returns the name whose code (its position + 1 in `names`) is `value`; `what` names the enumeration. */
export function checkCode<N extends string>(
  names: readonly N[],
  what: string,
  value: unknown,
  at: At,
  field: string,
): N {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) {
    const name = names[value - 1];
    if (name !== undefined) return name;
  }
  throw malformed(at, field, `expected ${what} code from 1 to ${names.length}, got ${describe(value)}`);
}

/** Returns `value` if it is a boolean. */
export function checkBool(value: unknown, at: At, field: string): boolean {
  if (typeof value !== 'boolean') throw malformed(at, field, `expected a boolean, got ${describe(value)}`);
  return value;
}

/** What a text field may hold. */
export interface TextRule {
  /** What the field is, for error messages. */
  readonly what: string;
  /** Fewest UTF-16 code units. */
  readonly charsMin: number;
  /** Most UTF-16 code units (a fixed bound of the format, so more is CODEC_MALFORMED). */
  readonly charsMax: number;
  /** Characters the text must not contain; lone surrogates are always refused. */
  readonly forbidden: RegExp;
}

/** Node ids: 1 to 64 code units, no control characters. */
export const NODE_ID_RULE: TextRule = {
  what: 'node id',
  charsMin: 1,
  charsMax: NODE_ID_CHARS_MAX,
  forbidden: /[\p{Cc}\p{Cs}]/u,
};
/** Member addresses: at most 255 code units (empty in simulation), no control characters. */
export const ADDRESS_RULE: TextRule = {
  what: 'address',
  charsMin: 0,
  charsMax: ADDRESS_CHARS_MAX,
  forbidden: /[\p{Cc}\p{Cs}]/u,
};
/** Error codes: '' or an upper-case identifier such as RAFT_NOT_LEADER. */
export const ERROR_CODE_RULE: TextRule = {
  what: 'error code',
  charsMin: 0,
  charsMax: ERROR_CODE_CHARS_MAX,
  forbidden: /[^A-Z0-9_]/u,
};
/** Error messages: any well-formed text up to 4096 code units. */
export const ERROR_MESSAGE_RULE: TextRule = {
  what: 'error message',
  charsMin: 0,
  charsMax: ERROR_MESSAGE_CHARS_MAX,
  forbidden: /\p{Cs}/u,
};

/**
 * Returns `value` if it is a string obeying `rule`. Lone surrogates are refused everywhere:
 * they cannot be written as UTF-8, so CBOR and protobuf could not carry them faithfully.
 */
export function checkText(value: unknown, rule: TextRule, at: At, field: string): string {
  if (typeof value !== 'string') throw malformed(at, field, `expected a ${rule.what} string, got ${describe(value)}`);
  if (value.length > rule.charsMax) {
    throw malformed(at, field, `${rule.what} of ${value.length} chars exceeds ${rule.charsMax}`);
  }
  if (value.length < rule.charsMin) throw malformed(at, field, `${rule.what} must not be empty`);
  if (rule.forbidden.test(value)) throw malformed(at, field, `${rule.what} contains a forbidden character`);
  return value;
}

/** Returns `value` as a plain Uint8Array view (no copy) if it is a Uint8Array of at most `max` bytes. */
export function checkBytes(value: unknown, max: number, limitName: string, at: At, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(at, field, `expected a byte string, got ${describe(value)}`);
  checkByteLength(value.byteLength, max, limitName, at, field);
  return asPlainBytes(value);
}

/** Throws CODEC_LIMIT when `length` exceeds `max` (named `limitName` in the message). */
export function checkByteLength(length: number, max: number, limitName: string, at: At, field: string): void {
  if (length > max) throw overLimit(at, field, `${length} bytes exceed ${limitName} (${max})`);
}

/**
 * Throws when a list of `length` items exceeds `max`: CODEC_LIMIT for a configurable limit
 * (`configurable`), CODEC_MALFORMED for a fixed bound of the format.
 */
export function checkCount(
  length: number,
  max: number,
  limitName: string,
  configurable: boolean,
  at: At,
  field: string,
): void {
  if (length <= max) return;
  const problem = `${length} items exceed ${limitName} (${max})`;
  throw configurable ? overLimit(at, field, problem) : malformed(at, field, problem);
}

/**
 * A plain Uint8Array over the same memory as `bytes` (a Buffer becomes a Uint8Array view), so
 * that decoded messages compare equal with `deepStrictEqual` whatever the decoder returned.
 */
export function asPlainBytes(bytes: Uint8Array): Uint8Array {
  // A constructor check is much cheaper than Object.getPrototypeOf on this hot path.
  if (bytes.constructor === Uint8Array) return bytes;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
