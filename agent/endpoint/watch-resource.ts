/**
 * `GET /watch?prefix=P|key=K[&since=R][&limit=N][&stale]`: the changes after revision R (default:
 * the current store revision, so none) to the keys under P, or to K alone (which need not
 * exist), from the state machine's history window, answered
 * `{"since":S,"revision":R2,"events":[{"type":"put"|"delete","key":K,"value":V,"revision":r}],"more":bool}`:
 * exactly the changes in (S, R2] (S: the since asked for; R2: the store revision the answer
 * reflects, or the last event's when `more` says later changes match too; values as UTF-8 or
 * valueBase64; CBOR with Accept 60). A `since` older than the window answers 4.04
 * `compacted: oldest revision N`. Linearizable like GET, or local with `stale`.
 *
 * With Observe (RFC 7641) the answer registers a watch: the first answer covers (since, R1]
 * within one notification's bound (`watchNotificationBytesMax`), and confirmable notifications
 * follow, each covering the revisions after the one before, with every change after R1 exactly
 * once and in order (watch-feed.ts, watch-documents.ts). Changes that do not fit one
 * notification alone answer 4.13 (at registration or as a final notification), telling the
 * client to fetch them without Observe, which answers block-wise.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import { decodeKvResult, encodeKvQuery, LIST_ITEMS_MAX } from '../kv/index.js';
import type { KvChangesQuery, KvResult } from '../kv/index.js';
import { isSystemKey, SYSTEM_KEY_PREFIX } from '../membership/keystore.js';
import type { Timers } from '../../contracts/clock.js';
import type { NodeApi } from '../runtime/node-api.js';
import {
  documentFormat,
  encodeDocument,
  integerArgument,
  queryArgument,
  storeRevisionOption,
  unacceptable,
  unknownArgument,
} from './documents.js';
import type { Observations } from './observe.js';
import type { Registration } from './observers.js';
import { errorResponse, readAnswer, responseForError, responseForKvError } from './responses.js';
import { fitWatchDocument, type WatchDocument, type WatchTarget } from './watch-documents.js';
import { WatchFeed, type WatchEnd, type WatchSink } from './watch-feed.js';

const ARGUMENTS = ['prefix', 'key', 'since', 'limit', 'stale'];

/** A parsed watch request. */
interface WatchRequest {
  readonly target: WatchTarget;
  /** The since asked for, or null (from the current revision). */
  readonly since: number | null;
  readonly limit: number;
  /** The Observe resource: one per target. */
  readonly resource: string;
}

/** The watch a request asks for, or a 4.xx answer. */
function watchRequestOf(request: CoapRequest): WatchRequest | CoapResponse {
  const refusal = unacceptable(request) ?? unknownArgument(request, ARGUMENTS);
  if (refusal !== null) return refusal;
  const prefix = queryArgument(request, 'prefix');
  const key = queryArgument(request, 'key');
  if ((prefix === null) === (key === null) || key === '')
    return errorResponse(CoapResponseCode.BadRequest, 'give prefix=P or key=K (a non-empty key), not both');
  const target = key ?? prefix ?? '';
  if (isSystemKey(target))
    return errorResponse(CoapResponseCode.Forbidden, `keys under ${SYSTEM_KEY_PREFIX} are reserved for the agent`);
  const sinceText = queryArgument(request, 'since');
  const since = sinceText === null ? null : integerArgument(sinceText, 'since', 0, Number.MAX_SAFE_INTEGER);
  const limitText = queryArgument(request, 'limit');
  const limit = limitText === null ? LIST_ITEMS_MAX : integerArgument(limitText, 'limit', 1, LIST_ITEMS_MAX);
  if (typeof since === 'string') return errorResponse(CoapResponseCode.BadRequest, since);
  if (typeof limit === 'string') return errorResponse(CoapResponseCode.BadRequest, limit);
  return {
    target: { prefix: target, exact: key !== null },
    since,
    limit,
    resource: key === null ? `/watch?prefix=${target}` : `/watch?key=${target}`,
  };
}

/**
 * A document answer with the Store-Revision option `storeRevision`: the store's revision, which the
 * document's own `revision` is not when it names a `since` ahead of the store, or stops short (`more`).
 */
function documentAnswer(request: CoapRequest, storeRevision: number, payload: Uint8Array): CoapResponse {
  return {
    code: CoapResponseCode.Content,
    payload,
    contentFormat: documentFormat(request.accept),
    options: [storeRevisionOption(storeRevision)],
  };
}

