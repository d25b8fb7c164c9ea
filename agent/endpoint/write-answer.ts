/**
 * The answer to a write on /kv/{key} once the state machine ran it: a PUT's 2.01 or 2.04 with the
 * revision it wrote as ETag, a DELETE's 2.02, a failed condition's 4.12 (If-Match, If-None-Match)
 * with the key's current ETag when it has one, and a KV error's code (responses.ts).
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapResponse } from '../../transport/coap/index.js';
import type { CoapMethod } from '../../transport/coap/codes.js';
import type { KvCommand, KvResult } from '../kv/index.js';
import { storeRevisionOption } from './documents.js';
import { conditionalDeleteAnswer, existsPutAnswer } from './if-match.js';
import {
  CONTENT_FORMAT,
  errorResponse,
  jsonResponse,
  responseForKvError,
  revisionEtag,
  revisionsJson,
} from './responses.js';

/** The answer to `command`, sent as a `method` request, whose result is `result`. */
export function writeAnswer(command: KvCommand, method: CoapMethod, result: KvResult): CoapResponse {
  const storeRevision = result.type === 'error' ? 0 : (result.storeRevision ?? 0);
  const options = [storeRevisionOption(storeRevision)];
  switch (result.type) {
    case 'put':
      // The answer to nearly every write, as jsonResponse would build it, in one object and no JSON string.
      // RFC 7252 §5.8.3: 2.01 when the put created the key, 2.04 when it changed it.
      return {
        code: result.created ? CoapResponseCode.Created : CoapResponseCode.Changed,
        payload: revisionsJson(result.revision, storeRevision),
        contentFormat: CONTENT_FORMAT.json,
        etag: revisionEtag(result.revision),
        options,
      };
    case 'delete':
      return jsonResponse(
        CoapResponseCode.Deleted,
        { revision: result.revision, deleted: result.deleted, storeRevision },
        { options },
      );
    case 'cas':
      // A compare-and-set that expected no key (If-None-Match) created it.
      if (result.succeeded)
        return jsonResponse(
          command.op === 'cas' && command.expectedRevision === 0 ? CoapResponseCode.Created : CoapResponseCode.Changed,
          { revision: result.revision, storeRevision },
          { etag: revisionEtag(result.revision), options },
        );
      return {
        ...errorResponse(
          CoapResponseCode.PreconditionFailed,
          result.current === null ? 'the key is absent' : `the key is at revision ${result.current.revision}`,
        ),
        ...(result.current === null ? {} : { etag: revisionEtag(result.current.revision) }),
      };
    case 'txn':
      // Only a PUT with an empty If-Match, and a DELETE with an If-Match, write through a transaction (if-match.ts).
      if (command.op === 'txn') return method === 'DELETE' ? conditionalDeleteAnswer(result) : existsPutAnswer(result);
      return errorResponse(CoapResponseCode.InternalServerError, `unexpected ${result.type} result for a write`);
    case 'get':
    case 'list':
    case 'changes':
    case 'lease':
    case 'lease-end':
      return errorResponse(CoapResponseCode.InternalServerError, `unexpected ${result.type} result for a write`);
    case 'error':
      return responseForKvError(result);
  }
}
