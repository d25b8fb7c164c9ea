/**
 * The Protocol Buffers serializer, for tooling that speaks protobuf: media type
 * application/x-protobuf, CoAP Content-Format 65000 (experimental range, see coraft.proto,
 * which documents the wire format). protobufjs compiles the schema once per serializer and
 * encodes and decodes the Envelope; protobuf-scan.ts first bounds what protobufjs may build,
 * and the strict checks of messages.ts then read the result.
 *
 * Decoded byte fields are views into the buffer passed to `decode` (protobufjs slices its
 * input with `subarray`): a caller that reuses that buffer must copy the fields it keeps.
 */
import type { Type } from 'protobufjs';
import { SerializationError } from '../contracts/errors.js';
import type { ClusterConfiguration, LogEntry } from '../contracts/log.js';
import type { MessageOfType, RpcMessage, RpcMessageType } from '../contracts/messages.js';
import type { CodecLimits, RpcSerializer } from '../contracts/serializer.js';
import { describe, invariant, malformed } from './checks.js';
import { checkEncodedSize, checkInput, checkMessage } from './check-message.js';
import { PROTO_DIALECT } from './dialects.js';
import { KeyedReader } from './keyed-reader.js';
import { ENTRY_TYPE_CODE, FORWARD_KIND_CODE, MESSAGE_TYPES_BY_CODE, WIRE_VERSION } from './layout.js';
import { dataItemsMax, resolveCodecLimits } from './limits.js';
import { scanProtobuf } from './protobuf-scan.js';
import { hasType, readMessage } from './messages.js';
import { protoSchema } from './protobuf-schema.js';
import { loadProtobuf } from './protobuf-module.js';

/**
 * CoAP Content-Format used for application/x-protobuf: 65000, the first number of the
 * experimental range of RFC 7252 §12.3, as the registry assigns none to Protocol Buffers.
 */
export const PROTOBUF_CONTENT_FORMAT = 65000;

/** The tag byte of Envelope field 1 (version) as a varint: (1 << 3) | 0. */
const VERSION_TAG = 0x08;

/** The Envelope body field of a message type: `AppendEntriesRequest` → `appendEntriesRequest`. */
function bodyField(type: RpcMessageType): string {
  return `${type.charAt(0).toLowerCase()}${type.slice(1)}`;
}

const BODY_FIELDS: readonly (readonly [RpcMessageType, string])[] = MESSAGE_TYPES_BY_CODE.map(
  (type) => [type, bodyField(type)] as const,
);

/**
 * Reads the leading version varint (Envelope field 1) without decoding the rest; throws
 * CODEC_MALFORMED when the encoding does not start with it.
 */
export function peekProtobufVersion(bytes: Uint8Array): number {
  if (bytes[0] !== VERSION_TAG)
    throw malformed('protobuf', '', 'the encoding must start with the version field (0x08)');
  let version = 0;
  for (let i = 1; i <= 5; i += 1) {
    const byte = bytes[i];
    if (byte === undefined) throw malformed('protobuf', 'version', 'truncated version');
    version += (byte & 0x7f) * 2 ** (7 * (i - 1));
    if (byte < 0x80) return version;
  }
  throw malformed('protobuf', 'version', 'the version is longer than a uint32');
}

function entryToProto(entry: LogEntry): object {
  return { term: entry.term, index: entry.index, type: ENTRY_TYPE_CODE[entry.type], command: entry.command };
}

function configurationToProto(config: ClusterConfiguration): object {
  return {
    voters: config.voters,
    learners: config.learners,
    oldVoters: config.oldVoters === null ? null : { ids: config.oldVoters },
    members: config.members,
    ...(config.witnesses !== undefined && config.witnesses.length > 0 ? { witnesses: config.witnesses } : {}),
  };
}

/**
 * The Envelope of a checked message, as protobufjs encodes plain objects: nulls are left out
 * (the optional fields), enumerations become their codes.
 */
