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
import { encodeCbor } from './cbor-output.js';
import type {
  KvCasOperation,
  KvCommand,
  KvErrorCode,
  KvChangeEvent,
  KvErrorResult,
  KvListItem,
  KvOperation,
  KvPutOperation,
  KvQuery,
  KvResult,
  KvSession,
  KvVersioned,
} from './types.js';
import { KV_ERROR_CODES } from './types.js';
import {
  Fields,
  asByteString,
  decodeCbor,
  malformed,
  readArray,
  readBytes,
  readInteger,
  readString,
} from './fields.js';
import { LIST_BYTES_MAX, LIST_ITEMS_MAX } from './execute.js';
import { decodeTxnFields, decodeTxnResults, encodeTxnFields, encodeTxnResults } from './txn.js';
import { REQUEST_ID_BYTES } from './request-ids.js';
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
      const map = {
        op: 'put',
        key: operation.key,
        value: asByteString(operation.value),
        prev: operation.returnPrevious,
      };
      return operation.lease === undefined ? map : { ...map, lease: operation.lease };
    }
    case 'delete':
      return { op: 'delete', key: operation.key, prev: operation.returnPrevious };
    case 'cas': {
      const map = {
        op: 'cas',
        key: operation.key,
        rev: operation.expectedRevision,
        value: asByteString(operation.value),
      };
      return operation.lease === undefined ? map : { ...map, lease: operation.lease };
    }
    case 'get':
      return { op: 'get', key: operation.key };
    case 'txn':
      return encodeTxnFields(operation);
    default:
      return leaseCodec.encodeLeaseFields(operation);
  }
}

