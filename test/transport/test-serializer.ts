// A test-only RpcSerializer: JSON with Uint8Array fields as {"$b64": "..."}, Content-Format 50.
// The transports take any RpcSerializer; the real codecs live in codec/, which transport
// tests do not import. Decoding checks only the type tag: enough to prove what transports do.
import { SerializationError } from '../../contracts/errors.js';
import {
  RPC_MESSAGE_TYPES,
  type MessageOfType,
  type RpcMessage,
  type RpcMessageType,
} from '../../contracts/messages.js';
import type { RpcSerializer } from '../../contracts/serializer.js';

function replacer(this: unknown, _key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { $b64: Buffer.from(value).toString('base64') };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && '$b64' in value && typeof value.$b64 === 'string') {
    return new Uint8Array(Buffer.from(value.$b64, 'base64'));
  }
  return value;
}

export interface TestSerializerOptions {
  /** Largest encoded message; beyond it encode and decode throw CODEC_LIMIT. */
  readonly messageBytesMax?: number;
}

export function createTestSerializer(options: TestSerializerOptions = {}): RpcSerializer {
  const max = options.messageBytesMax ?? 64 * 1024 * 1024;
  const decode = (bytes: Uint8Array): RpcMessage => {
    if (bytes.length > max) throw new SerializationError('CODEC_LIMIT', `message of ${bytes.length} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(bytes).toString('utf8'), reviver);
    } catch (error) {
      throw new SerializationError('CODEC_MALFORMED', 'not JSON', { cause: error });
    }
    if (
      value === null ||
      typeof value !== 'object' ||
      !('type' in value) ||
      !RPC_MESSAGE_TYPES.includes(value.type as RpcMessageType)
    ) {
      throw new SerializationError('CODEC_MALFORMED', 'no known type tag');
    }
    return value as RpcMessage;
  };
  return {
    name: 'test-json',
    contentFormat: 50,
    mediaType: 'application/json',
    encode(message: RpcMessage): Uint8Array {
      const bytes = Buffer.from(JSON.stringify(message, replacer), 'utf8');
      if (bytes.length > max) throw new SerializationError('CODEC_LIMIT', `message of ${bytes.length} bytes`);
      return bytes;
    },
    decode,
    decodeAs<T extends RpcMessageType>(type: T, bytes: Uint8Array): MessageOfType<T> {
      const message = decode(bytes);
      if (message.type !== type)
        throw new SerializationError('CODEC_MALFORMED', `expected ${type}, got ${message.type}`);
      return message as MessageOfType<T>;
    },
  };
}