function toEnvelope(message: RpcMessage): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(message)) {
    if (field === 'type') continue;
    body[field] = value;
  }
  if (message.type === 'AppendEntriesRequest') body['entries'] = message.entries.map(entryToProto);
  if (message.type === 'InstallSnapshotRequest') body['configuration'] = configurationToProto(message.configuration);
  if (message.type === 'ClientForwardRequest') body['kind'] = FORWARD_KIND_CODE[message.kind];
  return { version: WIRE_VERSION, [bodyField(message.type)]: body };
}

/** Encodes and strictly decodes RPC messages as Protocol Buffers. */
export class ProtobufSerializer implements RpcSerializer {
  readonly name = 'protobuf';
  readonly contentFormat = PROTOBUF_CONTENT_FORMAT;
  readonly mediaType = 'application/x-protobuf';
  private readonly limits: CodecLimits;
  private readonly envelope: Type;

  /**
   * A serializer enforcing `limits` (defaults: DEFAULT_CODEC_LIMITS); throws ConfigError on bad limits, or when
   * protobufjs is not installed (protobuf-module.ts).
   */
  constructor(limits: Partial<CodecLimits> = {}) {
    this.limits = resolveCodecLimits(limits);
    const protobuf = loadProtobuf();
    const root = protobuf.parse(protoSchema(), { keepCase: false }).root;
    root.resolveAll();
    this.envelope = root.lookupType('coraft.rpc.v1.Envelope');
  }

  /** Encodes `message`; throws SerializationError if it is not a valid message or exceeds a limit. */
  encode(message: RpcMessage): Uint8Array {
    const checked = checkMessage(message, this.limits);
    const bytes = this.envelope.encode(toEnvelope(checked)).finish();
    checkEncodedSize(bytes.byteLength, checked.type, this.limits);
    invariant(bytes[0] === VERSION_TAG, 'protobufjs writes the version field first');
    return bytes;
  }

  /** Decodes one message; byte fields are views into `bytes` (see the module comment). */
  decode(bytes: Uint8Array): RpcMessage {
    const input = checkInput(bytes, this.limits);
    const version = peekProtobufVersion(input);
    if (version !== WIRE_VERSION) {
      throw new SerializationError(
        'CODEC_VERSION',
        `protobuf: wire format version ${version} is not supported (this node speaks ${WIRE_VERSION})`,
      );
    }
    scanProtobuf(input, this.envelope, dataItemsMax(this.limits));
    const envelope = this.parse(input);
    PROTO_DIALECT.checkRecord(envelope, 'protobuf');
    const decodedVersion: unknown = Reflect.get(envelope, 'version');
    if (decodedVersion !== WIRE_VERSION)
      throw malformed('protobuf', 'version', `repeated with another value ${describe(decodedVersion)}`);
    const present = BODY_FIELDS.filter(([, field]) => Object.hasOwn(envelope, field));
    const only = present[0];
    if (only === undefined || present.length !== 1)
      throw malformed('protobuf', 'body', `expected exactly one message body, got ${present.length}`);
    const [type, field] = only;
    return readMessage(type, new KeyedReader(Reflect.get(envelope, field), type, -1, this.limits, PROTO_DIALECT));
  }

  /** Decodes a message that must be of type `type`; any other type is CODEC_MALFORMED. */
  decodeAs<T extends RpcMessageType>(type: T, bytes: Uint8Array): MessageOfType<T> {
    const message = this.decode(bytes);
    if (!hasType(message, type)) throw malformed('message', 'type', `expected ${type}, got ${message.type}`);
    return message;
  }

  /**
   * Runs protobufjs over the input, keeping unknown fields (to refuse them) and turning its errors into
   * CODEC_MALFORMED.
   */
  private parse(input: Uint8Array): object {
    // A plain Uint8Array makes protobufjs slice byte fields with `subarray` (views, no copies).
    const view =
      Object.getPrototypeOf(input) === Uint8Array.prototype
        ? input
        : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    const reader = loadProtobuf().Reader.create(view);
    reader.discardUnknown = false;
    try {
      return this.envelope.decode(reader);
    } catch (error: unknown) {
      throw new SerializationError(
        'CODEC_MALFORMED',
        `protobuf: ${error instanceof Error ? error.message : 'undecodable'}`,
        { cause: error },
      );
    }
  }
}
