/**
 * Who may use which resources of the local endpoint (SECURITY.md). With endpoint keys the
 * endpoint speaks coaps and every request carries the PSK identity it was authenticated with:
 * the key-value identity may use /kv, /txn, /watch and /lease, the admin identity /members,
 * /leader/transfer, /snapshot, /admin and /backup, and both may read /status and the member list. Without keys the
 * endpoint is plain CoAP, which the configuration allows on loopback only, and every resource
 * is open to local processes; admin commands still need the admin key's signature.
 */
import { CoapResponseCode } from '../../transport/coap/index.js';
import type { CoapRequest, CoapResponse } from '../../transport/coap/index.js';
import { admitted, type CoapResourceHandler, type CoapResourceMethods } from '../../transport/coap/router.js';
import { errorResponse } from './responses.js';

/** The identities of the endpoint; both null: an open (loopback, plain CoAP) endpoint. */
export interface EndpointAccess {
  readonly kv: string | null;
  readonly admin: string | null;
}

/** What a resource serves. */
export type EndpointArea = 'kv' | 'admin' | 'status';

/** True when a request authenticated as `identity` may use `area`. */
export function mayUse(access: EndpointAccess, area: EndpointArea, identity: string | null): boolean {
  if (access.kv === null && access.admin === null) return true;
  if (identity === null) return false;
  if (area === 'status') return identity === access.kv || identity === access.admin;
  return identity === access[area];
}

/** The refusal (4.03) of a request whose identity may not use `area`, or null when it may. */
export function accessRefusal(access: EndpointAccess, area: EndpointArea, request: CoapRequest): CoapResponse | null {
  if (mayUse(access, area, request.peer.identity)) return null;
  return errorResponse(
    CoapResponseCode.Forbidden,
    `identity ${JSON.stringify(request.peer.identity)} may not use the ${area} resources`,
  );
}

/**
 * `methods` refusing (4.03) identities that may not use `area` (each refusal told `refused`): the server checks that
 * before it looks at the body (so before a size limit, or a block is kept), and the handler again.
 */
export function restricted(
  methods: CoapResourceMethods,
  area: EndpointArea,
  access: EndpointAccess,
  refused: (reason: string) => void = () => undefined,
): CoapResourceMethods {
  const guarded: Record<string, CoapResourceHandler> = {};
  const admission = (request: CoapRequest): CoapResponse | null => {
    const refusal = accessRefusal(access, area, request);
    if (refusal !== null)
      refused(`identity ${JSON.stringify(request.peer.identity)} may not use the ${area} resources`);
    return refusal;
  };
  for (const [method, handler] of Object.entries(methods)) {
    guarded[method] = admitted((request) => {
      const refusal = admission(request);
      return refusal === null ? handler(request) : Promise.resolve(refusal);
    }, admission);
  }
  return guarded;
}
