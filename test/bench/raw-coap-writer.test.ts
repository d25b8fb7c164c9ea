// The bench's raw CoAP writer (bench/_raw-coap-writer.ts) builds, by hand, the datagram of a
// confirmable PUT /kv/<key>: the project's strict decoder reads it as that request, for keys
// whose length needs the one-byte option extension too.
import { strict as assert } from 'node:assert';
import { rawPut } from '../../bench/_raw-coap-writer.js';
import { decodeMessage } from '../../transport/coap/message.js';
import { CoapMethodCode, CoapOption, CoapType } from '../../transport/coap/index.js';

describe('raw CoAP writer', () => {
  for (const key of ['k', 'bench-0-12', 'a-key-of-more-than-thirteen-bytes']) {
    it(`encodes PUT /kv/${key} with its message id, token and payload`, () => {
      const value = new Uint8Array([1, 2, 3, 4]);
      const decoded = decodeMessage(rawPut(key, value, 0x1234, 0xdeadbeef));
      assert.ok(decoded.ok);
      const { message } = decoded;
      assert.equal(message.type, CoapType.CON);
      assert.equal(message.code, CoapMethodCode.PUT);
      assert.equal(message.messageId, 0x1234);
      assert.deepEqual([...message.token], [0xde, 0xad, 0xbe, 0xef]);
      const path = message.options
        .filter((o) => o.number === CoapOption.UriPath)
        .map((o) => new TextDecoder().decode(o.value));
      assert.deepEqual(path, ['kv', key]);
      assert.equal(message.options.length, 2);
      assert.deepEqual([...message.payload], [...value]);
    });
  }
});
