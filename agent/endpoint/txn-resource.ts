/**
 * `POST /txn`: a transaction (txn-body.ts) run as one log entry through the endpoint's write
 * path (writes.ts), so it is applied at most once like every write. Answers 2.04 with
 * `{"succeeded":bool,"revision":R,"results":[...]}`: R the store revision after it, one result
 * per operation of the branch that ran: `{"op":"put","revision":r}`, `{"op":"delete","deleted":b}`,
 * `{"op":"get","key":K,"found":false}` or `{"op":"get","key":K,"found":true,"value":V,"revision":r}`
 * (`valueBase64` for a value that is not UTF-8). JSON, or CBOR for Accept 60. A refused
 * operation (a limit) changes nothing and answers its error; keys under the agent's reserved
 * prefix are 4.03, and a key longer than keyBytesMax anywhere in the body is 4.00 KV_KEY_TOO_LONG
 * before anything is proposed (the store's answer once applied; in a branch that would not run it
 * can only be a mistake, as no such key can exist); a branch that puts or deletes one key twice
 * is 4.00 (its changes would share one revision). `?client=ID&seq=N` runs it in that client's
 * session, exactly once across the client's retries, as on /kv/{key}; any other query argument is 4.00.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import type { KvCommand, KvTxnOp, KvTxnOperation, KvTxnResult } from '../kv/index.js';
import { documentResponse, storeRevisionOption, unacceptable, unknownArgument, valueField } from './documents.js';
import { keyRefusal } from './kv-key.js';
import { errorResponse, responseForKvError } from './responses.js';
import { readTxnBody, TxnBodyError } from './txn-body.js';
import { explicitSessionOf } from './writes.js';
import type { WriteOutcome } from './writes.js';

/** The query arguments of a write that takes no others: an explicit session (writes.ts explicitSessionOf). */
export const SESSION_ARGUMENTS: readonly string[] = ['client', 'seq'];

/** Submits a write command built from a request (the endpoint's write path). */
export type SubmitWrite = (command: KvCommand, request: CoapRequest) => Promise<WriteOutcome>;

function resultDocument(txn: KvTxnOperation, result: KvTxnResult): unknown {
  const ops = result.succeeded ? txn.success : txn.failure;
  return {
    succeeded: result.succeeded,
    revision: result.storeRevision ?? 0,
    results: result.results.map((item, i) => {
      switch (item.type) {
        case 'put':
          return { op: 'put', revision: item.revision };
        case 'delete':
          return { op: 'delete', deleted: item.deleted };
        case 'get': {
          const key = ops[i]?.key ?? '';
          if (item.current === null) return { op: 'get', key, found: false };
          return { op: 'get', key, found: true, ...valueField(item.current.value), revision: item.current.revision };
        }
      }
    }),
  };
}

/** The handler of POST /txn; `keyBytesMax` is the store's key limit, UTF-8 bytes. */
/**
 * Why a branch that writes (puts or deletes) one key more than once is refused, or null. Its
 * changes would all carry the one revision of the transaction, so a watcher would see two events
 * of one key at one revision; etcd refuses such a transaction too. Gets may repeat.
 */
function writtenTwice(branch: string, ops: readonly KvTxnOp[]): string | null {
  const written = new Set<string>();
  for (const op of ops) {
    if (op.op === 'get') continue;
    if (written.has(op.key))
      return (
        `the ${branch} branch writes key ${JSON.stringify(op.key)} twice: ` +
        'a transaction writes a key at most once a branch'
      );
    written.add(op.key);
  }
  return null;
}

export function txnHandler(submit: SubmitWrite, keyBytesMax: number): (request: CoapRequest) => Promise<CoapResponse> {
  return async (request) => {
    const refusal = unacceptable(request) ?? unknownArgument(request, SESSION_ARGUMENTS);
    if (refusal !== null) return refusal;
    const session = explicitSessionOf(request);
    if (session !== null && 'code' in session) return session;
    let txn: KvTxnOperation;
    try {
      txn = readTxnBody(request.payload, request.contentFormat);
    } catch (error) {
      if (!(error instanceof TxnBodyError)) throw error;
      const code = error.unsupportedFormat ? CoapResponseCode.UnsupportedContentFormat : CoapResponseCode.BadRequest;
      return errorResponse(code, error.message);
    }
    for (const item of [...txn.compare, ...txn.success, ...txn.failure]) {
      const refusal = keyRefusal(item.key, keyBytesMax);
      if (refusal !== null) return refusal;
    }
    const twice = writtenTwice('success', txn.success) ?? writtenTwice('failure', txn.failure);
    if (twice !== null) return errorResponse(CoapResponseCode.BadRequest, twice);
    const outcome = await submit({ ...txn, session, timeMs: Math.floor(Date.now()) }, request);
    if (outcome.kind === 'response') return outcome.response;
    const result = outcome.result;
    if (result.type === 'error') return responseForKvError(result);
    if (result.type !== 'txn')
      return errorResponse(CoapResponseCode.InternalServerError, `unexpected ${result.type} result for a transaction`);
    return documentResponse(request, CoapResponseCode.Changed, resultDocument(txn, result), {
      options: [storeRevisionOption(result.storeRevision ?? 0)],
    });
  };
}
