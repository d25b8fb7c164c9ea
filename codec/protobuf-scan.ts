/**
 * A walk over untrusted Protocol Buffers input before protobufjs decodes it, guided by the
 * schema: it descends into the length-delimited fields the schema declares as messages and
 * skips every other field by its wire type, without building anything. It refuses:
 *
 * - more than `fieldsMax` fields in all (CODEC_LIMIT): 8 MiB of empty entries would otherwise
 *   become millions of message objects;
 * - groups (wire types 3 and 4), which the format never uses and which protobufjs skips
 *   recursively, and invalid wire types or field number 0 (CODEC_MALFORMED);
 * - truncated fields and nested messages overrunning their parent (CODEC_MALFORMED).
 *
 * The walk keeps an explicit stack whose depth is bounded by the schema's nesting (4).
 */
import type { Reader, Type } from 'protobufjs';
import { SerializationError } from '../contracts/errors.js';
import { loadProtobuf } from './protobuf-module.js';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

interface OpenMessage {
  readonly type: Type;
  /** Offset just past the message's last byte. */
  readonly end: number;
}

function scanError(offset: number, problem: string): SerializationError {
  return new SerializationError('CODEC_MALFORMED', `protobuf: byte ${offset}: ${problem}`);
}

/** Skips the field whose tag was just read, or opens it when it is a nested message. */
function skipOrOpen(
  reader: Reader,
  open: OpenMessage,
  fieldNumber: number,
  wireType: number,
  stack: OpenMessage[],
): void {
  switch (wireType) {
    case WIRE_VARINT:
      reader.skip();
      return;
    case WIRE_FIXED64:
      reader.skip(8);
      return;
    case WIRE_FIXED32:
      reader.skip(4);
      return;
    case WIRE_LENGTH_DELIMITED: {
      const length = reader.uint32();
      if (length > open.end - reader.pos)
        throw scanError(reader.pos, `field ${fieldNumber} of ${length} bytes overruns its message`);
      const nested = open.type.fieldsById[fieldNumber]?.resolvedType;
      if (nested instanceof loadProtobuf().Type) stack.push({ type: nested, end: reader.pos + length });
      else reader.skip(length);
      return;
    }
    default:
      throw scanError(reader.pos, `wire type ${wireType} (groups are not used) in field ${fieldNumber}`);
  }
}

/**
 * Throws SerializationError unless `bytes` is a well-formed encoding of `root` (as far as wire
 * types and lengths go) with at most `fieldsMax` fields. `root` must be resolved.
 */
export function scanProtobuf(bytes: Uint8Array, root: Type, fieldsMax: number): void {
  const reader = loadProtobuf().Reader.create(bytes);
  const stack: OpenMessage[] = [{ type: root, end: bytes.length }];
  let fields = 0;
  try {
    for (let open = stack.at(-1); open !== undefined; open = stack.at(-1)) {
      if (reader.pos >= open.end) {
        if (reader.pos > open.end) throw scanError(reader.pos, 'a field overruns its message');
        stack.pop();
        continue;
      }
      const tag = reader.uint32();
      fields += 1;
      if (fields > fieldsMax)
        throw new SerializationError(
          'CODEC_LIMIT',
          `protobuf: byte ${reader.pos}: more than ${fieldsMax} fields, more than any message may hold`,
        );
      if (tag >>> 3 === 0) throw scanError(reader.pos, 'field number 0');
      skipOrOpen(reader, open, tag >>> 3, tag & 7, stack);
    }
  } catch (error: unknown) {
    if (error instanceof SerializationError) throw error;
    // protobufjs's reader throws RangeError on reads past the end of the input.
    throw new SerializationError(
      'CODEC_MALFORMED',
      `protobuf: ${error instanceof Error ? error.message : 'unreadable'}`,
      { cause: error },
    );
  }
}
