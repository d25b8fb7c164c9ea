/**
 * The CBOR encoding of KV commands, queries and results: what clients put in log entries and
 * read back. Each is one CBOR map with text field names; bytes are plain byte strings.
 *
 * Commands: `{op, key, time, [client, seq, [acked], [rid]], ...}` with, per op, `put: value, prev`,
 * `delete: prev`, `cas: rev, value`, `get: (nothing)`, and `{op: 'txn', time, compare, success, failure}`
 * (no key; txn.ts). `client` and `seq` are both present
 * (a session) or both absent; `acked`, the session's watermark (1 to seq), and `rid`, the
 * request id (16 bytes), only with them.
 * Queries: `{op: 'get', key}`, `{op: 'list', prefix, limit, [after]}`. Results: `{type, ...}` as in
 * types.ts, a versioned value being `{value, rev}`, a listed key `{key, value, rev}`; every result
 * but an error carries the store revision as `srev` (optional when decoding: responses kept for
 * retries by an older version lack it).
 *
 * Decoders are strict: exact field sets, exact types, integer ranges. They throw
 * SerializationError (CODEC_MALFORMED) and nothing else.
 */
import { Encoder } from 'cbor-x';
import { encodeCbor, encodeCborOwned } from './cbor-output.js';
import type { KvCasOperation, KvCommand, KvOperation, KvPutOperation, KvQuery, KvSession } from './types.js';
import { Fields, asByteString, decodeCbor, malformed } from './fields.js';
import { LIST_BYTES_MAX, LIST_ITEMS_MAX } from './execute.js';
import { decodeTxnFields, encodeTxnFields } from './txn.js';
import { REQUEST_ID_BYTES } from './request-ids.js';
import { decodePutDirect } from './put-decode.js';
import { encodePutDirect } from './put-encode.js';
import * as leaseCodec from './lease-codec.js';

const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });

/** The field names of a command's header. */
const HEADER_FIELDS: readonly string[] = ['op', 'key', 'time'];
const SESSION_FIELDS: readonly string[] = ['client', 'seq', 'acked', 'rid'];
const LEASED_FIELDS: readonly string[] = [...SESSION_FIELDS, 'lease'];
const PUT_FIELDS: readonly string[] = [...HEADER_FIELDS, 'value', 'prev'];
const DELETE_FIELDS: readonly string[] = [...HEADER_FIELDS, 'prev'];
const CAS_FIELDS: readonly string[] = [...HEADER_FIELDS, 'rev', 'value'];
const TXN_FIELDS: readonly string[] = ['op', 'time', 'compare', 'success', 'failure'];

function encodeOperation(operation: KvOperation): Record<string, unknown> {
  switch (operation.op) {
    case 'put': {
      // The lease is set after the fields, so the map's key order (and its bytes) stay as they were.
      const map: Record<string, unknown> = {
        op: 'put',
        key: operation.key,
        value: asByteString(operation.value),
        prev: operation.returnPrevious,
      };
      if (operation.lease !== undefined) map['lease'] = operation.lease;
      return map;
    }
    case 'delete':
      return { op: 'delete', key: operation.key, prev: operation.returnPrevious };
    case 'cas': {
      const map: Record<string, unknown> = {
        op: 'cas',
        key: operation.key,
        rev: operation.expectedRevision,
        value: asByteString(operation.value),
      };
      if (operation.lease !== undefined) map['lease'] = operation.lease;
      return map;
    }
    case 'get':
      return { op: 'get', key: operation.key };
    case 'txn':
      return encodeTxnFields(operation);
    default:
      return leaseCodec.encodeLeaseFields(operation);
  }
}

/** A write's identity in a session: what the local endpoint gives a command it submits. */
export interface KvCommandIdentity {
  readonly session: KvSession;
  readonly requestId: Uint8Array;
}

/**
 * Encodes a command for a log entry; `identity`, when given, is written in place of the
 * command's session and request id (the endpoint identifies a write without copying it).
 */
