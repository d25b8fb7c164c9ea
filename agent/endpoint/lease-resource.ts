/**
 * Leases on the local endpoint (agent/kv/leases.ts, lease-keeper.ts). JSON answers, or CBOR for
 * Accept 60; every answer that reads or writes carries the store revision.
 *
 *   POST   /lease {"ttlMs":T}     grant: 2.01 {"id":L,"ttlMs":T,"revision":R}; a TTL outside the
 *                                 limits (kv.leaseTtlMsMin..Max) 4.00, kv.leaseCountMax reached 5.03
 *   POST   /lease/L/keepalive     2.04 {"id":L,"ttlMs":T}; an unknown or expired lease 4.04
 *   DELETE /lease/L               revoke: its keys are deleted at one log index;
 *                                 2.02 {"id":L,"deletedKeys":N,"revision":R}
 *   GET    /lease/L               2.05 {"id":L,"ttlMs":T,"remainingMs":r,"keys":[K...],"revision":R}
 *                                 (a linearizable read; remainingMs is this node's countdown, the
 *                                 leader's decides)
 *
 * Grant and revoke run in the endpoint's write session (applied at most once, writes.ts), or with
 * `?client=ID&seq=N` in that client's session (exactly once across its retries, as /kv/{key}); the
 * others take no query argument, and any other argument is 4.00, not ignored. A
 * keepalive runs without one (twice only keeps the lease longer) and is acknowledged only when
 * answered within KEEPALIVE_ACK_WINDOW_MS (else 5.04: send another), so a client that sees 2.04
 * at t can count on its lease until t + TTL. Any node serves them: followers forward to the leader.
 */
import { Decoder } from 'cbor-x';
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import type { CoapResourceMethods } from '../../transport/coap/router.js';
import type { Clock } from '../../contracts/clock.js';
import { SerializationError } from '../../contracts/errors.js';
import { decodeKvResult, encodeKvQuery, LIST_ITEMS_MAX, operationKeys } from '../kv/index.js';
import type { KvCommand, KvResult } from '../kv/index.js';
import { keepAlive } from '../kv/lease-keeper.js';
import type { NodeApi } from '../runtime/node-api.js';
import {
  CBOR_CONTENT_FORMAT,
  documentResponse,
  integerArgument,
  storeRevisionOption,
  unacceptable,
  unknownArgument,
} from './documents.js';
import {
  CONTENT_FORMAT,
  errorResponse,
  readAnswer,
  responseForError,
  responseForKvError,
  UnreadableAnswerError,
} from './responses.js';
import { SESSION_ARGUMENTS } from './txn-resource.js';
import type { SubmitWrite } from './txn-resource.js';
import { explicitSessionOf, responseForWriteError } from './writes.js';

/** What the lease resources need. */
export interface LeaseResourceDeps {
  readonly node: NodeApi;
  /** The endpoint's write path (its implicit session). */
  readonly submit: SubmitWrite;
  readonly clock: Clock;
  /** This node's countdown of lease `id`, ms; null when it counts none. */
  readonly remainingMs: (id: number) => number | null;
  readonly timeoutMs: number;
}

/** The id of `/lease/{id}[/...]`, or the 4.00 answer. */
function leaseIdOf(request: CoapRequest): number | CoapResponse {
  const id = integerArgument(request.path[1] ?? '', 'the lease id', 1, Number.MAX_SAFE_INTEGER);
  return typeof id === 'string' ? errorResponse(CoapResponseCode.BadRequest, `${id}: use /lease/{id}`) : id;
}

/** The TTL of a grant body `{"ttlMs":T}` (JSON or CBOR), or the 4.xx answer. */
function ttlOf(request: CoapRequest): number | CoapResponse {
  let body: unknown;
  try {
    if (request.contentFormat === CBOR_CONTENT_FORMAT)
      body = new Decoder({ mapsAsObjects: true, useRecords: false }).decode(request.payload);
    else if (request.contentFormat === null || request.contentFormat === CONTENT_FORMAT.json)
      body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(request.payload));
    else
      return errorResponse(
        CoapResponseCode.UnsupportedContentFormat,
        `Content-Format ${request.contentFormat} is not served: send JSON (50) or CBOR (60)`,
      );
  } catch {
    return errorResponse(
      CoapResponseCode.BadRequest,
      'the body is not well-formed JSON (or CBOR with Content-Format 60)',
    );
  }
  const fields: [string, unknown][] =
    typeof body === 'object' && body !== null && !Array.isArray(body) ? Object.entries(body) : [];
  const ttl: unknown = fields.length === 1 && fields[0]?.[0] === 'ttlMs' ? fields[0][1] : undefined;
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 1)
    return errorResponse(CoapResponseCode.BadRequest, 'the body must be {"ttlMs":T}, T a positive integer (ms)');
  return ttl;
}

function unexpected(result: KvResult, what: string): CoapResponse {
  if (result.type === 'error') return responseForKvError(result);
  return errorResponse(CoapResponseCode.InternalServerError, `unexpected ${result.type} result for ${what}`);
}

