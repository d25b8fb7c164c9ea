/**
 * `GET /kv?prefix=P[&limit=N][&after=KEY][&stale]`: the keys that start with P, in key order
 * (UTF-16 code unit order), after KEY when given, at most N of them (default LIST_LIMIT_DEFAULT,
 * at most LIST_ITEMS_MAX; fewer once their bytes reach LIST_BYTES_MAX), answered
 * `{"revision":R,"items":[{"key":K,"value":V,"revision":r}],"more":bool}`: R is the store
 * revision the listing reflects, r each key's revision (its ETag), `more` says keys past the
 * last one match too (page on with `after` = the last key). Linearizable like GET /kv/{key}
 * (a read through the leader's read index), or a local read with `stale`. Keys under the agent's
 * reserved prefix are never listed.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import { encodeKvQuery, LIST_ITEMS_MAX } from '../kv/index.js';
import type { KvListQuery } from '../kv/index.js';
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
import { errorResponse, readAnswer, responseForError, responseForKvError } from './responses.js';

/** Keys listed when the request names no limit. */
export const LIST_LIMIT_DEFAULT = 100;

const ARGUMENTS = ['prefix', 'limit', 'after', 'stale'];

/** The list query of a request, or the 4.xx answer to a bad one. */
function listQueryOf(request: CoapRequest): KvListQuery | CoapResponse {
  const refusal = unacceptable(request) ?? unknownArgument(request, ARGUMENTS);
  if (refusal !== null) return refusal;
  const prefix = queryArgument(request, 'prefix') ?? '';
  if (isSystemKey(prefix))
    return errorResponse(CoapResponseCode.Forbidden, `keys under ${SYSTEM_KEY_PREFIX} are reserved for the agent`);
  const limitText = queryArgument(request, 'limit');
  const limit = limitText === null ? LIST_LIMIT_DEFAULT : integerArgument(limitText, 'limit', 1, LIST_ITEMS_MAX);
  if (typeof limit === 'string') return errorResponse(CoapResponseCode.BadRequest, limit);
  const after = queryArgument(request, 'after');
  return { op: 'list', prefix, after: after === '' ? null : after, limit };
}

/** The handler of GET /kv. */
export function listHandler(node: NodeApi, timeoutMs: number): (request: CoapRequest) => Promise<CoapResponse> {
  return async (request) => {
    const query = listQueryOf(request);
    if ('code' in query) return query;
    try {
      const encoded = encodeKvQuery(query);
      const stale = queryArgument(request, 'stale') !== null;
      const result = readAnswer(stale ? node.readLocal(encoded) : await node.readAnywhere(encoded, timeoutMs));
      if (result.type === 'error') return responseForKvError(result);
      if (result.type !== 'list')
        return errorResponse(CoapResponseCode.InternalServerError, `unexpected ${result.type} result for a listing`);
      const revision = result.storeRevision ?? 0;
      const items = result.items
        .filter((item) => !isSystemKey(item.key))
        .map((item) => ({ key: item.key, ...valueField(item.value), revision: item.revision }));
      return documentResponse(
        request,
        CoapResponseCode.Content,
        { revision, items, more: result.more },
        { options: [storeRevisionOption(revision)] },
      );
    } catch (error) {
      return responseForError(error);
    }
  };
}
