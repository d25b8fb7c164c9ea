/**
 * A compact serializer for the transport bench: the message as JSON with every Uint8Array
 * replaced by a reference, followed by the raw bytes, so that 64 KiB of entry data costs
 * 64 KiB on the wire and no base64. The real codecs live in codec/ (another branch); this
 * one only serves to measure transports. Format: u32 JSON length, JSON, then the blobs.
 */
import { SerializationError, type MessageOfType, type RpcMessage, type RpcMessageType, type RpcSerializer } from '../agent/contracts.js';

export function createBenchSerializer(): RpcSerializer {
  const decode = (bytes: Uint8Array): RpcMessage => {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buffer.length < 4) throw new SerializationError('CODEC_MALFORMED', 'short');
    const jsonBytes = buffer.readUInt32BE(0);
    let at = 4 + jsonBytes;
    const blobs: Uint8Array[] = [];
    const value: unknown = JSON.parse(buffer.subarray(4, at).toString('utf8'), (_key, v: unknown) => {
      if (v !== null && typeof v === 'object' && '$blob' in v && typeof v.$blob === 'number') {
        const blob = buffer.subarray(at, at + v.$blob);
        at += v.$blob;
        blobs.push(blob);
        return blob;
      }
      return v;
    });
    if (!isMessage(value)) throw new SerializationError('CODEC_MALFORMED', 'no type');
    return value;
  };
  return {
    name: 'bench',
    contentFormat: 42,
    mediaType: 'application/octet-stream',
    encode(message: RpcMessage): Uint8Array {
      const blobs: Uint8Array[] = [];
      const json = Buffer.from(
        JSON.stringify(message, (_key, v: unknown) => {
          if (v instanceof Uint8Array) {
            blobs.push(v);
            return { $blob: v.length };
          }
          return v;
        }),
        'utf8',
      );
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(json.length, 0);
      return Buffer.concat([header, json, ...blobs]);
    },
    decode,
    decodeAs<T extends RpcMessageType>(type: T, bytes: Uint8Array): MessageOfType<T> {
      const message = decode(bytes);
      if (!isOfType(message, type)) throw new SerializationError('CODEC_MALFORMED', `expected ${type}`);
      return message;
    },
  };
}

/** Trusts the bench's own encoder: a value with a type tag is a message. */
function isMessage(value: unknown): value is RpcMessage {
  return value !== null && typeof value === 'object' && 'type' in value && typeof value.type === 'string';
}

function isOfType<T extends RpcMessageType>(message: RpcMessage, type: T): message is MessageOfType<T> {
  return message.type === type;
}