export function encodeKvCommand(command: KvCommand, identity?: KvCommandIdentity): Uint8Array {
  return encodePutDirect(command, identity) ?? encodeKvCommandGeneric(command, identity);
}

/** encodeKvCommand's way for every command through cbor-x (put-encode.ts writes a put's bytes directly). */
export function encodeKvCommandGeneric(command: KvCommand, identity?: KvCommandIdentity): Uint8Array {
  const map = encodeOperation(command);
  map['time'] = command.timeMs;
  const session = identity === undefined ? command.session : identity.session;
  if (session !== null) {
    map['client'] = session.clientId;
    map['seq'] = session.seq;
    if (session.ackedBelow !== undefined) map['acked'] = session.ackedBelow;
  }
  const requestId = identity === undefined ? command.requestId : identity.requestId;
  if (requestId !== undefined) map['rid'] = asByteString(requestId);
  // A buffer of its own from 1 KiB up: the store keeps its value as a view of it (store.ts).
  return encodeCborOwned(encoder, map);
}

function readSession(fields: Fields): KvSession | null {
  const hasClient = fields.has('client');
  if (hasClient !== fields.has('seq')) throw malformed("command: fields 'client' and 'seq' go together");
  if (!hasClient) {
    if (fields.has('acked') || fields.has('rid'))
      throw malformed("command: fields 'acked' and 'rid' need 'client' and 'seq'");
    return null;
  }
  const clientId = fields.string('client');
  if (clientId.length === 0) throw malformed("command: field 'client' must not be empty");
  const seq = fields.integer('seq', 1);
  if (!fields.has('acked')) return { clientId, seq };
  return { clientId, seq, ackedBelow: fields.integer('acked', 1, seq) };
}

function readKey(fields: Fields): string {
  const key = fields.string('key');
  if (key.length === 0) throw malformed("field 'key' must not be empty");
  return key;
}

/** Every field a command of any op may have besides `op`; built once, not per decoded command. */
const COMMAND_FIELDS: readonly string[] = [
  ...['key', 'time', 'client', 'seq', 'acked', 'rid', 'value', 'prev', 'rev', 'compare', 'success', 'failure'],
  ...['lease', ...leaseCodec.LEASE_COMMAND_FIELDS],
];
const OP_FIELD: readonly string[] = ['op'];

function readOperation(value: unknown): { readonly operation: KvOperation; readonly fields: Fields } {
  const all = Fields.of(value, 'command', OP_FIELD, COMMAND_FIELDS);
  const op = all.string('op');
  if (leaseCodec.LEASE_OPS.includes(op)) return leaseCodec.decodeLeaseFields(all, op, SESSION_FIELDS);
  switch (op) {
    case 'put': {
      const fields = all.expect('put command', PUT_FIELDS, LEASED_FIELDS);
      const operation: KvPutOperation = {
        op,
        key: readKey(fields),
        value: fields.bytes('value'),
        returnPrevious: fields.boolean('prev'),
        ...leaseCodec.leaseField(fields),
      };
      return { operation, fields };
    }
    case 'delete': {
      const fields = all.expect('delete command', DELETE_FIELDS, SESSION_FIELDS);
      return { operation: { op, key: readKey(fields), returnPrevious: fields.boolean('prev') }, fields };
    }
    case 'cas': {
      const fields = all.expect('cas command', CAS_FIELDS, LEASED_FIELDS);
      const operation: KvCasOperation = {
        op,
        key: readKey(fields),
        expectedRevision: fields.integer('rev', 0),
        value: fields.bytes('value'),
        ...leaseCodec.leaseField(fields),
      };
      return { operation, fields };
    }
    case 'get': {
      const fields = all.expect('get command', HEADER_FIELDS, SESSION_FIELDS);
      return { operation: { op, key: readKey(fields) }, fields };
    }
    case 'txn': {
      const fields = all.expect('txn command', TXN_FIELDS, SESSION_FIELDS);
      return {
        operation: decodeTxnFields(fields.raw('compare'), fields.raw('success'), fields.raw('failure')),
        fields,
      };
    }
    default:
      throw malformed(`command: unknown op '${op.slice(0, 32)}'`);
  }
}

