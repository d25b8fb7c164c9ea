/**
 * A PUT's If-Match (RFC 7252 §5.10.8.1): the write happens only when the key's current revision
 * (its ETag) is one of the values, and an empty value means "the key exists", whatever its
 * revision. Each form is one proposal that compares and puts in the state machine:
 *
 * - one ETag: a compare-and-set on that revision (cas);
 * - an empty value (alone or among others): a transaction whose compare is "the key is absent",
 *   with an empty success branch and the put as its failure branch, so the put runs only on a key
 *   that exists when the entry is applied;
 * - several ETags: the node reads the key (linearizably) and proposes a compare-and-set on the
 *   revision it found when that is one of them, else on the first of them. The compare-and-set
 *   still decides in the state machine: a key written between the read and the write fails it
 *   (4.12), and the revision it moved to is newer than every log index that existed at the read,
 *   so no ETag a client could have been given names it. A retry of a `?client=&seq=` write is
 *   always proposed, so its session answers it as the first time.
 *
 * The state machine's commands stay as they were, so members of an earlier version apply these
 * writes exactly as this one does.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapResponse } from '../../transport/coap/index.js';
import { encodeKvQuery } from '../kv/index.js';
import type { KvCommand, KvCommandHeader, KvTxnResult } from '../kv/index.js';
import type { NodeApi } from '../runtime/node-api.js';
import { errorResponse, jsonResponse, readAnswer, responseForError, revisionEtag, etagRevision } from './responses.js';
import { storeRevisionOption } from './documents.js';

/** What a PUT writes, besides its condition. */
export interface PutFields {
  readonly key: string;
  readonly value: Uint8Array;
  readonly lease: { readonly lease?: number };
  readonly header: KvCommandHeader;
}

/** A PUT with several If-Match ETags: the command once the key's current revision is known. */
export interface RevisionChoice {
  readonly key: string;
  readonly revisions: readonly number[];
  readonly commandAt: (expectedRevision: number) => KvCommand;
}

/** The command of a PUT with an If-Match (a choice for several ETags), or its 4.00 refusal. */
export function ifMatchCommand(
  ifMatch: readonly Uint8Array[],
  put: PutFields,
): KvCommand | RevisionChoice | CoapResponse {
  const { key, value, lease, header } = put;
  if (ifMatch.some((etag) => etag.byteLength === 0))
    return {
      ...header,
      op: 'txn',
      compare: [{ key, target: 'absent' }],
      success: [],
      failure: [{ op: 'put', key, value, ...lease }],
    };
  const revisions: number[] = [];
  for (const etag of ifMatch) {
    const revision = etagRevision(etag);
    if (revision === null)
      return errorResponse(
        CoapResponseCode.BadRequest,
        'If-Match carries revision ETags of the key (1 to 8 bytes each), or one empty value (the key exists)',
      );
    revisions.push(revision);
  }
  const commandAt = (expectedRevision: number): KvCommand => ({
    ...header,
    op: 'cas',
    key,
    expectedRevision,
    value,
    ...lease,
  });
  const first = revisions[0];
  if (first === undefined) return errorResponse(CoapResponseCode.BadRequest, 'If-Match without a value');
  return revisions.length === 1 ? commandAt(first) : { key, revisions, commandAt };
}

/** The command of a RevisionChoice: a compare-and-set on the key's current revision when it is one of them. */
export async function chosenCommand(
  node: Pick<NodeApi, 'readAnywhere'>,
  choice: RevisionChoice,
  timeoutMs: number,
): Promise<KvCommand | CoapResponse> {
  let current: number;
  try {
    const result = readAnswer(await node.readAnywhere(encodeKvQuery({ op: 'get', key: choice.key }), timeoutMs));
    if (result.type !== 'get') return responseForError(new Error(`unexpected ${result.type} result for a read`));
    current = result.current === null ? 0 : result.current.revision;
  } catch (error) {
    // Nothing was proposed: the read that picks the revision failed.
    return responseForError(error);
  }
  const first = choice.revisions[0];
  const expected = current !== 0 && choice.revisions.includes(current) ? current : first;
  if (expected === undefined) return errorResponse(CoapResponseCode.BadRequest, 'If-Match without a value');
  return choice.commandAt(expected);
}

/** The answer to a PUT with an empty If-Match: 2.04 when the key existed and was written, else 4.12. */
export function existsPutAnswer(result: KvTxnResult): CoapResponse {
  const put = result.results[0];
  if (result.succeeded || put?.type !== 'put')
    return errorResponse(CoapResponseCode.PreconditionFailed, 'the key is absent');
  const storeRevision = result.storeRevision ?? 0;
  return jsonResponse(
    CoapResponseCode.Changed,
    { revision: put.revision, storeRevision },
    { etag: revisionEtag(put.revision), options: [storeRevisionOption(storeRevision)] },
  );
}
