/**
 * The RpcSerializer port (reference concept `rpc_serializer`): how RPC messages become bytes
 * and back, and the limits a decoder enforces. Implemented by codec/.
 */
import type { MessageOfType, RpcMessage, RpcMessageType } from './messages.js';

/** Limits a decoder enforces; exceeding one is a `SerializationError` with code CODEC_LIMIT. */
export interface CodecLimits {
  /** Largest encoded message accepted, in bytes. Default 8 MiB. */
  readonly messageBytesMax: number;
  /** Most entries in one AppendEntries. Default 10,000. */
  readonly entriesPerMessageMax: number;
  /** Largest command of one entry, in bytes. Default 1 MiB. */
  readonly entryBytesMax: number;
  /** Largest snapshot chunk, in bytes. Default 4 MiB. */
  readonly chunkBytesMax: number;
}

/**
 * Turns RPC messages into bytes and back (reference `rpc_serializer`). The reference's
 * `serialize(request_vote_req)` family is `encode(message)`; its
 * `deserialize_request_vote_request(data)` family is `decodeAs('RequestVoteRequest', data)`.
 * Decoding is strict and throws `SerializationError` for anything that is not a valid message.
 */
export interface RpcSerializer {
  /** The configuration name of this codec: 'cbor', 'json' or 'protobuf'. */
  readonly name: string;
  /** The CoAP Content-Format number of the encoding (RFC 7252 §12.3). */
  readonly contentFormat: number;
  /** The media type of the encoding, for HTTP. */
  readonly mediaType: string;
  encode(message: RpcMessage): Uint8Array;
  /**
   * Optional: `message` encoded as pieces whose concatenation is exactly `encode(message)`, its
   * large byte fields (an AppendEntries' commands) being pieces of their own, the message's own
   * objects and not copies, so that a transport can send them where they are; or null when the
   * message has no such field (use `encode`). No piece may be written to.
   */
  encodeParts?(message: RpcMessage): readonly Uint8Array[] | null;
  decode(bytes: Uint8Array): RpcMessage;
  decodeAs<T extends RpcMessageType>(type: T, bytes: Uint8Array): MessageOfType<T>;
}
