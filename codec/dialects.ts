/**
 * The KeyedDialects: how in-memory messages, JSON documents and protobufjs messages spell the
 * values that differ between them (byte strings, 64-bit integers, enumerations, absent
 * optional fields, unknown fields).
 */
import { Buffer } from 'node:buffer';
import type { EntryType } from '../contracts/log.js';
import {
  asPlainBytes,
  checkByteLength,
  checkBytes,
  checkCode,
  checkUint,
  describe,
  joinPath,
  malformed,
} from './checks.js';
import type { At } from './checks.js';
import type { ByteLimit } from './field-reader.js';
import type { KeyedDialect } from './keyed-reader.js';
import { ENTRY_TYPES, FORWARD_KINDS } from './layout.js';
import type { ForwardKind } from './layout.js';

function entryTypeName(value: unknown, at: At, field: string): EntryType {
  if (value === 'command' || value === 'noop' || value === 'config') return value;
  throw malformed(at, field, `expected an entry type (${ENTRY_TYPES.join(', ')}), got ${describe(value)}`);
}

function forwardKindName(value: unknown, at: At, field: string): ForwardKind {
  for (const name of FORWARD_KINDS) if (name === value) return name;
  throw malformed(at, field, `expected a forward kind (${FORWARD_KINDS.join(', ')}), got ${describe(value)}`);
}

function nullableValue(record: object, field: string): unknown {
  const value: unknown = Reflect.get(record, field);
  return value;
}

function identity(value: unknown): unknown {
  return value;
}

function noUnknownCheck(): void {
  // In-memory messages may carry extra properties (a subclass, a debugging tag); only the
  // known fields are read and copied, so nothing else can reach the wire. JSON documents are
  // checked for unknown fields by their schema before they get here.
}

/** In-memory messages, as RpcMessage declares them. Used to check a message before encoding. */
export const OBJECT_DIALECT: KeyedDialect = {
  uint: checkUint,
  bytes: checkBytes,
  entryType: entryTypeName,
  forwardKind: forwardKindName,
  optional: nullableValue,
  optionalList: identity,
  checkRecord: noUnknownCheck,
  entriesInPlace: false,
};

/**
 * In-memory messages checked for an encoder that writes only the known fields of each entry
 * (cbor-writer.ts): a list of entries is checked where it is and passed on as it is. Not for an
 * encoder that copies every property it finds (the JSON serializer's), which would put an
 * entry's extra properties on the wire.
 */
export const OBJECT_IN_PLACE_DIALECT: KeyedDialect = { ...OBJECT_DIALECT, entriesInPlace: true };

/**
 * Decodes canonical padded base64 (RFC 4648 §4): length a multiple of 4, only the standard
 * alphabet, `=` padding only at the end, unused bits zero. Node's decoder skips what it does
 * not understand, so the decoded bytes are encoded again and must give back the same text;
 * this checks in linear time what a regular expression would check with a backtracking stack
 * that multi-megabyte strings exhaust. The decoded size is checked against `max` first.
 */
function strictBase64(value: unknown, max: number, limitName: ByteLimit, at: At, field: string): Uint8Array {
  if (typeof value !== 'string') throw malformed(at, field, `expected a base64 string, got ${describe(value)}`);
  if (value.length % 4 !== 0) throw malformed(at, field, 'base64 length is not a multiple of 4');
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  checkByteLength((value.length / 4) * 3 - padding, max, limitName, at, field);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.toString('base64') !== value) throw malformed(at, field, 'not canonical padded base64');
  return asPlainBytes(bytes);
}

/** JSON documents that passed the JSON Schema: byte strings are canonical padded base64. */
export const JSON_DIALECT: KeyedDialect = {
  uint: checkUint,
  bytes: strictBase64,
  entryType: entryTypeName,
  forwardKind: forwardKindName,
  optional: nullableValue,
  optionalList: identity,
  checkRecord: noUnknownCheck,
  entriesInPlace: false,
};

/** 2^53 / 2^32: a uint64 whose high word reaches this is not a safe integer. */
const SAFE_HIGH_WORD_LIMIT = 0x200000;

/**
 * Reads a protobufjs uint64: a number, or a Long-like `{ low, high }` (protobufjs returns
 * Long objects when the `long` package is present). Values above 2^53 - 1 are refused.
 */
function protoUint(value: unknown, at: At, field: string): number {
  if (typeof value === 'object' && value !== null && 'low' in value && 'high' in value) {
    const { low, high } = value;
    if (typeof low === 'number' && typeof high === 'number') {
      const highWord = high >>> 0;
      if (highWord >= SAFE_HIGH_WORD_LIMIT) throw malformed(at, field, 'expected a safe integer, got a larger uint64');
      return highWord * 0x1_0000_0000 + (low >>> 0);
    }
  }
  return checkUint(value, at, field);
}

/**
 * protobufjs messages decoded with `discardUnknown = false`. Optional fields (proto3
 * `optional`, and the NodeIdList wrapper of oldVoters) are absent exactly when they are not
 * own properties of the decoded message; unknown fields and fields of the wrong wire type are
 * kept by protobufjs in `$unknowns` and refused here.
 */
export const PROTO_DIALECT: KeyedDialect = {
  uint: protoUint,
  // An absent bytes field reads as protobufjs's default, an empty array: empty bytes.
  bytes: (value, max, limitName, at, field) =>
    Array.isArray(value) && value.length === 0 ? new Uint8Array(0) : checkBytes(value, max, limitName, at, field),
  entryType: (value, at, field) => checkCode(ENTRY_TYPES, 'an entry type', value, at, field),
  forwardKind: (value, at, field) => checkCode(FORWARD_KINDS, 'a forward kind', value, at, field),
  optional: (record, field) => {
    if (!Object.hasOwn(record, field)) return null;
    const value: unknown = Reflect.get(record, field);
    return value;
  },
  optionalList: (value, at, field) => {
    if (value === null) return null;
    if (typeof value !== 'object' || Array.isArray(value))
      throw malformed(at, field, `expected a NodeIdList, got ${describe(value)}`);
    PROTO_DIALECT.checkRecord(value, joinPath(at, field));
    const ids: unknown = Reflect.get(value, 'ids');
    return ids;
  },
  checkRecord: (record, at) => {
    if (Object.hasOwn(record, '$unknowns')) throw malformed(at, '', 'unknown field or field of the wrong wire type');
  },
  entriesInPlace: false,
};
