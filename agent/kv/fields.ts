/**
 * Strict reading of decoded CBOR: the bytes of the log and of clients are untrusted, so every
 * map must have exactly the expected fields and every field the expected type and range. A
 * problem throws SerializationError (CODEC_MALFORMED) whose message names the field; the
 * messages depend only on the input, so every replica reports the same one.
 */
import { Decoder } from 'cbor-x';
import { SerializationError } from '../../contracts/errors.js';

/** Builds the error for malformed input. */
export function malformed(message: string): SerializationError {
  return new SerializationError('CODEC_MALFORMED', message);
}

/**
 * What a refusal of a format's `version` adds when a later coraft wrote it (above `newest`, the
 * latest this build reads): the member that refuses it is the one to upgrade.
 */
export function laterVersionHint(version: unknown, newest: number): string {
  return typeof version === 'number' && version > newest
    ? ' (a later version of coraft wrote it: upgrade this member)'
    : '';
}

/**
 * Reads the version of a `what` (an integer from `oldest` to `newest`); else throws
 * SerializationError CODEC_VERSION. Read before the count of items, which a later version may raise.
 */
export function readFormatVersion(version: unknown, what: string, oldest: number, newest: number): number {
  if (typeof version === 'number' && Number.isSafeInteger(version) && version >= oldest && version <= newest)
    return version;
  throw new SerializationError(
    'CODEC_VERSION',
    `${what} version ${String(version)} is not supported; expected ${oldest} to ${newest}` +
      laterVersionHint(version, newest),
  );
}

/** Inputs in buffers from this size up are let go of as soon as they are decoded (releaseLastInput). */
const RELEASE_INPUT_BYTES_MIN = 64 * 1024;
/** The CBOR of an empty array: one byte. */
const EMPTY_ARRAY_CBOR = new Uint8Array([0x80]);

/**
 * Decodes one CBOR item that must fill `bytes`. A fresh Decoder per call: cbor-x keeps record
 * structures defined by one input in its decoder, and a later input could refer to them; a
 * replica restored from a snapshot would not have them, so a shared decoder could make replicas
 * disagree. The message of a decoding failure is fixed (it never quotes the library's text) so
 * that it is the same on every replica.
 */
export function decodeCbor(bytes: Uint8Array, what: string): unknown {
  if (!(bytes instanceof Uint8Array)) throw malformed(`${what}: expected bytes`);
  if (bytes.length === 0) throw malformed(`${what}: empty`);
  const decoder = new Decoder({ mapsAsObjects: true, useRecords: false });
  try {
    // Through a fresh view: cbor-x caches a DataView as a property of the array it decodes, which
    // would stay on a log entry's command (about 150 bytes more per entry kept in memory).
    return decoder.decode(bytes.subarray());
  } catch (error: unknown) {
    throw new SerializationError('CODEC_MALFORMED', `${what}: not a single well-formed CBOR item`, { cause: error });
  } finally {
    if (bytes.buffer.byteLength >= RELEASE_INPUT_BYTES_MIN) releaseLastInput();
  }
}

/**
 * cbor-x keeps a DataView of the last input it decoded in its module until the next decode: the
 * node state of a restored snapshot (the whole image, 21 MB for a 16 MiB store) stayed resident
 * for good on a node whose later decodes all take the direct paths (put-decode.ts). Decoding one
 * byte moves that reference onto it. What counts is the input's buffer: a small input can be a view
 * of a large one (the trust part of that node state).
 */
function releaseLastInput(): void {
  releaser.decode(EMPTY_ARRAY_CBOR.subarray());
}

/** One decoder for the one-byte decodes (an empty array defines no record structures to share). */
const releaser = new Decoder({ mapsAsObjects: true, useRecords: false });

/** True for a plain CBOR map decoded as an object (not an array, bytes, tag or other class). */
function isPlainRecord(value: unknown): value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * The fields of one decoded map, read strictly. It reads the decoded object itself (own
 * properties only) rather than a copy of its entries: every replica decodes every command when
 * it applies it, so a Map per command was a large share of an agent's garbage per write.
 */
export class Fields {
  private readonly record: object;
  private readonly what: string;

  private constructor(record: object, what: string) {
    this.record = record;
    this.what = what;
  }

  /**
   * Reads `value` as a map whose keys are all in `required` or `optional`, with every
   * `required` key present.
   */
  static of(value: unknown, what: string, required: readonly string[], optional: readonly string[] = []): Fields {
    if (!isPlainRecord(value)) throw malformed(`${what}: expected a map`);
    return new Fields(value, what).expect(what, required, optional);
  }

  /**
   * Checks that every field is in `required` or `optional` and every `required` one is present,
   * then reads the same fields as `what` (for a map whose kind depends on one of its fields).
   */
  expect(what: string, required: readonly string[], optional: readonly string[] = []): Fields {
    for (const name of Object.keys(this.record)) {
      if (!required.includes(name) && !optional.includes(name)) throw malformed(`${what}: unexpected field '${name}'`);
    }
    for (const name of required) {
      if (!Object.hasOwn(this.record, name)) throw malformed(`${what}: missing field '${name}'`);
    }
    return what === this.what ? this : new Fields(this.record, what);
  }

  /** An own field's value; undefined when absent (never an inherited property such as `toString`). */
  private get(name: string): unknown {
    return Object.hasOwn(this.record, name) ? Reflect.get(this.record, name) : undefined;
  }

  /** True when the optional field `name` is present. */
  has(name: string): boolean {
    return Object.hasOwn(this.record, name);
  }

  /** The field, untyped, for nested reading. */
  raw(name: string): unknown {
    return this.get(name);
  }

  /** A text field. */
  string(name: string): string {
    const value = this.get(name);
    if (typeof value !== 'string') throw malformed(`${this.what}: field '${name}' must be a text string`);
    return value;
  }

  /** A byte-string field. */
  bytes(name: string): Uint8Array {
    return readBytes(this.get(name), `${this.what}: field '${name}'`);
  }

  /** A boolean field. */
  boolean(name: string): boolean {
    const value = this.get(name);
    if (typeof value !== 'boolean') throw malformed(`${this.what}: field '${name}' must be a boolean`);
    return value;
  }

  /** An integer field within [min, max]. */
  integer(name: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
    return readInteger(this.get(name), `${this.what}: field '${name}'`, min, max);
  }
}

/**
 * Reads a byte string (cbor-x decodes one as a Buffer; a tagged Uint8Array is accepted too) as a
 * plain Uint8Array view of the same memory, so that callers see one type.
 */
export function readBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${what} must be a byte string`);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** Reads a safe integer within [min, max]. */
export function readInteger(value: unknown, what: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw malformed(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Reads an array of at most `lengthMax` items. */
export function readArray(value: unknown, what: string, lengthMax: number): readonly unknown[] {
  if (!Array.isArray(value)) throw malformed(`${what} must be an array`);
  const items: readonly unknown[] = value;
  if (items.length > lengthMax) throw malformed(`${what} has more than ${lengthMax} items`);
  return items;
}

/** Reads a text string. */
export function readString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw malformed(`${what} must be a text string`);
  return value;
}

/** Views `bytes` as a Buffer without copying, so that cbor-x encodes a plain byte string (no tag). */
export function asByteString(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
