/**
 * The key of a `/kv/{key}` request and the query arguments each method takes: GET `stale`; PUT
 * `client`, `seq` and `lease`; DELETE `client` and `seq`. Any other argument is 4.00, not ignored
 * (a PUT with a misspelt `leas=5` would store the key without its lease), as on /kv, /watch and
 * /lease. A key longer than the store's keyBytesMax is refused here, with the answer the store
 * would give, so that it is never proposed (it would cost a log entry only to be refused).
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import { keyLengthProblem } from '../kv/index.js';
import { isSystemKey, SYSTEM_KEY_PREFIX } from '../membership/keystore.js';
import { unknownArgument } from './documents.js';
import { errorResponse, responseForKvError } from './responses.js';

const ARGUMENTS = {
  GET: ['stale'],
  PUT: ['client', 'seq', 'lease'],
  DELETE: ['client', 'seq'],
} as const satisfies Record<string, readonly string[]>;

/**
 * The key of /kv/{key}, or the 4.xx answer to a missing, reserved or over-long key (more than
 * `keyBytesMax` UTF-8 bytes), or to an argument `method` does not take.
 */
export function kvKeyOf(
  request: CoapRequest,
  method: keyof typeof ARGUMENTS,
  keyBytesMax: number,
): string | CoapResponse {
  const refusal = unknownArgument(request, ARGUMENTS[method]);
  if (refusal !== null) return refusal;
  const key = request.path.length === 2 ? (request.path[1] ?? '') : request.path.slice(1).join('/'); // no copy
  if (key === '') return errorResponse(CoapResponseCode.BadRequest, 'missing key: use /kv/{key}');
  return keyRefusal(key, keyBytesMax) ?? key;
}

/**
 * The answer that refuses `key` before anything is proposed: 4.03 for a key under the agent's
 * reserved prefix, 4.00 KV_KEY_TOO_LONG (as the store answers it) for one longer than
 * `keyBytesMax` UTF-8 bytes; else null. /kv/{key} and every key of a /txn body.
 */
export function keyRefusal(key: string, keyBytesMax: number): CoapResponse | null {
  if (isSystemKey(key))
    return errorResponse(CoapResponseCode.Forbidden, `keys under ${SYSTEM_KEY_PREFIX} are reserved for the agent`);
  const problem = keyLengthProblem(key, keyBytesMax);
  return problem === null ? null : responseForKvError(problem);
}
