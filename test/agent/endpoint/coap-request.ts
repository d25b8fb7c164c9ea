// A parsed CoAP request for endpoint tests that call handlers directly: a confirmable PUT from a
// client without an identity, changed by `overrides`.
import type { CoapRequest } from '../../../transport/coap/index.js';

/** A confirmable PUT of `v` to `/k` from 127.0.0.1:40000 (no identity), with `overrides`. */
export function coapRequest(overrides: Partial<CoapRequest> = {}): CoapRequest {
  return {
    method: 'PUT',
    path: ['k'],
    query: [],
    contentFormat: null,
    accept: null,
    ifMatch: [],
    ifNoneMatch: false,
    etags: [],
    observe: null,
    payload: new TextEncoder().encode('v'),
    token: new Uint8Array([1, 2, 3, 4]),
    messageId: 77,
    confirmable: true,
    peer: { address: '127.0.0.1', port: 40000, identity: null },
    options: [],
    ...overrides,
  };
}
