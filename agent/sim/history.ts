/**
 * Histories of client operations on the KV store, as JSON Lines: the format the simulator and
 * real-cluster chaos runs write, and the linearizability checker reads. One event per line:
 *
 *   {"t":ms,"type":"invoke","client":C,"id":N,"op":"put"|"get"|"delete"|"cas"|"txn","key":K,"value":V}
 *   {"t":ms,"type":"ok"|"fail"|"info","client":C,"id":N,"value":V}
 *
 * `client` is a string or a non-negative integer; `id` a non-negative integer, unique per client;
 * `(client, id)` pairs an invoke with its completion. `t` is a finite number of milliseconds.
 * Invoke values: put the string written; get and delete null; cas `{"expect":E,"set":S}` where E
 * is the value the key must hold (null: absent) and S the string written when it does; txn (a
 * transaction over several keys, `key` ignored) `{"expect":{K:E,...},"set":{K:S,...}}`: when every
 * key K of expect holds E (null: absent), every key of set takes S (null: deleted), all at one
 * point; an ok txn did that, a fail txn found another value and changed nothing. A txn with an
 * empty set and an ok completion is an atomic read of several keys (expect: the values read).
 * Completions have Jepsen's meaning: `ok` it happened; `fail` it definitely did not happen (a cas
 * whose comparison failed is a `fail`); `info` unknown, it may have happened at any time after
 * its invoke, or never. Every completion has a `value`: an ok get's is the value read (a string,
 * or null when absent); other completions may carry null, a string or their cas argument, and
 * the checker ignores it. An invoke with no completion is treated like `info`.
 */
import { SerializationError, describeError } from '../../contracts/errors.js';

/** A client of a history: a name or a number. */
export type HistoryClient = string | number;
/** The operations a history records. */
export type HistoryOp = 'put' | 'get' | 'delete' | 'cas' | 'txn';
/** The argument of a cas: write `set` if the key holds `expect` (null: absent). */
export interface CasArgument {
  readonly expect: string | null;
  readonly set: string;
}
/** The argument of a txn: when every key of `expect` holds its value (null: absent), write `set` (null: delete). */
export interface TxnArgument {
  readonly expect: Readonly<Record<string, string | null>>;
  readonly set: Readonly<Record<string, string | null>>;
}
/** Most keys one txn names (expect and set together). */
export const TXN_KEYS_MAX = 64;
/** The value of an invoke: a put's string, a cas or txn argument, or null (get, delete). */
export type InvokeValue = string | null | CasArgument | TxnArgument;

/** The start of an operation. */
export interface InvokeEvent {
  readonly t: number;
  readonly type: 'invoke';
  readonly client: HistoryClient;
  readonly id: number;
  readonly op: HistoryOp;
  readonly key: string;
  readonly value: InvokeValue;
}

/** The end of an operation. `value` is the value an ok get read; ignored otherwise. */
export interface CompletionEvent {
  readonly t: number;
  readonly type: 'ok' | 'fail' | 'info';
  readonly client: HistoryClient;
  readonly id: number;
  readonly value: InvokeValue;
}

/** Any history event. */
export type HistoryEvent = InvokeEvent | CompletionEvent;

/** One operation: an invoke paired with its completion. */
export interface HistoryOperation {
  readonly client: HistoryClient;
  readonly id: number;
  readonly op: HistoryOp;
  readonly key: string;
  /** Every key the operation touches, sorted, for a txn (absent: [key]). */
  readonly keys?: readonly string[];
  /** The invoke's value. */
  readonly value: InvokeValue;
  /** The value an ok get read (null when absent); null for every other operation. */
  readonly output: string | null;
  readonly invokeMs: number;
  /** The completion time; Infinity for info and for operations that never completed. */
  readonly completeMs: number;
  /** `info` also for an invoke without completion. */
  readonly status: 'ok' | 'fail' | 'info';
}

/** Limits of the parser. */
export interface HistoryParseOptions {
  /** Most events accepted. Default 10,000,000. Limit: >= 1. */
  readonly eventsMax: number;
}

const DEFAULT_PARSE_OPTIONS: HistoryParseOptions = { eventsMax: 10_000_000 };
const INVOKE_FIELDS = ['t', 'type', 'client', 'id', 'op', 'key', 'value'];
const COMPLETION_FIELDS = ['t', 'type', 'client', 'id', 'value'];
const CAS_FIELDS = ['expect', 'set'];