/** The code of a final notification. */
function endCode(reason: WatchEnd): number {
  if (reason === 'compacted') return CoapResponseCode.NotFound;
  return reason === 'too-large' ? CoapResponseCode.RequestEntityTooLarge : CoapResponseCode.InternalServerError;
}

/** Options of the watch resource. */
export interface WatchResourceOptions {
  readonly requestTimeoutMs: number;
  readonly watchNotificationBytesMax: number;
  readonly observersMax: number;
}

/** GET /watch and the notifications of its observers; see the module comment. */
export class WatchResource {
  readonly feed: WatchFeed;

  constructor(
    private readonly node: NodeApi,
    timers: Timers,
    private readonly observations: () => Observations,
    private readonly options: WatchResourceOptions,
  ) {
    this.feed = new WatchFeed(
      {
        read: (query) => decodeKvResult(node.readLocal(encodeKvQuery(query))),
        defer: (action) => void timers.setTimer(0, action),
      },
      { notificationBytesMax: options.watchNotificationBytesMax, watchesMax: options.observersMax },
    );
  }

  /** The handler of GET /watch. */
  readonly handle = async (request: CoapRequest): Promise<CoapResponse> => {
    const parsed = watchRequestOf(request);
    if ('code' in parsed) return parsed;
    const observing = request.observe === 0;
    // Without since only the current revision is wanted: ask for the changes after the end of time.
    const base = parsed.since ?? Number.MAX_SAFE_INTEGER;
    const query: KvChangesQuery = observing
      ? this.feed.query(parsed.target, base)
      : { op: 'changes', since: base, prefix: parsed.target.prefix, exact: parsed.target.exact, limit: parsed.limit };
    let result: KvResult;
    try {
      const encoded = encodeKvQuery(query);
      result = readAnswer(
        queryArgument(request, 'stale') !== null
          ? this.node.readLocal(encoded)
          : await this.node.readAnywhere(encoded, this.options.requestTimeoutMs),
      );
    } catch (error) {
      this.observations().cancel(parsed.resource, request);
      return responseForError(error);
    }
    const answer = this.answer(request, parsed, result, observing);
    if (answer.code !== CoapResponseCode.Content || !observing) this.observations().cancel(parsed.resource, request);
    return answer;
  };

  private answer(request: CoapRequest, parsed: WatchRequest, result: KvResult, observing: boolean): CoapResponse {
    if (result.type === 'error') return responseForKvError(result);
    if (result.type !== 'changes')
      return errorResponse(CoapResponseCode.InternalServerError, `unexpected ${result.type} result for a watch`);
    const storeRevision = result.storeRevision ?? 0;
    // Without since, a watch starts at the current revision: nothing to replay.
    const since = parsed.since ?? storeRevision;
    const events = parsed.since === null ? [] : result.events;
    const more = parsed.since !== null && result.more;
    const encode = (document: WatchDocument): Uint8Array => encodeDocument(request.accept, document).payload;
    const bytesMax = observing ? this.options.watchNotificationBytesMax : Number.MAX_SAFE_INTEGER;
    const fitted = fitWatchDocument(since, events, storeRevision, more, encode, bytesMax);
    if (fitted.kind === 'too-large')
      return errorResponse(
        CoapResponseCode.RequestEntityTooLarge,
        `revision ${fitted.revision} (${fitted.bytes} bytes) exceeds one notification ` +
          `(watchNotificationBytesMax ${bytesMax}): GET it without Observe, then observe from its revision`,
      );
    const response = documentAnswer(request, storeRevision, fitted.payload);
    if (!observing) return response;
    const registration = this.observations().register(parsed.resource, request);
    if (registration === null) return response;
    if (!this.feed.add(registration.key, parsed.target, fitted.document.revision, this.sinkOf(request, registration))) {
      // Not reached while watchesMax >= observersMax (the table evicts first); an answer without Observe says so.
      this.observations().cancel(parsed.resource, request);
      return response;
    }
    return { ...response, observe: this.observations().nextSeq(registration) };
  }

  private sinkOf(request: CoapRequest, registration: Registration): WatchSink {
    const observations = this.observations();
    return {
      encode: (document) => encodeDocument(request.accept, document).payload,
      send: (document, payload) =>
        observations.sendConfirmable(registration, (seq) => ({
          ...documentAnswer(request, document.revision, payload),
          observe: seq,
        })),
      end: (reason, text) => observations.end(registration, errorResponse(endCode(reason), text)),
    };
  }

  /** An Observe registration left: its watch goes too. */
  forget(registration: Registration): void {
    this.feed.remove(registration.key);
  }
}
