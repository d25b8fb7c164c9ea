/**
 * The local endpoint of a witness (DESIGN.md, "Witness members"). A witness stores no values,
 * so it serves no key-value request: every /kv, /txn and /watch request is answered 5.01 (Not
 * Implemented) with a diagnostic that names the leader, so an application (or an operator who
 * pointed a client at the wrong gateway) learns at once where to go. Writes are not forwarded
 * either: a write through a witness would succeed only while it reaches a leader, and the
 * reads that follow it could not be served here, so one clear refusal is simpler to reason
 * about than a half-working endpoint. /status and the admin resources are served as on any
 * member, but for POST /backup: a witness's copy of the state machine is empty, and a whole,
 * verified backup of no keys would restore an empty cluster.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import type { CoapResourceMethods } from '../../transport/coap/router.js';
import type { NodeApi } from '../runtime/node-api.js';
import type { EndpointArea } from './access.js';
import { errorResponse } from './responses.js';

/**
 * The refusal a witness answers a key-value request with, or (`what`) another request that needs
 * the values, such as a backup (backup-resources.ts).
 */
export function witnessRefusal(node: WitnessNode, what = 'serves no key-value requests'): CoapResponse {
  const leader = node.isRunning() ? node.getStatus().leaderId : null;
  const hint = leader === null ? 'no leader known' : `leader: ${leader}`;
  return errorResponse(
    CoapResponseCode.NotImplemented,
    `witness: ${node.getNodeId()} stores no values and ${what}; use a voter (${hint})`,
  );
}

/** What the guard asks of the node. */
export type WitnessNode = Pick<NodeApi, 'isWitness' | 'isRunning' | 'getNodeId' | 'getStatus'>;

/** `methods` of `area`; for the key-value area, with every handler refusing (5.01) while `node` is a witness. */
export function witnessGuarded(
  methods: CoapResourceMethods,
  area: EndpointArea,
  node: WitnessNode,
): CoapResourceMethods {
  if (area !== 'kv') return methods;
  const guarded: Record<string, (request: CoapRequest) => Promise<CoapResponse>> = {};
  for (const [method, handler] of Object.entries(methods)) {
    guarded[method] = (request) => (node.isWitness() ? Promise.resolve(witnessRefusal(node)) : handler(request));
  }
  return guarded;
}