async function grant(deps: LeaseResourceDeps, request: CoapRequest): Promise<CoapResponse> {
  const session = explicitSessionOf(request);
  if (session !== null && 'code' in session) return session;
  const ttlMs = ttlOf(request);
  if (typeof ttlMs !== 'number') return ttlMs;
  const outcome = await deps.submit({ op: 'lease-grant', ttlMs, session, timeMs: Math.floor(Date.now()) }, request);
  if (outcome.kind === 'response') return outcome.response;
  const result = outcome.result;
  if (result.type !== 'lease') return unexpected(result, 'a grant');
  const revision = result.storeRevision ?? 0;
  return documentResponse(
    request,
    CoapResponseCode.Created,
    { id: result.id, ttlMs: result.ttlMs, revision },
    { options: [storeRevisionOption(revision)] },
  );
}

async function keepalive(deps: LeaseResourceDeps, request: CoapRequest, id: number): Promise<CoapResponse> {
  const what = `the keepalive of lease ${id}`;
  try {
    const submit = (command: Uint8Array, timeoutMs: number): Promise<Uint8Array> =>
      deps.node.submitAnywhere(command, timeoutMs, true, what);
    const result = await keepAlive(submit, deps.clock, id, deps.timeoutMs);
    if (result.type !== 'lease') return unexpected(result, 'a keepalive');
    return documentResponse(request, CoapResponseCode.Changed, { id, ttlMs: result.ttlMs });
  } catch (error) {
    // keepAlive decodes the leader's answer: one this version cannot read is a 5.02, as for every write.
    return responseForWriteError(error instanceof SerializationError ? new UnreadableAnswerError(error) : error, what);
  }
}

async function revoke(deps: LeaseResourceDeps, request: CoapRequest, id: number): Promise<CoapResponse> {
  const session = explicitSessionOf(request);
  if (session !== null && 'code' in session) return session;
  const outcome = await deps.submit({ op: 'lease-revoke', id, session, timeMs: Math.floor(Date.now()) }, request);
  if (outcome.kind === 'response') return outcome.response;
  const result = outcome.result;
  if (result.type !== 'lease-end') return unexpected(result, 'a revoke');
  const revision = result.storeRevision ?? 0;
  return documentResponse(
    request,
    CoapResponseCode.Deleted,
    { id, deletedKeys: result.deletedKeys, revision },
    { options: [storeRevisionOption(revision)] },
  );
}

async function show(deps: LeaseResourceDeps, request: CoapRequest, id: number): Promise<CoapResponse> {
  try {
    const result = readAnswer(await deps.node.readAnywhere(encodeKvQuery({ op: 'lease', id }), deps.timeoutMs));
    if (result.type !== 'lease') return unexpected(result, 'a lease query');
    const revision = result.storeRevision ?? 0;
    // Not counted here yet (this node has not applied the grant): the whole TTL is left.
    const remainingMs = Math.min(result.ttlMs, Math.round(deps.remainingMs(id) ?? result.ttlMs));
    return documentResponse(
      request,
      CoapResponseCode.Content,
      { id, ttlMs: result.ttlMs, remainingMs, keys: result.keys, revision },
      { options: [storeRevisionOption(revision)] },
    );
  } catch (error) {
    return responseForError(error);
  }
}

/** The handler of one lease request, after the Accept check. */
function handle(deps: LeaseResourceDeps, request: CoapRequest): Promise<CoapResponse> {
  const action = request.path.slice(2).join('/');
  const writes = request.path.length === 1 || (request.method === 'DELETE' && action === '');
  const refusal = unknownArgument(request, writes ? SESSION_ARGUMENTS : []);
  if (refusal !== null) return Promise.resolve(refusal);
  if (request.path.length === 1) return grant(deps, request);
  const id = leaseIdOf(request);
  if (typeof id !== 'number') return Promise.resolve(id);
  if (request.method === 'POST' && action === 'keepalive') return keepalive(deps, request, id);
  if (request.method === 'DELETE' && action === '') return revoke(deps, request, id);
  if (request.method === 'GET' && action === '') return show(deps, request, id);
  return Promise.resolve(
    errorResponse(
      CoapResponseCode.MethodNotAllowed,
      'use POST /lease, POST /lease/{id}/keepalive, DELETE /lease/{id} or GET /lease/{id}',
    ),
  );
}

/**
 * The keys an applied command changed, for Observe notifications: those it names, or for a
 * lease revoke or expiry (which names none) the keys the history window holds as changed at its
 * index (none when the window is off or already past it: their observers then learn nothing).
 */
export function keysChangedBy(node: Pick<NodeApi, 'readLocal'>, command: KvCommand, index: number): string[] {
  if (command.op !== 'lease-revoke' && command.op !== 'lease-expire') return operationKeys(command);
  const query = encodeKvQuery({ op: 'changes', since: index - 1, prefix: '', exact: false, limit: LIST_ITEMS_MAX });
  const result = decodeKvResult(node.readLocal(query));
  if (result.type !== 'changes') return [];
  return result.events.filter((event) => event.revision === index).map((event) => event.key);
}

/** The resources `/lease` (POST) and `/lease/*` (GET, POST, DELETE). */
export function leaseResources(deps: LeaseResourceDeps): (readonly [string, CoapResourceMethods])[] {
  const run = (request: CoapRequest): Promise<CoapResponse> =>
    Promise.resolve(unacceptable(request)).then((refusal) => refusal ?? handle(deps, request));
  return [
    ['/lease', { POST: run }],
    ['/lease/*', { GET: run, POST: run, DELETE: run }],
  ];
}
