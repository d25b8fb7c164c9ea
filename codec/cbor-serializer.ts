/**
 * The CBOR serializer (RFC 8949), the default on the wire: CoAP Content-Format 60,
 * application/cbor. A message is one positional array `[version, typeCode, ...fields]` laid
 * out by layout.ts; see cbor-writer.ts for the encoding and cbor-scan.ts for what a decoder
 * admits before cbor-x parses it.
 *
 * Decoded byte fields (entry commands, snapshot data, payloads) are views into the buffer
 * passed to `decode`, not copies: a caller that reuses or overwrites that buffer afterwards
 * must copy the fields it keeps.
 */
import { Decoder } from 'cbor-x';
import { InvariantError, SerializationError } from '../contracts/errors.js';
import type { MessageOfType, RpcMessage, RpcMessageType } from '../contracts/messages.js';
import type { CodecLimits, RpcSerializer } from '../contracts/serializer.js';
import { readAppendEntriesDirect } from './cbor-append-reader.js';
import { cborSize, cborWrite, cborWriteParts, partBytesOf } from './cbor-writer.js';
import { SlabAllocator } from './slab-allocator.js';
import { LastAppend } from './last-append.js';
import { peekCborVersion, scanCbor } from './cbor-scan.js';
import { describe, malformed } from './checks.js';
import { OBJECT_IN_PLACE_DIALECT } from './dialects.js';
import { checkEncodedSize, checkInput, checkMessage } from './check-message.js';
import { FIELD_ORDER, MESSAGE_TYPES_BY_CODE, WIRE_VERSION } from './layout.js';
import { dataItemsMax, listItemsMax, resolveCodecLimits } from './limits.js';
import { hasType, readMessage } from './messages.js';
import { PositionalReader, positionsOf } from './positional-reader.js';
import type { Positions } from './positional-reader.js';

/** CoAP Content-Format of application/cbor (RFC 7252 §12.3, RFC 8949 §9.5). */
export const CBOR_CONTENT_FORMAT = 60;

/**
 * The deepest array nesting of a valid message: message → configuration → members → member
 * (InstallSnapshotRequest). Anything deeper is refused before cbor-x sees it.
 */
export const CBOR_NESTING_DEPTH_MAX = 4;

/** The positions of each message's fields after the version and the type code. */
const MESSAGE_POSITIONS: ReadonlyMap<RpcMessageType, Positions> = new Map(
  MESSAGE_TYPES_BY_CODE.map((type) => [type, positionsOf(FIELD_ORDER[type], 2)]),
);

/**
 * cbor-x decoder options, passed explicitly. `int64AsNumber` is honoured by cbor-x 1.6.9 but
 * missing from its type declarations, hence a variable rather than an inline literal.
 */
const DECODER_OPTIONS = { mapsAsObjects: true, useRecords: false, copyBuffers: false, int64AsNumber: true };

/** Encodes and strictly decodes RPC messages as CBOR. */
export class CborSerializer implements RpcSerializer {
  readonly name = 'cbor';
  readonly contentFormat = CBOR_CONTENT_FORMAT;
  readonly mediaType = 'application/cbor';
  private readonly limits: CodecLimits;
  // No record structures (`useRecords`/`structures`): peers upgraded at different times would
  // not share the structure table. Maps never reach the decoder (the scan refuses them), but
  // should one, it must be a plain object, never a Map. 64-bit integers decode as numbers;
  // any above 2^53 - 1 round to at least 2^53 and fail the safe-integer check.
  private readonly decoder = new Decoder(DECODER_OPTIONS);
  private readonly allocator = new SlabAllocator();
  private readonly lastAppend = new LastAppend();

  /** A serializer enforcing `limits` (defaults: DEFAULT_CODEC_LIMITS); throws ConfigError on bad limits. */
  constructor(limits: Partial<CodecLimits> = {}) {
    this.limits = resolveCodecLimits(limits);
  }