/** Decodes a command from a log entry; throws SerializationError (CODEC_MALFORMED). */
export function decodeKvCommand(bytes: Uint8Array): KvCommand {
  // The endpoint's puts, read straight from their bytes; anything else the generic way (put-decode.ts).
  const put = bytes instanceof Uint8Array ? decodePutDirect(bytes) : null;
  return put ?? decodeKvCommandGeneric(bytes);
}

/**
 * Decodes a command through cbor-x and Fields, whatever its op and shape; throws
 * SerializationError (CODEC_MALFORMED). decodeKvCommand's way for all but the endpoint's puts.
 */
export function decodeKvCommandGeneric(bytes: Uint8Array): KvCommand {
  const { operation, fields } = readOperation(decodeCbor(bytes, 'command'));
  // Checked in this order (operation, session, time, request id) so that a malformed command
  // gets the same message as it always did. The header goes before the spread: on Node 20,
  // `{ ...operation, more }` costs about 0.5 us and gives every object a hidden class of its own
  // once optimized, where `{ more, ...operation }` costs tens of ns and shares one.
  const session = readSession(fields);
  const timeMs = fields.integer('time', 0);
  if (!fields.has('rid')) return { session, timeMs, ...operation };
  const requestId = fields.bytes('rid');
  if (requestId.byteLength !== REQUEST_ID_BYTES)
    throw malformed(`command: field 'rid' must have ${REQUEST_ID_BYTES} bytes`);
  return { session, timeMs, requestId, ...operation };
}

/** Encodes a query. */
export function encodeKvQuery(query: KvQuery): Uint8Array {
  if (query.op === 'get') return encodeCbor(encoder, { op: query.op, key: query.key });
  if (query.op === 'lease') return encodeCbor(encoder, { op: query.op, id: query.id });
  if (query.op === 'changes')
    return encodeCbor(encoder, {
      op: 'changes',
      since: query.since,
      prefix: query.prefix,
      exact: query.exact,
      limit: query.limit,
      ...(query.bytesMax === undefined ? {} : { bytes: query.bytesMax }),
    });
  const map: Record<string, unknown> = { op: 'list', prefix: query.prefix, limit: query.limit };
  if (query.after !== null) map['after'] = query.after;
  return encodeCbor(encoder, map);
}

/** Decodes a query; throws SerializationError (CODEC_MALFORMED). */
export function decodeKvQuery(bytes: Uint8Array): KvQuery {
  const value = decodeCbor(bytes, 'query');
  const op = Fields.of(
    value,
    'query',
    ['op'],
    ['key', 'prefix', 'limit', 'after', 'since', 'exact', 'bytes', 'id'],
  ).string('op');
  if (op === 'get') return { op, key: readKey(Fields.of(value, 'get query', ['op', 'key'])) };
  if (op === 'lease') return { op, id: Fields.of(value, 'lease query', ['op', 'id']).integer('id', 1) };
  if (op === 'changes') {
    const fields = Fields.of(value, 'changes query', ['op', 'since', 'prefix', 'exact', 'limit'], ['bytes']);
    return {
      op,
      since: fields.integer('since', 0),
      prefix: fields.string('prefix'),
      exact: fields.boolean('exact'),
      limit: fields.integer('limit', 1, LIST_ITEMS_MAX),
      ...(fields.has('bytes') ? { bytesMax: fields.integer('bytes', 1, LIST_BYTES_MAX) } : {}),
    };
  }
  if (op !== 'list') throw malformed(`query: unknown op '${op.slice(0, 32)}'`);
  const fields = Fields.of(value, 'list query', ['op', 'prefix', 'limit'], ['after']);
  return {
    op,
    prefix: fields.string('prefix'),
    after: fields.has('after') ? fields.string('after') : null,
    limit: fields.integer('limit', 1, LIST_ITEMS_MAX),
  };
}

export { decodeKvResult, encodeKvResult } from './result-encoding.js';
