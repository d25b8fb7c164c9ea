// fast-check arbitraries for the KV tests: commands over a small key space and a few clients (so
// that overwrites, CAS matches, duplicates and stale sequences all happen), with and without
// watermarks and request ids, results, and logs mixing commands with noop, config and garbage
// entries.
import * as fc from 'fast-check';
import type { LogEntry } from '../../../contracts/log.js';
import { encodeKvCommand } from '../../../agent/kv/encoding.js';
import type { KvCommand, KvOperation, KvResult, KvSession, KvVersioned } from '../../../agent/kv/types.js';
import { KV_ERROR_CODES } from '../../../agent/kv/types.js';

/** fc.record with ordinary prototypes, so that decoded values compare deep-equal. */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

/** A few keys, one of them multi-byte in UTF-8 and one too long for small key limits. */
export const keyArb = fc.constantFrom('a', 'b', 'c', 'é', 'a-long-key-name');

export const valueArb = fc.uint8Array({ maxLength: 12 });

export const operationArb: fc.Arbitrary<KvOperation> = fc.oneof(
  rec({ op: fc.constant('put' as const), key: keyArb, value: valueArb, returnPrevious: fc.boolean() }),
  rec({ op: fc.constant('delete' as const), key: keyArb, returnPrevious: fc.boolean() }),
  rec({
    op: fc.constant('cas' as const),
    key: keyArb,
    expectedRevision: fc.integer({ min: 0, max: 40 }),
    value: valueArb,
  }),
  rec({ op: fc.constant('get' as const), key: keyArb }),
);

/** A session: explicit (no watermark) or with a watermark from 1 to its sequence. */
export const sessionArb: fc.Arbitrary<KvSession | null> = fc.option(
  fc.oneof(
    rec({ clientId: fc.constantFrom('c1', 'c2', 'c3', 'c4'), seq: fc.integer({ min: 1, max: 6 }) }),
    fc
      .tuple(fc.constantFrom('c1', '@n1/0a1b'), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 }))
      .map(([clientId, seq, back]): KvSession => ({ clientId, seq, ackedBelow: Math.max(1, seq - back) })),
  ),
  { nil: null },
);

/** A request id from a pool of three, so that generated logs repeat them. */
export const requestIdArb: fc.Arbitrary<Uint8Array> = fc
  .integer({ min: 1, max: 3 })
  .map((n) => new Uint8Array(16).fill(n));

/**
 * What a generated command does with its client's session: none, the next sequence, a retry of
 * the last one, a stale (lower) one, or a jump to sequence 5 above the last.
 */
export type SessionIntent = 'none' | 'next' | 'retry' | 'stale' | 'jump';

/** A generated command: resolved against the log built so far by `toLogEntries`. */
export interface GenCommand {
  readonly operation: KvOperation;
  readonly client: number;
  readonly intent: SessionIntent;
  /** For cas: expect revision `index - casBack` (a recent write), or 0 when casBack is 0. */
  readonly casBack: number;
  readonly timeStepMs: number;
  /**
   * The command's watermark below its sequence (an implicit session with commands in flight),
   * or null for an explicit session (no watermark).
   */
  readonly ackedBack: number | null;
  /** A request id from a pool of three (retransmissions of one request), or null. */
  readonly requestId: number | null;
}

export const genCommandArb: fc.Arbitrary<GenCommand> = rec({
  operation: operationArb,
  client: fc.integer({ min: 0, max: 2 }),
  intent: fc.constantFrom<SessionIntent>('none', 'none', 'next', 'next', 'next', 'retry', 'stale', 'jump'),
  casBack: fc.integer({ min: 0, max: 4 }),
  timeStepMs: fc.oneof(
    { weight: 9, arbitrary: fc.integer({ min: -100, max: 400 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 5000 }) },
  ),
  ackedBack: fc.option(fc.integer({ min: 0, max: 4 }), { nil: null }),
  requestId: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null, freq: 3 }),
});

/** One entry of a generated log: a command, a noop, a config entry or garbage bytes. */
export type GenEntry =
  | ({ readonly kind: 'command' } & GenCommand)
  | { readonly kind: 'noop' }
  | { readonly kind: 'config' }
  | { readonly kind: 'garbage'; readonly bytes: Uint8Array };

