/**
 * The administration resources of the local endpoint. Every change is a command signed with
 * the fleet's admin key (agent/trust/admin-command.ts), sent as the request payload; the
 * resource checks that the command is the one its path names, then the leader (or, for a
 * snapshot, this node) verifies the signature, cluster, expiry and nonce before acting:
 *
 *   GET    /members              the members (status access)
 *   POST   /members              add-member
 *   DELETE /members/{id}         remove-member of {id}
 *   PUT    /members/{id}/key     rekey-member of {id}
 *   POST   /leader/transfer      transfer-leadership
 *   POST   /snapshot             snapshot (naming this node)
 *   POST   /admin                any of them (and set-admin-key)
 *
 * An unsigned, forged, foreign, expired or replayed command is answered 4.03 with the reason. A
 * remove or rekey of this node, sent to its own endpoint while another node leads, is answered
 * 4.09 before anything is sent: the change would cut this node off before the answer arrived.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import type { CoapResourceMethods } from '../../transport/coap/router.js';
import { ForbiddenError, MembershipError, SerializationError } from '../../contracts/errors.js';
import { decodeSignedAdmin, type AdminBody } from '../trust/admin-command.js';
import type { NodeApi } from '../runtime/node-api.js';
import { restricted, type EndpointAccess } from './access.js';
import { acceptOnly } from './documents.js';
import { CONTENT_FORMAT, errorResponse, jsonResponse, responseForError } from './responses.js';

async function guarded(run: () => Promise<CoapResponse>): Promise<CoapResponse> {
  try {
    return await run();
  } catch (error) {
    return responseForError(error);
  }
}

/** The body of the signed command in `request`; ForbiddenError (told `refused`) when it is not one. */
function commandOf(request: CoapRequest, refused: (reason: string) => void): AdminBody {
  try {
    return decodeSignedAdmin(request.payload).body;
  } catch (error) {
    if (!(error instanceof SerializationError)) throw error;
    refused(`not a signed admin command: ${error.message}`);
    throw new ForbiddenError(
      `admin requests carry a command signed with the admin key (coraft ... --admin-key FILE): ${error.message}`,
    );
  }
}

/** Runs a signed command `body` (its bytes: the request's payload) and answers with its outcome. */
async function runAdmin(
  node: NodeApi,
  timeoutMs: number,
  request: CoapRequest,
  body: AdminBody,
): Promise<CoapResponse> {
  if (body.op === 'snapshot')
    return jsonResponse(CoapResponseCode.Changed, {
      nodeId: node.getNodeId(),
      snapshotIndex: await node.snapshotSigned(request.payload),
    });
  const self = node.getNodeId();
  // The leader answers a forwarded command over its session with this node, which the removal
  // (or rekey) of this very node closes when it commits: the answer could never come back.
  if (
    (body.op === 'remove-member' || body.op === 'rekey-member') &&
    body.id === self &&
    node.getStatus().leaderId !== self
  )
    throw new MembershipError(
      `this is ${self}'s own endpoint: it is cut off when the ${body.op} commits and could not report ` +
        "the outcome; send the command through another member's endpoint",
    );
  const result = await node.adminAnywhere(request.payload, timeoutMs);
  const code =
    body.op === 'add-member'
      ? CoapResponseCode.Created
      : body.op === 'remove-member'
        ? CoapResponseCode.Deleted
        : CoapResponseCode.Changed;
  return jsonResponse(code, { op: body.op, ...('id' in body ? { id: body.id } : {}), leaderId: result.leader });
}

/** The resources, as (path, methods) pairs, each method restricted to the identities that may use it. */
export function adminResources(
  node: NodeApi,
  timeoutMs: number,
  access: EndpointAccess,
  refused: (reason: string) => void = () => undefined,
): [string, CoapResourceMethods][] {
  /** A handler for the command `op` (and, for /members/{id}, the id of the path). */
  const expecting =
    (op: AdminBody['op'] | null, idAt: number | null = null) =>
    (request: CoapRequest): Promise<CoapResponse> =>
      guarded(async () => {
        const body = commandOf(request, refused);
        if (op !== null && body.op !== op)
          return errorResponse(
            CoapResponseCode.BadRequest,
            `this resource takes a signed ${op} command, not ${body.op}`,
          );
        const id = idAt === null ? null : request.path[idAt];
        if (id !== null && (!('id' in body) || body.id !== id))
          return errorResponse(
            CoapResponseCode.BadRequest,
            `the signed command names ${'id' in body ? body.id : 'no member'}, the path ${String(id)}`,
          );
        return runAdmin(node, timeoutMs, request, body);
      });
  const members = (request: CoapRequest): Promise<CoapResponse> => {
    const status = node.getStatus();
    return Promise.resolve(
      acceptOnly(request, CONTENT_FORMAT.json, '/members') ??
        jsonResponse(CoapResponseCode.Content, { leaderId: status.leaderId, members: status.members }),
    );
  };
  const memberPath = (request: CoapRequest, method: 'DELETE' | 'PUT'): Promise<CoapResponse> => {
    const shapeOk =
      method === 'DELETE' ? request.path.length === 2 : request.path.length === 3 && request.path[2] === 'key';
    if (!shapeOk)
      return Promise.resolve(
        errorResponse(CoapResponseCode.BadRequest, 'use DELETE /members/{id} or PUT /members/{id}/key'),
      );
    return expecting(method === 'DELETE' ? 'remove-member' : 'rekey-member', 1)(request);
  };
  return [
    [
      '/members',
      {
        ...restricted({ GET: members }, 'status', access),
        ...restricted({ POST: expecting('add-member') }, 'admin', access, refused),
      },
    ],
    [
      '/members/*',
      restricted(
        { DELETE: (r) => memberPath(r, 'DELETE'), PUT: (r) => memberPath(r, 'PUT') },
        'admin',
        access,
        refused,
      ),
    ],
    ['/leader/transfer', restricted({ POST: expecting('transfer-leadership') }, 'admin', access, refused)],
    ['/snapshot', restricted({ POST: expecting('snapshot') }, 'admin', access, refused)],
    ['/admin', restricted({ POST: expecting(null) }, 'admin', access, refused)],
  ];
}
