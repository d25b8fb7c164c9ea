// Proves the CoAP message codec: encode/decode round-trips every valid message; our bytes
// are exactly coap-packet's for the same message and coap-packet reads them back the same
// (so the wire format is RFC 7252's as others implement it); arbitrary bytes never throw and,
// when they decode, re-encode to the very same bytes; and each malformed case the RFC names
// is refused, with the header kept only when a RST may be sent. fast-check prints the seed
// and path of any failure.
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { CoapType, formatCode } from '../../../transport/coap/codes.js';
import { decodeMessage, encodeMessage, type CoapMessage } from '../../../transport/coap/message.js';
import { decodeBlock, decodeUint, encodeBlock, encodeUint } from '../../../transport/coap/options.js';
import { fcParams } from '../../fc-params.js';

const require = createRequire(import.meta.url);
const coapPacket = require('coap-packet') as {
  generate(packet: object, maxLength?: number): Buffer;
  parse(buffer: Buffer): {
    code: string;
    messageId: number;
    token: Buffer;
    options: { name: string | number; value: Buffer }[];
    payload: Buffer;
    confirmable: boolean;
    ack: boolean;
    reset: boolean;
  };
};

const OPTION_NUMBERS_BY_NAME: Record<string, number> = {
  'If-Match': 1,
  'Uri-Host': 3,
  ETag: 4,
  'If-None-Match': 5,
  Observe: 6,
  'Uri-Port': 7,
  'Location-Path': 8,
  OSCORE: 9,
  'Uri-Path': 11,
  'Content-Format': 12,
  'Max-Age': 14,
  'Uri-Query': 15,
  'Hop-Limit': 16,
  Accept: 17,
  'Q-Block1': 19,
  'Location-Query': 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  'Q-Block2': 31,
  'Proxy-Uri': 35,
  'Proxy-Scheme': 39,
  Size1: 60,
  'No-Response': 258,
  'OCF-Accept-Content-Format-Version': 2049,
  'OCF-Content-Format-Version': 2053,
};

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });

const nonEmptyMessage: fc.Arbitrary<CoapMessage> = fc
  .record({
    type: fc.constantFrom(CoapType.CON, CoapType.NON, CoapType.ACK, CoapType.RST),
    code: fc.integer({ min: 1, max: 255 }),
    messageId: fc.integer({ min: 0, max: 0xffff }),
    token: bytes(0, 8),
    options: fc.array(
      fc.record({
        number: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 65535 })),
        value: bytes(0, 300),
      }),
      { maxLength: 6 },
    ),
    payload: bytes(0, 600),
  })
  .map((m) => ({ ...m, options: [...m.options].sort((a, b) => a.number - b.number) }));

function plain(message: CoapMessage): object {
  return {
    type: message.type,
    code: message.code,
    messageId: message.messageId,
    token: Buffer.from(message.token).toString('hex'),
    options: message.options.map((o) => [o.number, Buffer.from(o.value).toString('hex')]),
    payload: Buffer.from(message.payload).toString('hex'),
  };
}

