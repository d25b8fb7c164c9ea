// Proves that the request id of a write (agent/endpoint/write-session.ts requestIdOf), whose hash input now gets
// the port, message id, path and query written directly, is what it was when they were built as strings:
// - property: for any request (paths and queries of 0 to 4 parts, empty, ASCII, multi-byte and long ones; any
//   port and message id), requestIdOf gives the SHA-256 (first 16 bytes) of the same length-prefixed fields as
//   the earlier code: String(port), String(messageId), path.join('/'), query.join('&'). So a retransmission keeps
//   its id across a rolling upgrade, and no two requests that differed before hash alike now. Payloads run from
//   none to 140,000 bytes: past REQUEST_ID_INPUT_BYTES_MAX the payload is hashed after the other fields
//   without being copied into the input, and the id must not change with that either.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fc from 'fast-check';
import { requestIdOf } from '../../../agent/endpoint/write-session.js';
import type { CoapRequest } from '../../../transport/coap/index.js';
import { fcParams } from '../../fc-params.js';
import { coapRequest } from './coap-request.js';

/** requestIdOf as it was: every field through a string, then length-prefixed into the hash. */
function requestIdBefore(nodeId: string, request: CoapRequest): Uint8Array {
  const parts: Buffer[] = [];
  const text = (value: string): void => binary(Buffer.from(value, 'utf8'));
  const binary = (value: Uint8Array): void => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(value.byteLength);
    parts.push(length, Buffer.from(value));
  };
  text('coraft-endpoint-request/1');
  text(nodeId);
  text(request.peer.address);
  text(String(request.peer.port));
  text(request.peer.identity ?? '');
  binary(request.token);
  text(String(request.messageId));
  text(request.method);
  text(request.path.join('/'));
  text(request.query.join('&'));
  for (const etag of request.ifMatch) binary(etag);
  text(request.ifNoneMatch ? '1' : '0');
  binary(request.payload);
  return createHash('sha256').update(Buffer.concat(parts)).digest().subarray(0, 16);
}

const partArb = fc.oneof(
  fc.constantFrom('', 'kv', 'k', 'ключ', '日本', 'a/b', 'client=x', 'seq=7', '😀', 'z'.repeat(300)),
  fc.string({ maxLength: 20 }),
);

describe('requestIdOf', () => {
  it('hashes the same input as when the port, message id, path and query were strings', () => {
    fc.assert(
      fc.property(
        fc.record({
          nodeId: fc.string({ maxLength: 12 }),
          path: fc.array(partArb, { maxLength: 4 }),
          query: fc.array(partArb, { maxLength: 4 }),
          port: fc.integer({ min: 0, max: 65_535 }),
          messageId: fc.integer({ min: 0, max: 65_535 }),
          // Small payloads, and block-wise ones on both sides of the reused input's bound (hashed where they are).
          payload: fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc
              .record({ bytes: fc.integer({ min: 65_000, max: 140_000 }), seed: fc.integer({ min: 1, max: 255 }) })
              .map(({ bytes, seed }) => Uint8Array.from({ length: bytes }, (_, i) => (i * seed + (i >> 8)) & 0xff)),
          ),
        }),
        ({ nodeId, path, query, port, messageId, payload }) => {
          const request = coapRequest({
            path,
            query,
            payload,
            messageId,
            peer: { address: '127.0.0.1', port, identity: null },
          });
          assert.deepEqual(Buffer.from(requestIdOf(nodeId, request)), Buffer.from(requestIdBefore(nodeId, request)));
        },
      ),
      fcParams(),
    );
  });
});
