/**
 * A compact serializer for the transport bench: the message as JSON with every Uint8Array
 * (top-level fields and entry commands) replaced by a length reference, followed by the raw
 * bytes, so that 64 KiB of entry data costs 64 KiB on the wire and no base64, and JSON runs
 * on V8's fast path (no replacer or reviver). The real codecs live in codec/ (another
 * branch); this one only serves to measure transports. Format: u32 JSON length, JSON, blobs.
 */
import { SerializationError } from '../contracts/errors.js';
import type { MessageOfType, RpcMessage, RpcMessageType } from '../contracts/messages.js';
import type { RpcSerializer } from '../contracts/serializer.js';

type Json = Record<string, unknown>;

function isBlobRef(value: unknown): value is { readonly $blob: number } {
  return value !== null && typeof value === 'object' && '$blob' in value && typeof value.$blob === 'number';
}

/** A copy of `object` with its Uint8Array fields replaced by references, the bytes appended to `blobs`. */
function stripBlobs(object: object, blobs: Uint8Array[]): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(object)) {
    if (value instanceof Uint8Array) {
      blobs.push(value);
      out[key] = { $blob: value.length };
    } else if (key === 'entries' && Array.isArray(value)) {
      out[key] = value.map((entry: object) => stripBlobs(entry, blobs));
    } else out[key] = value;
  }
  return out;
}

/** Puts the blobs back in document order; returns the offset after the last one. */
function restoreBlobs(object: object, buffer: Buffer, start: number): number {
  let at = start;
  for (const [key, value] of Object.entries(object)) {
    if (isBlobRef(value)) {
      Reflect.set(object, key, buffer.subarray(at, at + value.$blob));
      at += value.$blob;
    } else if (key === 'entries' && Array.isArray(value)) {
      for (const entry of value) if (entry !== null && typeof entry === 'object') at = restoreBlobs(entry, buffer, at);
    }
  }
  return at;
}

/** Trusts the bench's own encoder: a value with a type tag is a message. */
function isMessage(value: unknown): value is RpcMessage {
  return value !== null && typeof value === 'object' && 'type' in value && typeof value.type === 'string';
}

function isOfType<T extends RpcMessageType>(message: RpcMessage, type: T): message is MessageOfType<T> {
  return message.type === type;
}

/** The bench's serializer; see the module comment. */
export function createBenchSerializer(): RpcSerializer {
  const decode = (bytes: Uint8Array): RpcMessage => {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buffer.length < 4) throw new SerializationError('CODEC_MALFORMED', 'short');
    const jsonBytes = buffer.readUInt32BE(0);
    const value: unknown = JSON.parse(buffer.toString('utf8', 4, 4 + jsonBytes));
    if (!isMessage(value)) throw new SerializationError('CODEC_MALFORMED', 'no type');
    restoreBlobs(value, buffer, 4 + jsonBytes);
    return value;
  };
  return {
    name: 'bench',
    contentFormat: 42,
    mediaType: 'application/octet-stream',
    encode(message: RpcMessage): Uint8Array {
      const blobs: Uint8Array[] = [];
      const json = Buffer.from(JSON.stringify(stripBlobs(message, blobs)), 'utf8');
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(json.length, 0);
      return blobs.length === 0 ? Buffer.concat([header, json]) : Buffer.concat([header, json, ...blobs]);
    },
    decode,
    decodeAs<T extends RpcMessageType>(type: T, bytes: Uint8Array): MessageOfType<T> {
      const message = decode(bytes);
      if (!isOfType(message, type)) throw new SerializationError('CODEC_MALFORMED', `expected ${type}`);
      return message;
    },
  };
}
