// Proves that the one-pass request parser changed nothing a handler or the server sees:
// property — for every datagram that reads as a request (valid ones with options of every
// number the server knows and some it does not, UTF-8 and not, repeated, of bad lengths; cut
// or altered ones), RequestParser.parse gives what the previous parser (reference-codec.ts)
// gave: the same error response (code and diagnostic), or a request equal field by field (its
// options too, decoded on demand) with the same block fields. One reader and one parser serve
// every run, as in the server, so state left from an earlier request would show. Also that a
// request made by withPayload keeps its options, and that the reused scratch keeps no more
// room than a usual path needs after a datagram of a thousand segments. fast-check prints the seed and path of any
// failure.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { codeClassOf, CoapOption, CoapType } from '../../../transport/coap/codes.js';
import { encodeMessage } from '../../../transport/coap/message.js';
import { MessageReader } from '../../../transport/coap/message-reader.js';
import { stringOption } from '../../../transport/coap/options.js';
import { ReceivedRequest, RequestParser } from '../../../transport/coap/request-parser.js';
import type { CoapRequest } from '../../../transport/coap/request.js';
import type { DatagramPeer } from '../../../transport/datagram.js';
import { fcParams } from '../../fc-params.js';
import { anyDatagram, asDelivered, plain } from './coap-arbitraries.js';
import { referenceDecodeMessage, referenceParseRequest } from './reference-codec.js';

const PEER: DatagramPeer = { address: '127.0.0.1', port: 5683, identity: null };

/** What a handler can read of a request. */
function fieldsOf(request: CoapRequest): unknown {
  return plain({
    method: request.method,
    path: request.path,
    query: request.query,
    contentFormat: request.contentFormat,
    accept: request.accept,
    ifMatch: request.ifMatch,
    ifNoneMatch: request.ifNoneMatch,
    etags: request.etags,
    observe: request.observe,
    payload: request.payload,
    token: request.token,
    messageId: request.messageId,
    confirmable: request.confirmable,
    peer: request.peer,
    options: request.options,
  });
}

describe('CoAP request parser', () => {
  it('parses every request datagram exactly as the previous parser did', () => {
    const reader = new MessageReader();
    const parser = new RequestParser();
    let requests = 0;
    let refused = 0;
    fc.assert(
      fc.property(anyDatagram, fc.boolean(), (data, asBuffer) => {
        const delivered = asDelivered(data, asBuffer);
        const decoded = referenceDecodeMessage(delivered);
        assert.equal(reader.read(delivered), decoded.ok);
        if (!decoded.ok) return;
        const m = decoded.message;
        // The server parses what is a request: a method class code, CON or NON.
        if (codeClassOf(m.code) !== 0 || m.code === 0 || m.type > CoapType.NON) return;
        const expected = referenceParseRequest(m, PEER);
        const parsed = parser.parse(reader, PEER, 'peer-key', reader.token());
        if (!expected.ok) {
          refused += 1;
          assert.ok(!(parsed instanceof ReceivedRequest), 'refused as before');
          assert.deepEqual(plain(parsed), plain(expected.response));
          return;
        }
        requests += 1;
        assert.ok(parsed instanceof ReceivedRequest, 'accepted as before');
        assert.deepEqual(fieldsOf(parsed), fieldsOf(expected.request));
        assert.deepEqual(plain(parser.block), plain(expected.block));
      }),
      fcParams(5000, 'request-parser parses as before'),
    );
    // Both outcomes are exercised, not one alone.
    assert.ok(requests > 200 && refused > 200, `${requests} requests, ${refused} refused`);
  });

  it('parses a path of many segments, and keeps room for a usual one only', () => {
    const reader = new MessageReader();
    const parser = new RequestParser();
    const datagram = (segments: readonly string[]): Uint8Array =>
      encodeMessage({
        type: CoapType.CON,
        code: 1,
        messageId: 1,
        token: new Uint8Array(0),
        options: segments.map((s) => stringOption(CoapOption.UriPath, s)),
        payload: new Uint8Array(0),
      });
    for (const segments of [Array.from({ length: 1000 }, (_, i) => `s${i}`), ['kv', 'a'], ['b']]) {
      assert.ok(reader.read(datagram(segments)));
      const request = parser.parse(reader, PEER, 'peer-key', reader.token());
      assert.ok(request instanceof ReceivedRequest);
      assert.deepEqual(request.path, segments);
      const scratch: unknown = Reflect.get(Reflect.get(parser, 'collected') as object, 'pathScratch');
      assert.ok(Array.isArray(scratch) && scratch.length <= Math.max(32, segments.length));
    }
    const scratch: unknown = Reflect.get(Reflect.get(parser, 'collected') as object, 'pathScratch');
    assert.ok(Array.isArray(scratch) && scratch.length <= 32, 'the room of the long path is not kept');
  });

  it('keeps the options, the peer key and every field but the payload in a request made by withPayload', () => {
    const reader = new MessageReader();
    const datagram = encodeMessage({
      type: CoapType.CON,
      code: 3,
      messageId: 7,
      token: Uint8Array.from([1, 2]),
      options: [stringOption(CoapOption.UriPath, 'kv'), stringOption(CoapOption.UriPath, 'a')],
      payload: Uint8Array.from([9]),
    });
    assert.ok(reader.read(datagram));
    const request = new RequestParser().parse(reader, PEER, 'peer-key', reader.token());
    assert.ok(request instanceof ReceivedRequest);
    const whole = request.withPayload(Uint8Array.from([4, 5, 6]));
    assert.deepEqual(fieldsOf(whole), fieldsOf({ ...fieldsOfRequest(request), payload: Uint8Array.from([4, 5, 6]) }));
    assert.equal(whole.peerKey, 'peer-key');
    assert.deepEqual(
      whole.options.map((o) => o.number),
      [CoapOption.UriPath, CoapOption.UriPath],
    );
  });
});

/** A plain copy of a request's fields (its options read through the getter). */
function fieldsOfRequest(request: CoapRequest): CoapRequest {
  return {
    method: request.method,
    path: request.path,
    query: request.query,
    contentFormat: request.contentFormat,
    accept: request.accept,
    ifMatch: request.ifMatch,
    ifNoneMatch: request.ifNoneMatch,
    etags: request.etags,
    observe: request.observe,
    payload: request.payload,
    token: request.token,
    messageId: request.messageId,
    confirmable: request.confirmable,
    peer: request.peer,
    options: request.options,
  };
}
