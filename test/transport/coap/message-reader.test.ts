// Proves that the allocation-free datagram reader changed nothing the receive path decides:
// property — for every byte string (valid messages, cut or altered ones, arbitrary bytes; as a
// Buffer or a plain Uint8Array view), decodeMessage, now built on MessageReader and
// OptionCursor, gives exactly what the previous decoder (reference-codec.ts) gave: the same
// message field by field and option by option, or the same refusal with the same reason and
// header. One reader and one cursor serve every run, so a value left from an earlier datagram
// would show. fast-check prints the seed and path of any failure.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { decodeMessage } from '../../../transport/coap/message.js';
import { MessageReader, OptionCursor } from '../../../transport/coap/message-reader.js';
import { fcParams } from '../../fc-params.js';
import { anyDatagram, asDelivered, plain } from './coap-arbitraries.js';
import { referenceDecodeMessage } from './reference-codec.js';

describe('CoAP message reader', () => {
  it('decodes every datagram exactly as the previous decoder did', () => {
    fc.assert(
      fc.property(anyDatagram, fc.boolean(), (data, asBuffer) => {
        const delivered = asDelivered(data, asBuffer);
        assert.deepEqual(plain(decodeMessage(delivered)), plain(referenceDecodeMessage(delivered)));
      }),
      fcParams(4000, 'message-reader decodes as before'),
    );
  });

  it('walks the options and finds the payload of whatever it accepts, with one reader reused', () => {
    const reader = new MessageReader();
    const cursor = new OptionCursor();
    fc.assert(
      fc.property(anyDatagram, (data) => {
        const reference = referenceDecodeMessage(data);
        assert.equal(reader.read(data), reference.ok);
        if (!reference.ok) {
          assert.equal(reader.reason, reference.reason);
          assert.equal(reader.headerReadable, reference.header !== null);
          return;
        }
        const options: unknown[] = [];
        cursor.reset(data, reader.optionsStart, reader.optionsEnd);
        while (cursor.next()) options.push({ number: cursor.number, value: cursor.value() });
        const m = reference.message;
        assert.deepEqual(
          plain({ type: reader.type, code: reader.code, messageId: reader.messageId, options }),
          plain({ type: m.type, code: m.code, messageId: m.messageId, options: m.options }),
        );
        assert.deepEqual(plain([reader.token(), reader.payload()]), plain([m.token, m.payload]));
      }),
      fcParams(3000, 'message-reader walks options'),
    );
  });

  it('reads a value as an unsigned integer only up to the given length', () => {
    const reader = new MessageReader();
    const cursor = new OptionCursor();
    // Content-Format 0x0102 (two bytes), then a three-byte elective option 14.
    assert.ok(reader.read(Uint8Array.from([0x40, 0x01, 0, 1, 0xc2, 0x01, 0x02, 0x23, 1, 2, 3])));
    cursor.reset(reader.bytes, reader.optionsStart, reader.optionsEnd);
    assert.ok(cursor.next());
    assert.equal(cursor.number, 12);
    assert.equal(cursor.uint(2), 0x0102);
    assert.equal(cursor.uint(1), null);
    assert.ok(cursor.next());
    assert.equal(cursor.number, 14);
    assert.equal(cursor.uint(3), 0x010203);
    assert.equal(cursor.next(), false);
  });
});