export const genEntryArb: fc.Arbitrary<GenEntry> = fc.oneof(
  { weight: 12, arbitrary: genCommandArb.map((c): GenEntry => ({ kind: 'command', ...c })) },
  { weight: 1, arbitrary: fc.constant<GenEntry>({ kind: 'noop' }) },
  { weight: 1, arbitrary: fc.constant<GenEntry>({ kind: 'config' }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((bytes): GenEntry => ({ kind: 'garbage', bytes })) },
);

function resolveSeq(seqs: number[], client: number, intent: Exclude<SessionIntent, 'none'>): number {
  const last = seqs[client] ?? 0;
  switch (intent) {
    case 'next':
      seqs[client] = last + 1;
      return last + 1;
    case 'retry':
      return Math.max(1, last);
    case 'stale':
      return Math.max(1, last - 1);
    case 'jump':
      seqs[client] = last + 5;
      return last + 5;
  }
}

function resolveSession(seqs: number[], g: GenCommand): KvSession | null {
  if (g.intent === 'none') return null;
  const seq = resolveSeq(seqs, g.client, g.intent);
  const clientId = `c${g.client}`;
  return g.ackedBack === null ? { clientId, seq } : { clientId, seq, ackedBelow: Math.max(1, seq - g.ackedBack) };
}

function resolveCommand(g: GenCommand, index: number, seqs: number[], clockMs: number): KvCommand {
  const session = resolveSession(seqs, g);
  const operation: KvOperation =
    g.operation.op === 'cas'
      ? { ...g.operation, expectedRevision: g.casBack === 0 ? 0 : Math.max(0, index - g.casBack) }
      : g.operation;
  const command: KvCommand = { ...operation, session, timeMs: clockMs };
  return session === null || g.requestId === null
    ? command
    : { ...command, requestId: new Uint8Array(16).fill(g.requestId) };
}

/** Turns generated entries into log entries starting at `firstIndex`, with a running clock. */
export function toLogEntries(gen: readonly GenEntry[], firstIndex: number): LogEntry[] {
  let clockMs = 10_000;
  const seqs: number[] = [];
  return gen.map((g, i): LogEntry => {
    const index = firstIndex + i;
    switch (g.kind) {
      case 'command':
        clockMs = Math.max(0, clockMs + g.timeStepMs);
        return { type: 'command', index, term: 1, command: encodeKvCommand(resolveCommand(g, index, seqs, clockMs)) };
      case 'noop':
        return { type: 'noop', index, term: 1, command: new Uint8Array(0) };
      case 'config':
        return { type: 'config', index, term: 1, command: new Uint8Array([0xa0]) };
      case 'garbage':
        return { type: 'command', index, term: 1, command: g.bytes };
    }
  });
}

const versionedArb: fc.Arbitrary<KvVersioned | null> = fc.option(
  rec({ value: valueArb, revision: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }) }),
  { nil: null },
);

export const resultArb: fc.Arbitrary<KvResult> = fc.oneof(
  rec({
    type: fc.constant('put' as const),
    revision: fc.integer({ min: 1 }),
    previous: versionedArb,
    created: fc.boolean(),
  }),
  rec({
    type: fc.constant('put' as const),
    revision: fc.integer({ min: 1 }),
    previous: versionedArb,
    created: fc.boolean(),
    storeRevision: fc.nat(),
  }),
  rec({
    type: fc.constant('delete' as const),
    revision: fc.integer({ min: 1 }),
    deleted: fc.boolean(),
    previous: versionedArb,
  }),
  rec({ type: fc.constant('cas' as const), succeeded: fc.constant(true as const), revision: fc.integer({ min: 1 }) }),
  rec({ type: fc.constant('cas' as const), succeeded: fc.constant(false as const), current: versionedArb }),
  rec({ type: fc.constant('get' as const), current: versionedArb }),
  rec({ type: fc.constant('get' as const), current: versionedArb, storeRevision: fc.nat() }),
  rec({
    type: fc.constant('list' as const),
    items: fc.array(rec({ key: keyArb, value: valueArb, revision: fc.integer({ min: 1 }) }), { maxLength: 4 }),
    more: fc.boolean(),
    storeRevision: fc.nat(),
  }),
  rec({ type: fc.constant('error' as const), code: fc.constantFrom(...KV_ERROR_CODES), message: fc.string() }),
);
