// Proves that encoding a response straight from its fields changed no byte the server sends:
// property — for every response (any code; payload, ETag, Observe, Content-Format, Max-Age or
// none; integer fields of every byte length; further options and added block options in any
// order, repeated, with numbers equal to the fields', values of every length class; and now and
// then Location-Path), encodeResponse gives the very bytes of the previous way
// (reference-codec.ts: responseOptions, then the added options, through encodeMessage), and
// refuses (InvariantError) exactly what that refused. fast-check prints the seed and path of any
// failure.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { InvariantError } from '../../../contracts/errors.js';
import { CoapOption, CoapType } from '../../../transport/coap/codes.js';
import type { CoapOptionValue } from '../../../transport/coap/message.js';
import type { CoapResponse } from '../../../transport/coap/request.js';
import { encodeResponse } from '../../../transport/coap/response-encoder.js';
import { fcParams } from '../../fc-params.js';
import { referenceEncodeResponse } from './reference-codec.js';

const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });

/** Unsigned integers of every encoded length (0 to 4 bytes), and now and then one too large. */
const uint: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, 1, 255, 256, 65535, 65536, 0xffffff, 0x1000000, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
  { weight: 1, arbitrary: fc.constantFrom(0x100000000, -1, 1.5) },
);

const option: fc.Arbitrary<CoapOptionValue> = fc.record({
  number: fc.oneof(
    fc.constantFrom(
      CoapOption.ETag,
      CoapOption.Observe,
      CoapOption.LocationPath,
      CoapOption.ContentFormat,
      CoapOption.MaxAge,
      CoapOption.Block2,
      CoapOption.Block1,
      CoapOption.Size2,
      CoapOption.Size1,
      65000,
    ),
    fc.integer({ min: 0, max: 65535 }),
  ),
  value: fc.oneof({ weight: 5, arbitrary: bytes(0, 9) }, { weight: 1, arbitrary: bytes(12, 300) }),
});

/**
 * A response with each field present or not (exactOptionalPropertyTypes: absent, not
 * undefined); Location-Path, which takes the previous way itself, in about one in ten.
 */
const response: fc.Arbitrary<CoapResponse> = fc
  .tuple(
    fc.record(
      {
        code: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 255 }) }, fc.constant(0)),
        payload: fc.oneof(bytes(0, 0), bytes(1, 60)),
        contentFormat: uint,
        etag: bytes(0, 9),
        maxAge: uint,
        observe: uint,
        options: fc.array(option, { maxLength: 5 }),
      },
      { requiredKeys: ['code'] },
    ),
    fc.option(fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }), { freq: 10 }),
  )
  .map(([r, locationPath]) => (locationPath === null ? r : { ...r, locationPath }));

describe('CoAP response encoder', () => {
  it('encodes every response to the bytes the previous way gave, and refuses what it refused', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(CoapType.ACK, CoapType.NON, CoapType.CON),
        fc.integer({ min: 0, max: 0xffff }),
        bytes(0, 8),
        response,
        fc.array(option, { maxLength: 4 }),
        (type, messageId, token, r, extra) => {
          const expected = outcome(() => referenceEncodeResponse(type, messageId, token, r, extra));
          const actual = outcome(() => encodeResponse(type, messageId, token, r, extra));
          assert.deepEqual(actual, expected);
        },
      ),
      fcParams(5000, 'response-encoder encodes as before'),
    );
  });
});

/** The bytes as hex, or 'refused' for an InvariantError (any other error fails the test). */
function outcome(encode: () => Uint8Array): string {
  try {
    return Buffer.from(encode()).toString('hex');
  } catch (error: unknown) {
    if (error instanceof InvariantError) return 'refused';
    throw error;
  }
}
