/**
 * The RPC serializers of coraft and the factory that picks one by configuration name. Three
 * encodings of the same messages (contracts/messages.ts), all at wire format version 1:
 *
 * | name       | media type               | CoAP Content-Format        |
 * | ---------- | ------------------------ | -------------------------- |
 * | `cbor`     | application/cbor         | 60 (the default)           |
 * | `json`     | application/json         | 50                         |
 * | `protobuf` | application/x-protobuf   | 65000 (experimental range) |
 *
 * Every decoder is strict and throws only SerializationError (CODEC_MALFORMED, CODEC_LIMIT or
 * CODEC_VERSION) for bad input; see codec/README.md for the formats and the policies.
 */
import { ConfigError } from '../contracts/errors.js';
import type { CodecLimits, RpcSerializer } from '../contracts/serializer.js';
import { CborSerializer } from './cbor-serializer.js';
import { JsonSerializer } from './json-serializer.js';
import { ProtobufSerializer } from './protobuf-serializer.js';

export { CBOR_CONTENT_FORMAT, CBOR_NESTING_DEPTH_MAX, CborSerializer } from './cbor-serializer.js';
export { JSON_CONTENT_FORMAT, JsonSerializer } from './json-serializer.js';
export { PROTOBUF_CONTENT_FORMAT, ProtobufSerializer } from './protobuf-serializer.js';
export {
  ADDRESS_CHARS_MAX,
  CONFIGURATION_NODES_MAX,
  DEFAULT_CODEC_LIMITS,
  ERROR_CODE_CHARS_MAX,
  ERROR_MESSAGE_CHARS_MAX,
  NODE_ID_CHARS_MAX,
  resolveCodecLimits,
} from './limits.js';
export { WIRE_VERSION } from './layout.js';

/** The configuration names of the serializers. */
export type SerializerName = 'cbor' | 'json' | 'protobuf';

/** Every serializer name, the default first. */
export const SERIALIZER_NAMES: readonly SerializerName[] = Object.freeze([
  'cbor',
  'json',
  'protobuf',
] satisfies SerializerName[]);

/**
 * Creates the serializer named `name` with `limits` (each field defaulting to
 * DEFAULT_CODEC_LIMITS). Throws ConfigError for an unknown name or a bad limit, so that a
 * wrong configuration stops the node at startup.
 */
export function createSerializer(name: SerializerName, limits: Partial<CodecLimits> = {}): RpcSerializer {
  switch (name) {
    case 'cbor':
      return new CborSerializer(limits);
    case 'json':
      return new JsonSerializer(limits);
    case 'protobuf':
      return new ProtobufSerializer(limits);
    default: {
      // Reached only from untyped configuration; the type system proves the switch complete.
      const unknownName: unknown = name;
      throw new ConfigError([`codec: expected one of ${SERIALIZER_NAMES.join(', ')}, got ${String(unknownName)}`]);
    }
  }
}
