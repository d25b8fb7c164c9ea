/**
 * The administration resources of the local endpoint: /members, /members/{id},
 * /members/{id}/key, /leader/transfer and /snapshot. Membership and leadership requests go to
 * the leader; a snapshot is taken by the node that receives the request. A PSK may be given
 * (POST /members with "psk", PUT /members/{id}/key) but is never returned or logged.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import type { CoapResourceMethods } from '../../transport/coap/router.js';
import { isValidNodeId } from '../core/membership.js';
import { isHexKey } from '../membership/keystore.js';
import type { RaftNodeImpl } from '../runtime/node.js';
import { errorResponse, jsonBody, jsonResponse, responseForError } from './responses.js';

async function guarded(run: () => Promise<CoapResponse>): Promise<CoapResponse> {
  try {
    return await run();
  } catch (error) {
    return responseForError(error);
  }
}

/** The resources, as (path, methods) pairs. */
export function adminResources(node: RaftNodeImpl, timeoutMs: number): [string, CoapResourceMethods][] {
  const members = (): CoapResponse => {
    const status = node.getStatus();
    return jsonResponse(CoapResponseCode.Content, { leaderId: status.leaderId, members: status.members });
  };
  const addMember = (request: CoapRequest): Promise<CoapResponse> =>
    guarded(async () => {
      const body = jsonBody(request);
      const id = body?.id;
      const address = body?.address;
      const learner = body?.learner ?? false;
      const psk = body?.psk ?? null;
      if (!isValidNodeId(id) || typeof address !== 'string' || typeof learner !== 'boolean' || (psk !== null && !isHexKey(psk))) {
        return errorResponse(CoapResponseCode.BadRequest, 'expected JSON {"id": NODE_ID, "address": "host:port", "learner"?: boolean, "psk"?: HEX_KEY}');
      }
      const result = await node.adminAnywhere({ op: 'add-member', id, address, learner, psk }, timeoutMs);
      return jsonResponse(CoapResponseCode.Created, { id, address, learner, leaderId: result.leader });
    });
  const removeMember = (request: CoapRequest): Promise<CoapResponse> =>
    guarded(async () => {
      const id = request.path[1];
      if (request.path.length !== 2 || !isValidNodeId(id)) return errorResponse(CoapResponseCode.BadRequest, 'use DELETE /members/{id}');
      const result = await node.adminAnywhere({ op: 'remove-member', id }, timeoutMs);
      return jsonResponse(CoapResponseCode.Deleted, { id, leaderId: result.leader });
    });
  const rekeyMember = (request: CoapRequest): Promise<CoapResponse> =>
    guarded(async () => {
      const id = request.path[1];
      const psk = jsonBody(request)?.psk;
      if (request.path.length !== 3 || request.path[2] !== 'key' || !isValidNodeId(id) || !isHexKey(psk)) {
        return errorResponse(CoapResponseCode.BadRequest, 'use PUT /members/{id}/key with JSON {"psk": HEX_KEY}');
      }
      const result = await node.adminAnywhere({ op: 'rekey-member', id, psk }, timeoutMs);
      return jsonResponse(CoapResponseCode.Changed, { id, leaderId: result.leader });
    });
  const transfer = (request: CoapRequest): Promise<CoapResponse> =>
    guarded(async () => {
      const body = jsonBody(request);
      const to = body?.to ?? null;
      if (body === null || (to !== null && !isValidNodeId(to))) return errorResponse(CoapResponseCode.BadRequest, 'expected JSON {"to"?: NODE_ID}');
      const result = await node.adminAnywhere({ op: 'transfer-leadership', to }, timeoutMs);
      return jsonResponse(CoapResponseCode.Changed, { leaderId: result.leader });
    });
  const snapshot = (): Promise<CoapResponse> =>
    guarded(async () => jsonResponse(CoapResponseCode.Changed, { nodeId: node.getNodeId(), snapshotIndex: await node.snapshotNow() }));
  return [
    ['/members', { GET: () => Promise.resolve(members()), POST: addMember }],
    ['/members/*', { DELETE: removeMember, PUT: rekeyMember }],
    ['/leader/transfer', { POST: transfer }],
    ['/snapshot', { POST: snapshot }],
  ];
}
