/**
 * A PUT's or DELETE's If-Match (RFC 7252 §5.10.8.1): the write happens only when the key's current
 * revision (its ETag) is one of the values, and an empty value means "the key exists", whatever its
 * revision. Each form is one proposal that compares and writes in the state machine:
 *
 * - one ETag: a PUT is a compare-and-set on that revision (cas); a DELETE is a transaction whose
 *   compare is that revision, with the delete as its success branch and a get of the key as its
 *   failure branch (so that a 4.12 names the key's current revision, as a failed cas does);
 * - an empty value (alone or among others): a transaction whose compare is "the key is absent",
 *   with an empty success branch and the put or delete as its failure branch, so the write runs
 *   only on a key that exists when the entry is applied;
 * - several ETags: the node reads the key (linearizably) and proposes the one-ETag form on the
 *   revision it found when that is one of them, else on the first of them. The compare still
 *   decides in the state machine: a key written between the read and the write fails it (4.12),
 *   and the revision it moved to is newer than every log index that existed at the read, so no
 *   ETag a client could have been given names it. A retry of a `?client=&seq=` write is always
 *   proposed, so its session answers it as the first time.
 *
 * Why several ETags are two steps, not one compare: a transaction's compares must all hold (an
 * AND), and its only negation is the failure branch, so the commands can say "the revision is R",
 * "the key is absent" and the negations of their conjunction, never "the revision is R1 or R2".
 * Every 2.04/2.02 is right (the compare in the entry decides it), and so is every 4.12 unless the
 * client named a revision that did not exist yet when it asked, which no ETag it was given can: the
 * key moves to that revision between the read and the entry, and the 4.12 names a revision that is
 * among the ETags. One atomic decision needs a new compare, e.g. `[key, 'revs', [R1..Rn]]` in
 * txn.ts, and more: a member of an earlier version reads an entry with it as malformed and applies
 * nothing where its peers write (KV_MALFORMED), so replicas would diverge during a rolling upgrade.
 * The leader may propose it only once every member, learners included, is known to read it: a
 * cluster version that members report and the leader commits (as etcd's), which coraft lacks.
 *
 * The state machine's commands stay as they were, so members of an earlier version apply these
 * writes exactly as this one does.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapResponse } from '../../transport/coap/index.js';
import { encodeKvQuery } from '../kv/index.js';
import type { KvCommand, KvCommandHeader, KvTxnOp, KvTxnResult } from '../kv/index.js';
import { assert } from '../../contracts/assert.js';
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

/** A write with several If-Match ETags: the command once the key's current revision is known. */
export interface RevisionChoice {
  readonly key: string;
  readonly revisions: readonly number[];
  readonly commandAt: (expectedRevision: number) => KvCommand;
}

/**
 * The revisions an If-Match names, 'exists' when an empty value is among them (that decides), or
 * the 4.00 answer to a value that names no revision.
 */
function ifMatchRevisions(ifMatch: readonly Uint8Array[]): readonly number[] | 'exists' | CoapResponse {
  if (ifMatch.some((etag) => etag.byteLength === 0)) return 'exists';
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
  if (revisions.length === 0) return errorResponse(CoapResponseCode.BadRequest, 'If-Match without a value');
  return revisions;
}

/**
 * The command for `revisions` (one ETag: `commandAt` it; several: a choice), the transaction of an
 * empty If-Match (`write` run only when the key is not absent), or the 4.00 refusal.
 */
function conditionalCommand(
  ifMatch: readonly Uint8Array[],
  key: string,
  header: KvCommandHeader,
  write: KvTxnOp,
  commandAt: (expectedRevision: number) => KvCommand,
): KvCommand | RevisionChoice | CoapResponse {
  const revisions = ifMatchRevisions(ifMatch);
  if (revisions === 'exists')
    return { ...header, op: 'txn', compare: [{ key, target: 'absent' }], success: [], failure: [write] };
  if ('code' in revisions) return revisions;
  const [first] = revisions;
  assert(first !== undefined, 'an If-Match names at least one revision');
  return revisions.length === 1 ? commandAt(first) : { key, revisions, commandAt };
}

/** The command of a PUT with an If-Match (a choice for several ETags), or its 4.00 refusal. */
export function ifMatchCommand(
  ifMatch: readonly Uint8Array[],
  put: PutFields,
): KvCommand | RevisionChoice | CoapResponse {
  const { key, value, lease, header } = put;
  return conditionalCommand(ifMatch, key, header, { op: 'put', key, value, ...lease }, (expectedRevision) => ({
    ...header,
    op: 'cas',
    key,
    expectedRevision,
    value,
    ...lease,
  }));
}

/**
 * The command of a DELETE with an If-Match (a choice for several ETags), or its 4.00 refusal: a
 * transaction that deletes the key when its revision is the one expected, else reads it (for the
 * 4.12's ETag).
 */
export function ifMatchDeleteCommand(
  ifMatch: readonly Uint8Array[],
  key: string,
  header: KvCommandHeader,
): KvCommand | RevisionChoice | CoapResponse {
  return conditionalCommand(ifMatch, key, header, { op: 'delete', key }, (revision) => ({
    ...header,
    op: 'txn',
    compare: [{ key, target: 'revision', revision }],
    success: [{ op: 'delete', key }],
    failure: [{ op: 'get', key }],
  }));
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

/**
 * The answer to a DELETE with an If-Match (ifMatchDeleteCommand): 2.02 as a plain DELETE answers
 * when the delete ran (its revision is the store revision it moved to), else 4.12 with the key's
 * current revision as ETag, or saying that the key is absent.
 */
export function conditionalDeleteAnswer(result: KvTxnResult): CoapResponse {
  const storeRevision = result.storeRevision ?? 0;
  const [outcome] = result.results;
  if (outcome?.type === 'delete')
    return jsonResponse(
      CoapResponseCode.Deleted,
      { revision: storeRevision, deleted: outcome.deleted, storeRevision },
      { options: [storeRevisionOption(storeRevision)] },
    );
  if (outcome?.type !== 'get' || outcome.current === null)
    return errorResponse(CoapResponseCode.PreconditionFailed, 'the key is absent');
  return {
    ...errorResponse(CoapResponseCode.PreconditionFailed, `the key is at revision ${outcome.current.revision}`),
    etag: revisionEtag(outcome.current.revision),
  };
}
