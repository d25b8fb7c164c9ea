// Proves handshake fragmentation and reassembly (RFC 6347 §4.2.3): any message split at any
// fragment size, delivered in any order with duplicates, reassembles to the original, in
// message_seq order; fragments that contradict each other, exceed the size limit or run too
// far ahead are refused without buffering; parsing arbitrary bytes never throws.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { fcParams } from '../../fc-params.js';
import {
  HandshakeReassembler,
  encodeHandshakeFragment,
  fragmentHandshakeMessage,
  parseHandshakeFragments,
} from '../../../transport/dtls/fragments.js';

const limits = { messageBytesMax: 4096, messagesAheadMax: 4 };

describe('handshake fragments', () => {
  it('reassembles messages from shuffled, duplicated fragments', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 700 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (bodies, fragmentSize, shuffleSeed) => {
          const fragments = bodies.flatMap((body, i) =>
            fragmentHandshakeMessage({ msgType: 1 + i, messageSeq: i, body }, fragmentSize),
          );
          // A deterministic shuffle with duplicates, from the generated seed.
          let state = shuffleSeed;
          const order = [...fragments, ...fragments.slice(0, 2)].map((f) => {
            state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
            return { f, key: state };
          });
          order.sort((a, b) => a.key - b.key);
          const reassembler = new HandshakeReassembler(limits);
          const out: Uint8Array[] = [];
          for (const { f } of order) {
            const parsed = parseHandshakeFragments(f, 16);
            assert.ok(parsed !== null && parsed.length === 1);
            const first = parsed[0];
            assert.ok(first !== undefined);
            assert.notEqual(reassembler.add(first), 'invalid');
            for (let m = reassembler.next(); m !== null; m = reassembler.next()) {
              assert.equal(m.messageSeq, out.length);
              assert.equal(m.msgType, 1 + out.length);
              out.push(m.body);
            }
          }
          assert.deepEqual(
            out.map((b) => Buffer.from(b)),
            bodies.map((b) => Buffer.from(b)),
          );
          assert.equal(reassembler.bufferedBytes(), 0);
        },
      ),
      fcParams(100),
    );
  });

  it('splits into fragments of the requested size', () => {
    const parts = fragmentHandshakeMessage({ msgType: 1, messageSeq: 3, body: new Uint8Array(250) }, 100);
    assert.deepEqual(
      parts.map((p) => p.length - 12),
      [100, 100, 50],
    );
  });

  it('reports retransmissions as old and refuses inconsistent, oversized or far-ahead fragments', () => {
    const r = new HandshakeReassembler(limits, 2);
    const frag = (type: number, length: number, seq: number, offset: number, body: Uint8Array) =>
      parseHandshakeFragments(encodeHandshakeFragment(type, length, seq, offset, body), 1)?.[0];
    const f1 = frag(1, 10, 1, 0, new Uint8Array(10));
    assert.ok(f1);
    assert.equal(r.add(f1), 'old');
    const tooFar = frag(1, 10, 7, 0, new Uint8Array(10));
    assert.ok(tooFar);
    assert.equal(r.add(tooFar), 'too-far');
    const big = frag(1, 5000, 2, 0, new Uint8Array(10));
    assert.ok(big);
    assert.equal(r.add(big), 'invalid');
    const part = frag(1, 20, 2, 0, new Uint8Array(10));
    const otherType = frag(2, 20, 2, 10, new Uint8Array(10));
    const otherLength = frag(1, 30, 2, 10, new Uint8Array(10));
    assert.ok(part && otherType && otherLength);
    assert.equal(r.add(part), 'accepted');
    assert.equal(r.add(otherType), 'invalid');
    assert.equal(r.add(otherLength), 'invalid');
    assert.equal(r.next(), null);
    assert.equal(r.bufferedBytes(), 20);
  });

  it('rejects fragments that reach past their message and never throws on arbitrary bytes', () => {
    assert.equal(parseHandshakeFragments(Buffer.from('01000005000000000300000601020304050' + '6', 'hex'), 4), null);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const parsed = parseHandshakeFragments(bytes, 4);
        if (parsed !== null) for (const f of parsed) assert.ok(f.fragmentOffset + f.body.length <= f.length);
      }),
      fcParams(100),
    );
  });
});
