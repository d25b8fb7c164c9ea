/**
 * The JSON serializer (RFC 8259), human-readable: CoAP Content-Format 50, application/json. A
 * message is one UTF-8 JSON object with a leading `"v": 1` version, its `"type"` tag and every
 * field of its interface by name; byte strings are canonical padded base64. The wire format is
 * defined by the JSON Schema in codec/schemas/rpc-v1.schema.json, which ajv compiles once per
 * serializer and checks every decoded document against before it is read. Before JSON.parse
 * runs, json-scan.ts bounds the nesting and the number of values, so that hostile text cannot
 * make the parser build millions of objects.
 *
 * Unknown fields are refused (the schemas say `additionalProperties: false`): a format change
 * is a new version, never a silently ignored field (see codec/README.md).
 */
import { Buffer } from 'node:buffer';
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { SerializationError } from '../contracts/errors.js';
import type { MessageOfType, RpcMessage, RpcMessageType } from '../contracts/messages.js';
import type { CodecLimits, RpcSerializer } from '../contracts/serializer.js';
import { describe, invariant, malformed } from './checks.js';
import { checkEncodedSize, checkInput, checkMessage, messageTypeNamed } from './check-message.js';
import { JSON_DIALECT } from './dialects.js';
import { KeyedReader } from './keyed-reader.js';
import { MESSAGE_TYPES_BY_CODE, WIRE_VERSION } from './layout.js';
import { dataItemsMax, listItemsMax, resolveCodecLimits } from './limits.js';
import { scanJson } from './json-scan.js';
import { hasType, readMessage } from './messages.js';
import rpcSchema from './schemas/rpc-v1.schema.json' with { type: 'json' };

/** CoAP Content-Format of application/json (RFC 7252 §12.3). */
export const JSON_CONTENT_FORMAT = 50;

/**
 * The deepest nesting of a valid document: message → configuration → members → member
 * (InstallSnapshotRequest). Deeper text is refused before JSON.parse builds it.
 */
export const JSON_NESTING_DEPTH_MAX = 4;

/**
 * Most members of one object: generously above the 11 of the largest message, so that a few
 * unknown fields still reach the schema, which names them.
 */
const JSON_OBJECT_MEMBERS_MAX = 32;

/** Where ajv finds the schema of each message type. */
const SCHEMA_ID = rpcSchema.$id;

/** Compiles the schema of every message type once. */
function compileValidators(): ReadonlyMap<RpcMessageType, ValidateFunction> {
  // allErrors: false stops at the first violation, so hostile documents cost no more than a
  // valid one of the same size; unicodeRegExp makes patterns see code points.
  const ajv = new Ajv({
    strict: true,
    allErrors: false,
    allowUnionTypes: true,
    unicodeRegExp: true,
    validateFormats: false,
  });
  ajv.addSchema(rpcSchema);
  const validators = new Map<RpcMessageType, ValidateFunction>();
  for (const type of MESSAGE_TYPES_BY_CODE) {
    const validate = ajv.getSchema(`${SCHEMA_ID}#/definitions/${type}`);
    invariant(validate !== undefined, `the JSON schema defines ${type}`);
    validators.set(type, validate);
  }
  return validators;
}

/** `/entries/3/command` as `.entries[3].command`. */
function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((part) =>
      /^\d+$/u.test(part) ? `[${part}]` : `.${part.replaceAll('~1', '/').replaceAll('~0', '~').slice(0, 64)}`,
    )
    .join('');
}

function schemaError(type: RpcMessageType, error: ErrorObject | undefined): SerializationError {
  if (error === undefined) return malformed(type, '', 'does not match its schema');
  const extra: unknown = error.params['additionalProperty'];
  const detail = extra === undefined ? '' : ` (${describe(extra)})`;
  return new SerializationError(
    'CODEC_MALFORMED',
    `${type}${fieldPath(error.instancePath)}: ${error.message ?? 'invalid'}${detail}`,
  );
}

/**
 * Copies a checked message (plain data, at most four levels deep) into its JSON form: byte
 * strings become base64 strings, everything else is kept.
 */
function toJsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (typeof value === 'object' && value !== null) return toJsonRecord(value);
  return value;
}

function toJsonRecord(record: object): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(record)) copy[key] = toJsonValue(field);
  return copy;
}

/** A leading `{"v": <digits>` (our encoders write the version first): the version, or null. */
const LEADING_VERSION = /^[ \t\r\n]*\{[ \t\r\n]*"v"[ \t\r\n]*:[ \t\r\n]*(\d{1,15})[ \t\r\n]*[,}]/u;

