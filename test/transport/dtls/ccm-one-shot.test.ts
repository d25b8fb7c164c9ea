// Proves the one-shot path of transport/dtls/ccm.ts (ccm-one-shot.ts: node:crypto's aes-128-ccm
// built per message, for messages of ONE_SHOT_BYTES_MIN bytes and more) gives the same bytes as
// the path on long-lived ECB and CBC ciphers that smaller messages take and that all messages
// took before: NIST SP 800-38C Example 3 (CCM_8's 12-byte nonce and 8-byte tag) through it; for
// random keys, nonces, additional data, trailer bytes and lengths up to a full 16 KiB record,
// AesCcm.sealParts with every message one-shot and with none one-shot give the same datagram
// after the headroom, also from the message in two pieces, and each path opens what the other
// sealed; the one-shot open rejects every single-bit change; and the record layer sends a large
// record as header, ciphertext and tag, which joined are byte for byte the record built
// independently with node:crypto (with and without a connection ID); a small record stays one buffer.
import { strict as assert } from 'node:assert';
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { AesCcm } from '../../../transport/dtls/ccm.js';
import { ONE_SHOT_BYTES_MIN } from '../../../transport/dtls/ccm-one-shot.js';
import { ContentType } from '../../../transport/dtls/constants.js';
import { RecordLayer } from '../../../transport/dtls/record-layer.js';
import { splitRecords } from '../../../transport/dtls/record.js';
import { fcParams } from '../../fc-params.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const joined = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts);

/** Every message through the one-shot cipher, and none. */
const oneShot = (key: Uint8Array): AesCcm => new AesCcm(key, 12, 8, 0);
const longLived = (key: Uint8Array): AesCcm => new AesCcm(key, 12, 8, Number.POSITIVE_INFINITY);

const messageArb = fc.record({
  key: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  aad: fc.uint8Array({ maxLength: 40 }),
  // Block boundaries, the one-shot size, and up to a full record (16 KiB of plaintext).
  plaintext: fc.oneof(
    fc.uint8Array({ maxLength: 48 }),
    fc.integer({ min: ONE_SHOT_BYTES_MIN - 2, max: ONE_SHOT_BYTES_MIN + 33 }).map((n) => new Uint8Array(n).fill(n)),
    fc.uint8Array({ minLength: 2000, maxLength: 16384 }),
  ),
  headroom: fc.nat({ max: 64 }),
  trailer: fc.integer({ min: -1, max: 255 }),
  cut: fc.nat(),
});