function isRecord(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fieldsOf(
  value: unknown,
  allowed: (fields: ReadonlyMap<string, unknown>) => readonly string[],
): Map<string, unknown> {
  if (!isRecord(value)) throw new Error('expected a JSON object');
  const fields = new Map<string, unknown>(Object.entries(value));
  const names = allowed(fields);
  for (const name of fields.keys()) if (!names.includes(name)) throw new Error(`unexpected field '${name}'`);
  return fields;
}

function readClient(value: unknown): HistoryClient {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new Error("'client' must be a non-empty string or a non-negative integer");
}

function readOp(value: unknown): HistoryOp {
  if (value === 'put' || value === 'get' || value === 'delete' || value === 'cas' || value === 'txn') return value;
  throw new Error("'op' must be put, get, delete, cas or txn");
}

function readInvokeValue(op: HistoryOp, value: unknown): InvokeValue {
  switch (op) {
    case 'put':
      if (typeof value !== 'string') throw new Error("a put's 'value' must be a string");
      return value;
    case 'get':
    case 'delete':
      if (value !== null) throw new Error(`a ${op}'s 'value' must be null`);
      return null;
    case 'txn':
      return readTxnArgument(value);
    case 'cas': {
      const fields = fieldsOf(value, () => CAS_FIELDS);
      if (!fields.has('expect') || !fields.has('set')) throw new Error("a cas's 'value' must have 'expect' and 'set'");
      const expect = fields.get('expect');
      const set = fields.get('set');
      if (expect !== null && typeof expect !== 'string') throw new Error("a cas's 'expect' must be a string or null");
      if (typeof set !== 'string') throw new Error("a cas's 'set' must be a string");
      return { expect, set };
    }
  }
}

function readKeyValues(value: unknown, name: string): Record<string, string | null> {
  const fields = fieldsOf(value, (f) => [...f.keys()]);
  const out: Record<string, string | null> = {};
  for (const [key, v] of fields) {
    if (v !== null && typeof v !== 'string') throw new Error(`a txn's '${name}.${key}' must be a string or null`);
    out[key] = v;
  }
  return out;
}

function readTxnArgument(value: unknown): TxnArgument {
  const fields = fieldsOf(value, () => ['expect', 'set']);
  if (!fields.has('expect') || !fields.has('set')) throw new Error("a txn's 'value' must have 'expect' and 'set'");
  const expect = readKeyValues(fields.get('expect'), 'expect');
  const set = readKeyValues(fields.get('set'), 'set');
  if (new Set([...Object.keys(expect), ...Object.keys(set)]).size > TXN_KEYS_MAX)
    throw new Error(`a txn names more than TXN_KEYS_MAX (${TXN_KEYS_MAX}) keys`);
  return { expect, set };
}

/** Whether an invoke value is a txn argument. */
export function isTxnArgument(value: InvokeValue): value is TxnArgument {
  return value !== null && typeof value === 'object' && typeof value.set === 'object';
}

/** The keys an operation touches, sorted. */
export function keysOf(op: HistoryOp, key: string, value: InvokeValue): string[] {
  if (op !== 'txn' || !isTxnArgument(value)) return [key];
  return [...new Set([...Object.keys(value.expect), ...Object.keys(value.set)])].sort();
}

function readOutput(value: unknown): string | null {
  if (value !== null && typeof value !== 'string')
    throw new Error("a completion's 'value' must be a string, null or a cas argument");
  return value;
}

/** Checks one parsed JSON value as an event; throws a plain Error naming the problem. */
function readEvent(value: unknown): HistoryEvent {
  const fields = fieldsOf(value, (f) => (f.get('type') === 'invoke' ? INVOKE_FIELDS : COMPLETION_FIELDS));
  const type = fields.get('type');
  const t = fields.get('t');
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new Error("'t' must be a finite number");
  const client = readClient(fields.get('client'));
  const id = fields.get('id');
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
    throw new Error("'id' must be a non-negative integer");
  if (type === 'invoke') {
    const op = readOp(fields.get('op'));
    const key = fields.get('key');
    if (typeof key !== 'string') throw new Error("'key' must be a string");
    if (!fields.has('value')) throw new Error("an invoke must have a 'value'");
    return { t, type, client, id, op, key, value: readInvokeValue(op, fields.get('value')) };
  }
  if (type !== 'ok' && type !== 'fail' && type !== 'info') throw new Error("'type' must be invoke, ok, fail or info");
  if (!fields.has('value')) throw new Error("a completion must have a 'value' (null when it has none)");
  const output = fields.get('value');
  if (isRecord(output)) {
    const kind = typeof Reflect.get(output, 'set') === 'string' ? 'cas' : 'txn';
    return { t, type, client, id, value: readInvokeValue(kind, output) };
  }
  return { t, type, client, id, value: readOutput(output) };
}

/**
 * Parses JSON Lines into events, skipping blank lines. Throws SerializationError
 * (CODEC_MALFORMED) naming the first bad line.
 */
export function parseHistory(text: string, options: Partial<HistoryParseOptions> = {}): HistoryEvent[] {
  const { eventsMax } = { ...DEFAULT_PARSE_OPTIONS, ...options };
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = (lines[i] ?? '').trim();
    if (line.length === 0) continue;
    if (events.length >= eventsMax)
      throw new SerializationError('CODEC_LIMIT', `history line ${i + 1}: more than eventsMax (${eventsMax}) events`);
    try {
      events.push(readEvent(JSON.parse(line)));
    } catch (error: unknown) {
      const reason = describeError(error);
      throw new SerializationError('CODEC_MALFORMED', `history line ${i + 1}: ${reason}: ${line.slice(0, 200)}`, {
        cause: error,
      });
    }
  }
  return events;
}

