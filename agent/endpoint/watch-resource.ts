/**
 * `GET /watch?prefix=P|key=K[&since=R][&limit=N][&stale]`: the changes after revision R (default:
 * the current store revision, so none) to the keys under P, or to K alone (which need not
 * exist), from the state machine's history window, answered
 * `{"revision":R2,"events":[{"type":"put"|"delete","key":K,"value":V,"revision":r}],"more":bool}`
 * (R2: the store revision the answer reflects; `more`: later changes match too, ask again with
 * since = the last event's revision; values as UTF-8 or valueBase64). A `since` older than the
 * window answers 4.04 `compacted: oldest revision N`. Linearizable like GET, or local with `stale`.
 *
 * This is the replay a watch starts with; Observe registration (a notification per change
 * after it) is not served yet: an Observe request gets the replay without registering.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import { decodeKvResult, encodeKvQuery, LIST_ITEMS_MAX } from '../kv/index.js';
import type { KvChangesQuery, KvResult } from '../kv/index.js';
import { isSystemKey, SYSTEM_KEY_PREFIX } from '../membership/keystore.js';
import type { NodeApi } from '../runtime/node-api.js';
import {
  documentResponse,
  integerArgument,
  queryArgument,
  storeRevisionOption,
  unacceptable,
  unknownArgument,
  valueField,
} from './documents.js';
import { errorResponse, responseForError, responseForKvError } from './responses.js';

const ARGUMENTS = ['prefix', 'key', 'since', 'limit', 'stale'];

/** The changes query of a request (since null: from the current revision), or a 4.xx answer. */
function watchQueryOf(request: CoapRequest): { query: KvChangesQuery; sinceGiven: boolean } | CoapResponse {
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
  const since = sinceText === null ? 0 : integerArgument(sinceText, 'since', 0, Number.MAX_SAFE_INTEGER);
  const limitText = queryArgument(request, 'limit');
  const limit = limitText === null ? LIST_ITEMS_MAX : integerArgument(limitText, 'limit', 1, LIST_ITEMS_MAX);
  if (typeof since === 'string') return errorResponse(CoapResponseCode.BadRequest, since);
  if (typeof limit === 'string') return errorResponse(CoapResponseCode.BadRequest, limit);
  return {
    query: { op: 'changes', since, prefix: target, exact: key !== null, limit },
    sinceGiven: sinceText !== null,
  };
}

/** The handler of GET /watch. */
export function watchHandler(node: NodeApi, timeoutMs: number): (request: CoapRequest) => Promise<CoapResponse> {
  return async (request) => {
    const parsed = watchQueryOf(request);
    if ('code' in parsed) return parsed;
    const stale = queryArgument(request, 'stale') !== null;
    const read = (query: KvChangesQuery): Promise<KvResult> => {
      const encoded = encodeKvQuery(query);
      return stale
        ? Promise.resolve(decodeKvResult(node.readLocal(encoded)))
        : node.readAnywhere(encoded, timeoutMs).then(decodeKvResult);
    };
    try {
      let result = await read(parsed.query);
      // Without since, a watch starts at the current revision: nothing to replay.
      if (!parsed.sinceGiven && result.type === 'changes')
        result = { type: 'changes', events: [], more: false, storeRevision: result.storeRevision ?? 0 };
      if (result.type === 'error') return responseForKvError(result);
      if (result.type !== 'changes')
        return errorResponse(CoapResponseCode.InternalServerError, `unexpected ${result.type} result for a watch`);
      const revision = result.storeRevision ?? 0;
      const events = result.events.map((e) => ({
        type: e.type,
        key: e.key,
        ...(e.value === null ? {} : valueField(e.value)),
        revision: e.revision,
      }));
      return documentResponse(
        request,
        CoapResponseCode.Content,
        { revision, events, more: result.more },
        { options: [storeRevisionOption(revision)] },
      );
    } catch (error) {
      return responseForError(error);
    }
  };
}