describe('AES-CCM one-shot path for large messages', () => {
  it('reproduces NIST SP 800-38C Example 3 (12-byte nonce, 8-byte tag) through the one-shot cipher', () => {
    const ccm = oneShot(hex('404142434445464748494a4b4c4d4e4f'));
    const nonce = hex('101112131415161718191a1b');
    const aad = hex('000102030405060708090a0b0c0d0e0f10111213');
    const plaintext = hex('202122232425262728292a2b2c2d2e2f3031323334353637');
    const sealed = ccm.sealParts(3, nonce, aad, plaintext, -1);
    assert.equal(sealed.length, 3);
    const expected = 'e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951';
    assert.equal(toHex(joined(sealed).subarray(3)), expected);
    const opened = ccm.open(nonce, aad, hex(expected).subarray(0, 24), hex(expected).subarray(24));
    assert.equal(toHex(opened ?? new Uint8Array(0)), toHex(plaintext));
  });

  it('property: sealParts gives the same bytes one-shot as on long-lived ciphers; each path opens the other', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 3 }), (messages) => {
        for (const m of messages) {
          const [a, b] = [oneShot(m.key), longLived(m.key)];
          const one = joined(a.sealParts(m.headroom, m.nonce, m.aad, m.plaintext, m.trailer));
          const long = joined(b.sealParts(m.headroom, m.nonce, m.aad, m.plaintext, m.trailer));
          const message = m.trailer === -1 ? m.plaintext : Buffer.concat([m.plaintext, Uint8Array.of(m.trailer)]);
          assert.equal(one.length, m.headroom + message.length + 8);
          assert.equal(toHex(one.subarray(m.headroom)), toHex(long.subarray(m.headroom)));
          // A message in two pieces (a CoAP head and its payload) seals to the same bytes on both paths.
          const cut = m.cut % (m.plaintext.length + 1);
          const [first, rest] = [m.plaintext.subarray(0, cut), m.plaintext.subarray(cut)];
          for (const ccm of [oneShot(m.key), longLived(m.key)]) {
            const split = joined(ccm.sealParts(m.headroom, m.nonce, m.aad, first, m.trailer, rest));
            assert.equal(toHex(split.subarray(m.headroom)), toHex(one.subarray(m.headroom)));
          }
          const ciphertext = one.subarray(m.headroom, one.length - 8);
          const tag = one.subarray(one.length - 8);
          assert.equal(toHex(a.open(m.nonce, m.aad, ciphertext, tag) ?? Uint8Array.of(1)), toHex(message));
          assert.equal(toHex(b.open(m.nonce, m.aad, ciphertext, tag) ?? Uint8Array.of(1)), toHex(message));
        }
      }),
      fcParams(60, 'ccm one-shot equals long-lived'),
    );
  });

  it('property: the one-shot open rejects every single-bit change of nonce, additional data, ciphertext or tag', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.nat({ max: 3 }), (m, bitSeed, where) => {
        const ccm = oneShot(m.key);
        const sealed = joined(ccm.sealParts(0, m.nonce, m.aad, m.plaintext, -1));
        const nonce = Buffer.from(m.nonce);
        const aad = Buffer.from(m.aad);
        const target = [nonce, aad, sealed.subarray(0, m.plaintext.length), sealed.subarray(m.plaintext.length)][where];
        if (target === undefined || target.length === 0) return;
        const bit = bitSeed % (target.length * 8);
        target[bit >> 3] = (target[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        const ciphertext = sealed.subarray(0, m.plaintext.length);
        assert.equal(ccm.open(nonce, aad, ciphertext, sealed.subarray(m.plaintext.length)), null);
      }),
      fcParams(60, 'ccm one-shot rejects forgeries'),
    );
  });

  for (const cid of [null, hex('0102030405060708')]) {
    const name = cid === null ? 'no CID' : 'CID';
    it(`property: a large record goes as header, ciphertext, tag; joined, the node:crypto record (${name})`, () => {
      const keys = {
        clientWriteKey: hex('000102030405060708090a0b0c0d0e0f'),
        serverWriteKey: hex('f0e0d0c0b0a090807060504030201000'),
        clientWriteIv: hex('a1a2a3a4'),
        serverWriteIv: hex('b1b2b3b4'),
      };
      const writer = new RecordLayer(true, 64);
      const reader = new RecordLayer(false, 64);
      writer.setConnectionIds({ read: null, write: cid });
      reader.setConnectionIds({ read: cid, write: null });
      writer.setKeys(keys);
      reader.setKeys(keys);
      writer.activateWrite();
      reader.activateRead();
      let seq = 0;
      const contentArb = fc.oneof(
        fc.uint8Array({ maxLength: 1400 }),
        fc.uint8Array({ minLength: ONE_SHOT_BYTES_MIN - 2, maxLength: writer.contentBytesMax() }),
      );
      fc.assert(
        fc.property(fc.constantFrom(21, 23), contentArb, (type, content) => {
          const parts = writer.sealParts(type, 1, content);
          const inner = cid === null ? content : Buffer.concat([content, Uint8Array.of(type)]);
          assert.equal(parts.length, inner.length >= ONE_SHOT_BYTES_MIN ? 3 : 1);
          const explicit = Buffer.alloc(8);
          explicit[1] = 1; // epoch
          explicit.writeUIntBE(seq, 2, 6);
          const length = Buffer.of(inner.length >>> 8, inner.length & 0xff);
          const recordType = cid === null ? type : ContentType.tls12Cid;
          const aad =
            cid === null
              ? Buffer.concat([explicit, Buffer.of(type, 0xfe, 0xfd), length])
              : Buffer.concat([
                  Buffer.alloc(8, 0xff),
                  Buffer.of(25, cid.length, 25, 0xfe, 0xfd),
                  explicit,
                  cid,
                  length,
                ]);
          const reference = createCipheriv(
            'aes-128-ccm',
            keys.clientWriteKey,
            Buffer.concat([keys.clientWriteIv, explicit]),
            {
              authTagLength: 8,
            },
          );
          reference.setAAD(aad, { plaintextLength: inner.length });
          const body = Buffer.concat([reference.update(inner), reference.final(), reference.getAuthTag()]);
          const fragmentLength = Buffer.of((inner.length + 16) >>> 8, (inner.length + 16) & 0xff);
          const header = Buffer.concat([
            Buffer.of(recordType, 0xfe, 0xfd),
            explicit,
            cid ?? Buffer.alloc(0),
            fragmentLength,
          ]);
          const record = joined(parts);
          assert.equal(toHex(record), toHex(Buffer.concat([header, explicit, body])));
          const raw = splitRecords(record, 1, cid?.length ?? 0).records[0];
          assert.ok(raw !== undefined);
          const opened = reader.open(raw);
          assert.ok(typeof opened !== 'string');
          assert.equal(opened.type, type);
          assert.equal(toHex(opened.content), toHex(content));
          seq += 1;
        }),
        fcParams(40, `record layer parts ${cid === null ? 'plain' : 'cid'}`),
      );
    });
  }
});