/** Formats one event as a JSON line (without the newline), fields in the documented order. */
export function formatHistoryEvent(event: HistoryEvent): string {
  return event.type === 'invoke'
    ? JSON.stringify({
        t: event.t,
        type: event.type,
        client: event.client,
        id: event.id,
        op: event.op,
        key: event.key,
        value: event.value,
      })
    : JSON.stringify({ t: event.t, type: event.type, client: event.client, id: event.id, value: event.value });
}

function operationKey(client: HistoryClient, id: number): string {
  return `${typeof client}:${String(client)}:${id}`;
}

function describe(event: HistoryEvent, position: number): string {
  return `event ${position} (client ${JSON.stringify(event.client)}, id ${event.id})`;
}

/**
 * Pairs every invoke with its completion into operations, in invoke order. Throws
 * SerializationError (CODEC_MALFORMED) for a repeated invoke, a completion without invoke, a
 * second completion, a completion before its invoke, or an ok get without a value.
 */
export function pairOperations(events: readonly HistoryEvent[]): HistoryOperation[] {
  const invokes = new Map<string, { readonly event: InvokeEvent; readonly position: number }>();
  const completions = new Map<string, CompletionEvent>();
  const bad = (event: HistoryEvent, position: number, reason: string): SerializationError =>
    new SerializationError('CODEC_MALFORMED', `${describe(event, position)}: ${reason}`);
  events.forEach((event, i) => {
    const k = operationKey(event.client, event.id);
    if (event.type === 'invoke') {
      if (invokes.has(k)) throw bad(event, i + 1, 'repeats an invoke');
      invokes.set(k, { event, position: i + 1 });
      return;
    }
    const invoke = invokes.get(k);
    if (invoke === undefined) throw bad(event, i + 1, 'completes an operation that was not invoked before');
    if (completions.has(k)) throw bad(event, i + 1, 'completes an operation a second time');
    if (event.t < invoke.event.t)
      throw bad(event, i + 1, `completes at ${event.t} before its invoke at ${invoke.event.t}`);
    completions.set(k, event);
  });
  return [...invokes.entries()].map(([k, { event, position }]) => {
    const completion = completions.get(k);
    const status = completion === undefined ? 'info' : completion.type;
    let output: string | null = null;
    if (event.op === 'get' && completion !== undefined && status === 'ok') {
      if (completion.value !== null && typeof completion.value !== 'string')
        throw bad(event, position, 'an ok get must carry a string or null');
      output = completion.value;
    }
    return {
      client: event.client,
      id: event.id,
      op: event.op,
      key: event.key,
      ...(event.op === 'txn' ? { keys: keysOf(event.op, event.key, event.value) } : {}),
      value: event.value,
      output,
      invokeMs: event.t,
      completeMs: status === 'info' || completion === undefined ? Infinity : completion.t,
      status,
    };
  });
}