describe('CoAP message codec', () => {
  it('round-trips every valid message', () => {
    fc.assert(
      fc.property(nonEmptyMessage, (message) => {
        const decoded = decodeMessage(encodeMessage(message));
        assert.ok(decoded.ok);
        assert.deepEqual(plain(decoded.message), plain(message));
      }),
      fcParams(100),
    );
  });

  it('writes exactly the bytes coap-packet writes, and coap-packet reads ours back', () => {
    fc.assert(
      fc.property(nonEmptyMessage, (message) => {
        const ours = Buffer.from(encodeMessage(message));
        const theirs = coapPacket.generate(
          {
            code: formatCode(message.code),
            messageId: message.messageId,
            token: Buffer.from(message.token),
            options: message.options.map((o) => ({ name: String(o.number), value: Buffer.from(o.value) })),
            payload: Buffer.from(message.payload),
            confirmable: message.type === CoapType.CON,
            ack: message.type === CoapType.ACK,
            reset: message.type === CoapType.RST,
          },
          1 << 20,
        );
        assert.equal(ours.toString('hex'), theirs.toString('hex'));
        const parsed = coapPacket.parse(ours);
        assert.equal(parsed.code, formatCode(message.code));
        assert.equal(parsed.messageId, message.messageId);
        assert.equal(parsed.token.toString('hex'), Buffer.from(message.token).toString('hex'));
        assert.equal(parsed.payload.toString('hex'), Buffer.from(message.payload).toString('hex'));
        const numbers = parsed.options.map((o) =>
          typeof o.name === 'number' ? o.name : (OPTION_NUMBERS_BY_NAME[o.name] ?? Number(o.name)),
        );
        assert.deepEqual(
          numbers,
          message.options.map((o) => o.number),
        );
      }),
      fcParams(100),
    );
  });

  it('never throws on arbitrary bytes, and re-encodes whatever it accepts to the same bytes', () => {
    const datagram = fc.oneof(
      bytes(0, 64),
      // Mostly-valid headers reach the option parser more often.
      fc
        .tuple(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 3 }), bytes(3, 80))
        .map(([tkl, type, rest]) => Uint8Array.from([0x40 | (type << 4) | tkl, ...rest])),
    );
    fc.assert(
      fc.property(datagram, (data) => {
        const decoded = decodeMessage(data);
        if (decoded.ok)
          assert.equal(Buffer.from(encodeMessage(decoded.message)).toString('hex'), Buffer.from(data).toString('hex'));
      }),
      fcParams(5000),
    );
  });

  it('refuses each malformed case of RFC 7252, keeping the header when a RST may answer it', () => {
    const cases: [string, number[], boolean][] = [
      ['shorter than a header', [0x40, 0x01, 0x00], false],
      ['version 2', [0x80, 0x01, 0x00, 0x01], false],
      ['token length 9', [0x49, 0x01, 0x00, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9], true],
      ['token past the end', [0x44, 0x01, 0x00, 0x01, 1, 2], true],
      ['empty message with a token', [0x41, 0x00, 0x00, 0x01, 7], true],
      ['empty message with a payload', [0x40, 0x00, 0x00, 0x01, 0xff, 1], true],
      ['payload marker without payload', [0x40, 0x01, 0x00, 0x01, 0xff], true],
      ['option delta 15', [0x40, 0x01, 0x00, 0x01, 0xf1, 0x00], true],
      ['option length 15', [0x40, 0x01, 0x00, 0x01, 0x1f, 0x00], true],
      ['option value past the end', [0x40, 0x01, 0x00, 0x01, 0xb5, 0x61, 0x62], true],
      ['extended delta past the end', [0x40, 0x01, 0x00, 0x01, 0xe0, 0x01], true],
      ['option number over 65535', [0x40, 0x01, 0x00, 0x01, 0xe0, 0xff, 0xff, 0xe0, 0xff, 0xff], true],
    ];
    for (const [name, data, hasHeader] of cases) {
      const decoded = decodeMessage(Uint8Array.from(data));
      assert.equal(decoded.ok, false, name);
      if (!decoded.ok) assert.equal(decoded.header !== null, hasHeader, name);
    }
  });

  it('encodes integers minimally and block values as NUM/M/SZX', () => {
    assert.equal(encodeUint(0).length, 0);
    assert.deepEqual([...encodeUint(255)], [255]);
    assert.deepEqual([...encodeUint(256)], [1, 0]);
    assert.equal(decodeUint(Uint8Array.from([0, 0, 1]), 3), 1);
    assert.equal(decodeUint(Uint8Array.from([1, 2, 3, 4, 5]), 4), null);
    assert.deepEqual([...encodeBlock({ num: 0, more: true, szx: 6 })], [0x0e]);
    assert.deepEqual(decodeBlock(encodeBlock({ num: 0xfffff, more: false, szx: 2 })), {
      num: 0xfffff,
      more: false,
      szx: 2,
    });
    assert.equal(decodeBlock(Uint8Array.from([0x07])), null, 'SZX 7 (BERT) is refused over UDP');
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xfffff }),
        fc.boolean(),
        fc.integer({ min: 0, max: 6 }),
        (num, more, szx) => {
          assert.deepEqual(decodeBlock(encodeBlock({ num, more, szx })), { num, more, szx });
        },
      ),
      fcParams(100),
    );
  });
});