/** The version a document starts with, read from its first 64 bytes; null when it does not start with one. */
export function peekJsonVersion(input: Uint8Array): number | null {
  const head = Buffer.from(input.buffer, input.byteOffset, Math.min(input.byteLength, 64)).toString('latin1');
  const digits = LEADING_VERSION.exec(head)?.[1];
  return digits === undefined ? null : Number(digits);
}

/** Throws CODEC_VERSION when `version` is a number other than WIRE_VERSION. */
function checkVersion(version: unknown): void {
  if (typeof version === 'number' && version !== WIRE_VERSION) {
    throw new SerializationError(
      'CODEC_VERSION',
      `json: wire format version ${describe(version)} is not supported (this node speaks ${WIRE_VERSION})`,
    );
  }
}

/** Encodes and strictly decodes RPC messages as JSON. */
export class JsonSerializer implements RpcSerializer {
  readonly name = 'json';
  readonly contentFormat = JSON_CONTENT_FORMAT;
  readonly mediaType = 'application/json';
  private readonly limits: CodecLimits;
  private readonly validators = compileValidators();
  // fatal: invalid UTF-8 is refused rather than replaced; ignoreBOM: a byte order mark stays in
  // the text, where JSON.parse refuses it (RFC 8259 §8.1 forbids sending one).
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  /** A serializer enforcing `limits` (defaults: DEFAULT_CODEC_LIMITS); throws ConfigError on bad limits. */
  constructor(limits: Partial<CodecLimits> = {}) {
    this.limits = resolveCodecLimits(limits);
  }

  /** Encodes `message`; throws SerializationError if it is not a valid message or exceeds a limit. */
  encode(message: RpcMessage): Uint8Array {
    const checked = checkMessage(message, this.limits);
    const document = { v: WIRE_VERSION, ...toJsonRecord(checked) };
    const bytes = Buffer.from(JSON.stringify(document), 'utf8');
    checkEncodedSize(bytes.byteLength, checked.type, this.limits);
    return bytes;
  }

  /** Decodes one message. Byte fields are fresh copies (decoded from base64). */
  decode(bytes: Uint8Array): RpcMessage {
    const input = checkInput(bytes, this.limits);
    // Every version writes "v" first, so another version is recognised before this version's
    // structural bounds could misjudge it.
    checkVersion(peekJsonVersion(input));
    scanJson(
      input,
      JSON_NESTING_DEPTH_MAX,
      listItemsMax(this.limits),
      JSON_OBJECT_MEMBERS_MAX,
      dataItemsMax(this.limits),
    );
    const document = this.parse(input);
    if (typeof document !== 'object' || document === null || Array.isArray(document)) {
      throw malformed('message', '', `expected a JSON object, got ${describe(document)}`);
    }
    const version: unknown = Reflect.get(document, 'v');
    checkVersion(version);
    if (version !== WIRE_VERSION)
      throw malformed('message', 'v', `expected the version ${WIRE_VERSION}, got ${describe(version)}`);
    const tag: unknown = Reflect.get(document, 'type');
    const type = messageTypeNamed(tag);
    const validate = type === null ? undefined : this.validators.get(type);
    if (type === null || validate === undefined)
      throw malformed('message', 'type', `unknown message type ${describe(tag)}`);
    if (!this.validate(validate, document)) throw schemaError(type, validate.errors?.[0]);
    return readMessage(type, new KeyedReader(document, type, -1, this.limits, JSON_DIALECT));
  }

  /** Decodes a message that must be of type `type`; any other type is CODEC_MALFORMED. */
  decodeAs<T extends RpcMessageType>(type: T, bytes: Uint8Array): MessageOfType<T> {
    const message = this.decode(bytes);
    if (!hasType(message, type)) throw malformed('message', 'type', `expected ${type}, got ${message.type}`);
    return message;
  }

  /** Runs a compiled schema; an exception from ajv (none is expected) becomes CODEC_MALFORMED. */
  private validate(validate: ValidateFunction, document: unknown): boolean {
    try {
      return validate(document);
    } catch (error: unknown) {
      throw new SerializationError(
        'CODEC_MALFORMED',
        `json: schema check failed: ${error instanceof Error ? error.message : 'unknown error'}`,
        { cause: error },
      );
    }
  }

  /** UTF-8 and JSON parsing, with their errors turned into CODEC_MALFORMED. */
  private parse(input: Uint8Array): unknown {
    try {
      const document: unknown = JSON.parse(this.utf8.decode(input));
      return document;
    } catch (error: unknown) {
      throw new SerializationError(
        'CODEC_MALFORMED',
        `json: ${error instanceof Error ? error.message.slice(0, 200) : 'unparsable'}`,
        { cause: error },
      );
    }
  }
}
