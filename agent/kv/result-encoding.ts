/**
 * The CBOR encoding of KV results (the module comment of encoding.ts gives their maps): what the
 * state machine answers a command or query with, kept in sessions for retries and sent back to
 * the node that asked. Decoding is strict, as for commands: SerializationError (CODEC_MALFORMED)
 * and nothing else.
 */
import { Encoder } from 'cbor-x';
import { encodeCbor } from './cbor-output.js';
import { decodePutResultDirect, encodePutResultDirect } from './put-result.js';
import type { KvChangeEvent, KvErrorCode, KvErrorResult, KvListItem, KvResult, KvVersioned } from './types.js';
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
import { LIST_ITEMS_MAX } from './execute.js';
import { decodeTxnResults, encodeTxnResults } from './txn.js';
import * as leaseCodec from './lease-codec.js';

const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });

function readKey(fields: Fields): string {
  const key = fields.string('key');
  if (key.length === 0) throw malformed("field 'key' must not be empty");
  return key;
}

function encodeVersioned(versioned: KvVersioned | null): Record<string, unknown> | null {
  if (versioned === null) return null;
  return { value: asByteString(versioned.value), rev: versioned.revision };
}

/**
 * Encodes a result; `storeRevision`, when given, is written in place of the result's own (the
 * state machine stamps every result it encodes without building a copy of it).
 */
export function encodeKvResult(result: KvResult, storeRevision?: number): Uint8Array {
  if (result.type === 'error')
    return encodeCbor(encoder, { type: 'error', code: result.code, message: result.message });
  const srev = storeRevision ?? result.storeRevision;
  // The result of nearly every write, written directly: the same bytes (put-result.ts).
  const put =
    result.type === 'put' && result.previous === null
      ? encodePutResultDirect(result.revision, srev, result.created)
      : null;
  if (put !== null) return put;
  const map = resultMap(result);
  if (srev !== undefined) map['srev'] = srev;
  return encodeCbor(encoder, map);
}

function resultMap(result: Exclude<KvResult, KvErrorResult>): Record<string, unknown> {
  switch (result.type) {
    case 'put':
      // `new` only when the put created its key: a put that replaced a value encodes as before.
      return {
        type: 'put',
        rev: result.revision,
        prev: encodeVersioned(result.previous),
        ...(result.created ? { new: true } : {}),
      };
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
const PUT_OPTIONAL = ['new', 'srev'];

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
      const fields = Fields.of(value, 'put result', ['type', 'rev', 'prev'], PUT_OPTIONAL);
      if (fields.has('new') && fields.raw('new') !== true) throw malformed("put result: field 'new' must be true");
      return {
        type,
        revision: fields.integer('rev', 1),
        previous: readVersioned(fields.raw('prev'), 'put result prev'),
        created: fields.has('new'),
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

const TYPE_FIELD: readonly string[] = ['type'];
/** Every field a result of any type may have besides `type`; built once, not per decoded result. */
const RESULT_FIELDS: readonly string[] = [
  ...['rev', 'prev', 'new', 'deleted', 'ok', 'current', 'code', 'message', 'items', 'more', 'results', 'events'],
  'srev',
  ...leaseCodec.LEASE_RESULT_FIELDS,
];

/** Decodes a result; throws SerializationError (CODEC_MALFORMED). */
export function decodeKvResult(bytes: Uint8Array): KvResult {
  const put = bytes instanceof Uint8Array ? decodePutResultDirect(bytes) : null;
  return put ?? decodeKvResultGeneric(bytes);
}

/** Decodes a result through cbor-x and Fields, whatever its type; decodeKvResult's way for all but put-result.ts's. */
export function decodeKvResultGeneric(bytes: Uint8Array): KvResult {
  const value = decodeCbor(bytes, 'result');
  const fields = Fields.of(value, 'result', TYPE_FIELD, RESULT_FIELDS);
  const result = readResult(value, fields.string('type'));
  if (!fields.has('srev') || result.type === 'error') return result;
  // The revision goes before the spread (see decodeKvCommand); readResult never sets it.
  return { storeRevision: fields.integer('srev', 0), ...result };
}