  /**
   * Encodes `message`; throws SerializationError if it is not a valid message or exceeds a limit.
   * An AppendEntries equal to the last one encoded gets the same bytes (last-append.ts): never
   * write into an encoding.
   */
  encode(message: RpcMessage): Uint8Array {
    // The same entries to the next follower: the bytes already written (last-append.ts).
    const isAppend = message.type === 'AppendEntriesRequest';
    const same = isAppend ? this.lastAppend.match(message) : null;
    if (same !== null) return same;
    // The writer reads only the known fields of each entry, so the entries are checked in place.
    const checked = checkMessage(message, this.limits, OBJECT_IN_PLACE_DIALECT);
    const size = cborSize(checked);
    checkEncodedSize(size, checked.type, this.limits);
    const bytes = cborWrite(checked, size, this.allocator);
    if (isAppend) this.lastAppend.keep(message, bytes);
    return bytes;
  }

  /**
   * See RpcSerializer.encodeParts: an AppendEntries with commands of CBOR_PART_BYTES_MIN or more
   * as pieces (cbor-writer.ts cborWriteParts), the commands themselves among them; null for any
   * other message (then `encode`, which shares one encoding between up-to-date followers).
   */
  encodeParts(message: RpcMessage): readonly Uint8Array[] | null {
    if (message.type !== 'AppendEntriesRequest') return null;
    const partBytes = partBytesOf(message.entries);
    if (partBytes === 0) return null;
    const checked = checkMessage(message, this.limits, OBJECT_IN_PLACE_DIALECT);
    if (checked.type !== 'AppendEntriesRequest') throw new InvariantError('a checked AppendEntries keeps its type');
    const size = cborSize(checked);
    checkEncodedSize(size, checked.type, this.limits);
    return cborWriteParts(checked, size, partBytes, this.allocator);
  }

  /** Decodes one message; byte fields are views into `bytes` (see the module comment). */
  decode(bytes: Uint8Array): RpcMessage {
    const input = checkInput(bytes, this.limits);
    const version = peekCborVersion(input);
    if (version !== WIRE_VERSION) {
      throw new SerializationError(
        'CODEC_VERSION',
        `cbor: wire format version ${version} is not supported (this node speaks ${WIRE_VERSION})`,
      );
    }
    scanCbor(input, CBOR_NESTING_DEPTH_MAX, listItemsMax(this.limits), dataItemsMax(this.limits));
    // The message a follower decodes most is read straight from the bytes (cbor-append-reader.ts).
    const direct = readAppendEntriesDirect(input, this.limits);
    if (direct !== null) return direct;
    const items = this.parse(input);
    if (!Array.isArray(items)) throw malformed('message', '', `expected an array, got ${describe(items)}`);
    const code: unknown = items[1];
    const type = typeof code === 'number' && Number.isInteger(code) ? MESSAGE_TYPES_BY_CODE[code - 1] : undefined;
    const positions = type === undefined ? undefined : MESSAGE_POSITIONS.get(type);
    if (type === undefined || positions === undefined)
      throw malformed('message', 'type', `unknown message type code ${describe(code)}`);
    return readMessage(type, new PositionalReader(items, positions, 2 + positions.size, type, -1, this.limits));
  }

  /** Decodes a message that must be of type `type`; any other type is CODEC_MALFORMED. */
  decodeAs<T extends RpcMessageType>(type: T, bytes: Uint8Array): MessageOfType<T> {
    const message = this.decode(bytes);
    if (!hasType(message, type)) throw malformed('message', 'type', `expected ${type}, got ${message.type}`);
    return message;
  }

  /** Runs cbor-x over scanned input, turning its errors into CODEC_MALFORMED. */
  private parse(input: Uint8Array): unknown {
    // Given a plain Uint8Array, cbor-x returns byte strings as plain Uint8Array views of it
    // (`subarray`), which is what messages hold; given a Buffer it would return Buffer views,
    // each of which would need a second view to become a plain Uint8Array. A view of our own
    // also keeps cbor-x from caching a `dataView` property on the caller's object.
    const view = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    try {
      const value: unknown = this.decoder.decode(view);
      return value;
    } catch (error: unknown) {
      throw new SerializationError(
        'CODEC_MALFORMED',
        `cbor: ${error instanceof Error ? error.message : 'undecodable'}`,
        { cause: error },
      );
    }
  }
}