/** Encodes a command for a log entry. */
export function encodeKvCommand(command: KvCommand): Uint8Array {
  const map = encodeOperation(command);
  map['time'] = command.timeMs;
  if (command.session !== null) {
    map['client'] = command.session.clientId;
    map['seq'] = command.session.seq;
    if (command.session.ackedBelow !== undefined) map['acked'] = command.session.ackedBelow;
  }
  if (command.requestId !== undefined) map['rid'] = asByteString(command.requestId);
  return encodeCbor(encoder, map);
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

function readOperation(value: unknown): { readonly operation: KvOperation; readonly fields: Fields } {
  const all = Fields.of(
    value,
    'command',
    ['op'],
    [
      ...['key', 'time', 'client', 'seq', 'acked', 'rid', 'value', 'prev', 'rev', 'compare', 'success', 'failure'],
      ...['lease', ...leaseCodec.LEASE_COMMAND_FIELDS],
    ],
  );
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
  const { operation, fields } = readOperation(decodeCbor(bytes, 'command'));
  const command: KvCommand = { ...operation, session: readSession(fields), timeMs: fields.integer('time', 0) };
  if (!fields.has('rid')) return command;
  const requestId = fields.bytes('rid');
  if (requestId.byteLength !== REQUEST_ID_BYTES)
    throw malformed(`command: field 'rid' must have ${REQUEST_ID_BYTES} bytes`);
  return { ...command, requestId };
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

function encodeVersioned(versioned: KvVersioned | null): Record<string, unknown> | null {
  if (versioned === null) return null;
  return { value: asByteString(versioned.value), rev: versioned.revision };
}

/** Encodes a result. */
export function encodeKvResult(result: KvResult): Uint8Array {
  if (result.type === 'error')
    return encodeCbor(encoder, { type: 'error', code: result.code, message: result.message });
  const map = resultMap(result);
  if (result.storeRevision !== undefined) map['srev'] = result.storeRevision;
  return encodeCbor(encoder, map);
}

function resultMap(result: Exclude<KvResult, KvErrorResult>): Record<string, unknown> {
  switch (result.type) {
    case 'put':
      return { type: 'put', rev: result.revision, prev: encodeVersioned(result.previous) };
    case 'delete':
      return { type: 'delete', rev: result.revision, deleted: result.deleted, prev: encodeVersioned(result.previous) };
    case 'cas':
      return result.succeeded
        ? { type: 'cas', ok: true, rev: result.revision }
        : { type: 'cas', ok: false, current: encodeVersioned(result.current) };
    case 'get':
      return { type: 'get', current: encodeVersioned(result.current) };
    case 'list':
      return {
        type: 'list',
        items: result.items.map((item) => ({ key: item.key, value: asByteString(item.value), rev: item.revision })),
        more: result.more,
      };
    case 'txn':
      return { type: 'txn', ok: result.succeeded, results: encodeTxnResults(result.results) };
    case 'changes':
      return {
        type: 'changes',
        events: result.events.map((e) => [
          e.revision,
          e.key,
          e.type === 'put' && e.value !== null ? asByteString(e.value) : null,
        ]),
        more: result.more,
      };
    case 'lease':
    case 'lease-end':
      return leaseCodec.leaseResultMap(result);
  }
}

function readVersioned(value: unknown, what: string): KvVersioned | null {
  if (value === null) return null;
  const fields = Fields.of(value, what, ['value', 'rev']);
  return { value: fields.bytes('value'), revision: fields.integer('rev', 1) };
}

function readErrorCode(code: string): KvErrorCode {
  const known = KV_ERROR_CODES.find((c) => c === code);
  if (known === undefined) throw malformed(`error result: unknown code '${code.slice(0, 32)}'`);
  return known;
}

const SREV = ['srev'];

function readCasResult(value: unknown): KvResult {
  const ok = Fields.of(value, 'cas result', ['type', 'ok'], ['rev', 'current', 'srev']).boolean('ok');
  if (ok)
    return {
      type: 'cas',
      succeeded: true,
      revision: Fields.of(value, 'cas result', ['type', 'ok', 'rev'], SREV).integer('rev', 1),
    };
  const fields = Fields.of(value, 'cas result', ['type', 'ok', 'current'], SREV);
  return { type: 'cas', succeeded: false, current: readVersioned(fields.raw('current'), 'cas result current') };
}

function readListItems(value: unknown): KvListItem[] {
  return readArray(value, 'list result items', LIST_ITEMS_MAX).map((item) => {
    const fields = Fields.of(item, 'list result item', ['key', 'value', 'rev']);
    return { key: readKey(fields), value: fields.bytes('value'), revision: fields.integer('rev', 1) };
  });
}

function readChangeEvents(value: unknown): KvChangeEvent[] {
  return readArray(value, 'changes result events', Number.MAX_SAFE_INTEGER).map((item) => {
    const fields = readArray(item, 'change event', 3);
    if (fields.length !== 3) throw malformed('change event must have 3 items');
    const revision = readInteger(fields[0], 'change event revision', 1);
    const key = readString(fields[1], 'change event key');
    if (fields[2] === null) return { type: 'delete', key, value: null, revision };
    return { type: 'put', key, value: readBytes(fields[2], 'change event value'), revision };
  });
}

function readResult(value: unknown, type: string): KvResult {
  switch (type) {
    case 'put': {
      const fields = Fields.of(value, 'put result', ['type', 'rev', 'prev'], SREV);
      return {
        type,
        revision: fields.integer('rev', 1),
        previous: readVersioned(fields.raw('prev'), 'put result prev'),
      };
    }
    case 'delete': {
      const fields = Fields.of(value, 'delete result', ['type', 'rev', 'deleted', 'prev'], SREV);
      const previous = readVersioned(fields.raw('prev'), 'delete result prev');
      return { type, revision: fields.integer('rev', 1), deleted: fields.boolean('deleted'), previous };
    }
    case 'cas':
      return readCasResult(value);
    case 'get': {
      const fields = Fields.of(value, 'get result', ['type', 'current'], SREV);
      return { type, current: readVersioned(fields.raw('current'), 'get result current') };
    }
    case 'list': {
      const fields = Fields.of(value, 'list result', ['type', 'items', 'more'], SREV);
      return { type, items: readListItems(fields.raw('items')), more: fields.boolean('more') };
    }
    case 'changes': {
      const fields = Fields.of(value, 'changes result', ['type', 'events', 'more'], SREV);
      return { type, events: readChangeEvents(fields.raw('events')), more: fields.boolean('more') };
    }
    case 'txn': {
      const fields = Fields.of(value, 'txn result', ['type', 'ok', 'results'], SREV);
      return { type, succeeded: fields.boolean('ok'), results: decodeTxnResults(fields.raw('results')) };
    }
    case 'lease':
    case 'lease-end':
      return leaseCodec.readLeaseResult(value, type);
    case 'error': {
      const fields = Fields.of(value, 'error result', ['type', 'code', 'message']);
      return { type, code: readErrorCode(fields.string('code')), message: fields.string('message') };
    }
    default:
      throw malformed(`result: unknown type '${type.slice(0, 32)}'`);
  }
}

/** Decodes a result; throws SerializationError (CODEC_MALFORMED). */
export function decodeKvResult(bytes: Uint8Array): KvResult {
  const value = decodeCbor(bytes, 'result');
  const fields = Fields.of(
    value,
    'result',
    ['type'],
    [
      ...['rev', 'prev', 'deleted', 'ok', 'current', 'code', 'message', 'items', 'more', 'results', 'events', 'srev'],
      ...leaseCodec.LEASE_RESULT_FIELDS,
    ],
  );
  const result = readResult(value, fields.string('type'));
  if (!fields.has('srev') || result.type === 'error') return result;
  return { ...result, storeRevision: fields.integer('srev', 0) };
}
