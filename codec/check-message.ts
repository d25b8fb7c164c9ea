/**
 * The checks shared by the serializers around the codec-specific work: the message check
 * every encoder runs before it writes (so that encode succeeds exactly when the peer's decode
 * will), the size guard every decoder runs before it parses, and the message-type lookup.
 */
import type { RpcMessage, RpcMessageType } from '../contracts/messages.js';
import type { CodecLimits } from '../contracts/serializer.js';
import { describe, malformed, overLimit } from './checks.js';
import { OBJECT_DIALECT } from './dialects.js';
import { KeyedReader } from './keyed-reader.js';
import type { KeyedDialect } from './keyed-reader.js';
import { MESSAGE_TYPES_BY_CODE } from './layout.js';
import { readMessage } from './messages.js';

/** The message type named `value`, or null when `value` names none. */
export function messageTypeNamed(value: unknown): RpcMessageType | null {
  return MESSAGE_TYPES_BY_CODE.find((type) => type === value) ?? null;
}

/**
 * Checks `message` against every rule a decoder applies and returns a fresh copy holding
 * exactly its known fields; throws SerializationError naming the first bad field. With
 * OBJECT_IN_PLACE_DIALECT (for an encoder that reads only known fields), a list of entries is
 * checked in place and the copy holds the message's own list.
 */
export function checkMessage(
  message: RpcMessage,
  limits: CodecLimits,
  dialect: KeyedDialect = OBJECT_DIALECT,
): RpcMessage {
  const value: unknown = message;
  if (typeof value !== 'object' || value === null)
    throw malformed('message', '', `expected a message, got ${describe(value)}`);
  const type = messageTypeNamed(Reflect.get(value, 'type'));
  if (type === null) throw malformed('message', 'type', `unknown message type ${describe(Reflect.get(value, 'type'))}`);
  return readMessage(type, new KeyedReader(value, type, -1, limits, dialect));
}

/**
 * Throws unless `bytes` is a Uint8Array over an ordinary ArrayBuffer of at most
 * `messageBytesMax` bytes. Run first by every decoder, so that no parser ever sees an
 * oversized input.
 */
export function checkInput(bytes: unknown, limits: CodecLimits): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw malformed('message', '', `expected bytes, got ${describe(bytes)}`);
  // Shared memory could change while it is being checked and decoded.
  if (!(bytes.buffer instanceof ArrayBuffer))
    throw malformed('message', '', 'bytes over shared memory are not accepted');
  if (bytes.byteLength > limits.messageBytesMax) {
    throw overLimit('message', '', `${bytes.byteLength} bytes exceed messageBytesMax (${limits.messageBytesMax})`);
  }
  return bytes;
}

/** Throws CODEC_LIMIT when an encoded message of `size` bytes exceeds `messageBytesMax`. */
export function checkEncodedSize(size: number, type: RpcMessageType, limits: CodecLimits): void {
  if (size > limits.messageBytesMax) {
    throw overLimit(type, '', `encoded size ${size} bytes exceeds messageBytesMax (${limits.messageBytesMax})`);
  }
}
