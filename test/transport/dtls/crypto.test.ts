// Proves the cryptographic building blocks against published vectors: the TLS 1.2 PRF with
// SHA-256 (the IETF TLS WG test vector, also what `openssl kdf TLS1-PRF` prints), AES-128-CCM
// with an 8-byte tag and 12-byte nonce (NIST SP 800-38C Example 3, exactly the parameters of
// RFC 6655's CCM_8), and that the record cipher builds its nonce and additional data as
// RFC 6655 §3 / RFC 6347 §4.1.2.1 say, rejecting any tampered byte, and that the record layer
// writes an epoch-1 record exactly as one built by hand with node:crypto's aes-128-ccm. The
// CCM itself is proven in ccm.test.ts.
import { strict as assert } from 'node:assert';
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { CcmCipher } from '../../../transport/dtls/aead.js';
import { RecordLayer } from '../../../transport/dtls/record-layer.js';
import { masterSecret, prf, pskPremasterSecret, trafficKeys, verifyData } from '../../../transport/dtls/prf.js';
import { fcParams } from '../../fc-params.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A record fragment sealed into a buffer of its own. */
function sealFragment(cipher: CcmCipher, type: number, seq: number, plaintext: Uint8Array): Uint8Array {
  const fragment = new Uint8Array(plaintext.length + 16);
  cipher.seal(type, 0xfefd, 1, seq, plaintext, fragment, 0);
  return fragment;
}

describe('DTLS crypto', () => {
  it('PRF(SHA-256) matches the TLS 1.2 test vector', () => {
    const out = prf(
      hex('9bbe436ba940f017b17652849a71db35'),
      'test label',
      hex('a0ba9f936cda311827a6f796ffd5198c'),
      100,
    );
    assert.equal(
      Buffer.from(out).toString('hex'),
      'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077d' +
        'ef17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
    );
  });

  it('AES-128-CCM with an 8-byte tag matches NIST SP 800-38C Example 3', () => {
    const cipher = createCipheriv(
      'aes-128-ccm',
      hex('404142434445464748494a4b4c4d4e4f'),
      hex('101112131415161718191a1b'),
      { authTagLength: 8 },
    );
    const plaintext = hex('202122232425262728292a2b2c2d2e2f3031323334353637');
    cipher.setAAD(hex('000102030405060708090a0b0c0d0e0f10111213'), { plaintextLength: plaintext.length });
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    assert.equal(
      Buffer.concat([body, cipher.getAuthTag()]).toString('hex'),
      'e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951',
    );
  });

  it('builds the PSK premaster secret of RFC 4279 §2', () => {
    assert.equal(Buffer.from(pskPremasterSecret(hex('0a0b0c'))).toString('hex'), '00030000000003' + '0a0b0c');
  });

  it('derives 40 bytes of keys and IVs and distinct master secrets with and without EMS', () => {
    const premaster = pskPremasterSecret(Buffer.from('key'));
    const cr = Buffer.alloc(32, 1);
    const sr = Buffer.alloc(32, 2);
    const plain = masterSecret(premaster, cr, sr, null);
    const extended = masterSecret(premaster, cr, sr, Buffer.alloc(32, 3));
    assert.equal(plain.length, 48);
    assert.notDeepEqual(plain, extended);
    // RFC 5246 §8.1 by hand: PRF(premaster, "master secret", client_random + server_random).
    assert.deepEqual(plain, prf(premaster, 'master secret', Buffer.concat([cr, sr]), 48));
    const keys = trafficKeys(plain, cr, sr);
    const block = prf(plain, 'key expansion', Buffer.concat([sr, cr]), 40);
    assert.deepEqual(
      Buffer.concat([keys.clientWriteKey, keys.serverWriteKey, keys.clientWriteIv, keys.serverWriteIv]),
      Buffer.from(block),
    );
    assert.equal(verifyData(plain, 'client', Buffer.alloc(32)).length, 12);
    assert.notDeepEqual(verifyData(plain, 'client', Buffer.alloc(32)), verifyData(plain, 'server', Buffer.alloc(32)));
  });

  it('seals records with nonce = IV || epoch || seq and AAD = epoch || seq || type || version || length', () => {
    const key = hex('404142434445464748494a4b4c4d4e4f');
    const iv = hex('10111213');
    const sealed = sealFragment(new CcmCipher(key, iv), 23, 0x0203040506, Buffer.from('hello'));
    const nonce = hex('10111213 0001 000203040506');
    const reference = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: 8 });
    reference.setAAD(hex('0001000203040506 17 fefd 0005'), { plaintextLength: 5 });
    const body = Buffer.concat([reference.update(Buffer.from('hello')), reference.final()]);
    assert.equal(
      Buffer.from(sealed).toString('hex'),
      Buffer.concat([nonce.subarray(4), body, reference.getAuthTag()]).toString('hex'),
    );
  });

  it('opens what it sealed and rejects every single-bit change and every header change', () => {
    const cipher = new CcmCipher(Buffer.alloc(16, 7), Buffer.alloc(4, 9));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 2 ** 40 }), fc.nat(), (plaintext, seq, flip) => {
        const sealed = sealFragment(cipher, 23, seq, plaintext);
        assert.deepEqual(Buffer.from(cipher.open(23, 0xfefd, 1, seq, sealed) ?? []), Buffer.from(plaintext));
        const bit = flip % (sealed.length * 8);
        const tampered = Uint8Array.from(sealed);
        tampered[bit >> 3] = (tampered[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        assert.equal(cipher.open(23, 0xfefd, 1, seq, tampered), null);
        assert.equal(cipher.open(22, 0xfefd, 1, seq, sealed), null);
        assert.equal(cipher.open(23, 0xfefd, 1, seq + 1, sealed), null);
      }),
      fcParams(100),
    );
  });

  it('rejects fragments shorter than the AEAD overhead or longer than a full record', () => {
    const cipher = new CcmCipher(Buffer.alloc(16), Buffer.alloc(4));
    for (let n = 0; n < 16; n += 1) assert.equal(cipher.open(23, 0xfefd, 1, 0, new Uint8Array(n)), null);
    assert.equal(cipher.open(23, 0xfefd, 1, 0, sealFragment(cipher, 23, 0, new Uint8Array(16384)))?.length, 16384);
    assert.equal(cipher.open(23, 0xfefd, 1, 0, new Uint8Array(16384 + 17)), null);
    assert.throws(() => sealFragment(cipher, 23, 0, new Uint8Array(16385)), /within the RFC limit/);
  });

  it('seals at an offset into a larger buffer, touching only its own bytes', () => {
    const cipher = new CcmCipher(Buffer.alloc(16, 3), Buffer.alloc(4, 4));
    const out = new Uint8Array(13 + 5 + 16 + 3).fill(0xee);
    cipher.seal(23, 0xfefd, 1, 7, Buffer.from('hello'), out, 13);
    assert.deepEqual(out.subarray(0, 13), new Uint8Array(13).fill(0xee));
    assert.deepEqual(out.subarray(13 + 21), new Uint8Array(3).fill(0xee));
    assert.deepEqual(out.subarray(13, 13 + 21), sealFragment(cipher, 23, 7, Buffer.from('hello')));
    assert.throws(() => cipher.seal(23, 0xfefd, 1, 7, Buffer.from('hello'), out, 17), /fits the output/);
  });

  it('property: an epoch-1 record is the header, then epoch||seq, then what node:crypto aes-128-ccm gives', () => {
    // The record layer seals straight into the record's buffer; this builds the same record
    // independently, byte by byte, with a CCM cipher made for the record.
    const keys = {
      clientWriteKey: hex('000102030405060708090a0b0c0d0e0f'),
      serverWriteKey: hex('f0e0d0c0b0a090807060504030201000'),
      clientWriteIv: hex('a1a2a3a4'),
      serverWriteIv: hex('b1b2b3b4'),
    };
    const writer = new RecordLayer(true, 64);
    const reader = new RecordLayer(false, 64);
    writer.setKeys(keys);
    reader.setKeys(keys);
    writer.activateWrite();
    reader.activateRead();
    let seq = 0;
    fc.assert(
      fc.property(fc.constantFrom(21, 22, 23), fc.uint8Array({ maxLength: 1400 }), (type, content) => {
        const record = writer.seal(type, 1, content);
        const explicit = Buffer.alloc(8);
        explicit[1] = 1; // epoch
        explicit.writeUIntBE(seq, 2, 6);
        const reference = createCipheriv(
          'aes-128-ccm',
          keys.clientWriteKey,
          Buffer.concat([keys.clientWriteIv, explicit]),
          {
            authTagLength: 8,
          },
        );
        const length = Buffer.of(content.length >>> 8, content.length & 0xff);
        reference.setAAD(Buffer.concat([explicit, Buffer.of(type, 0xfe, 0xfd), length]), {
          plaintextLength: content.length,
        });
        const body = Buffer.concat([reference.update(content), reference.final(), reference.getAuthTag()]);
        const fragmentLength = Buffer.of((content.length + 16) >>> 8, (content.length + 16) & 0xff);
        const expected = Buffer.concat([Buffer.of(type, 0xfe, 0xfd), explicit, fragmentLength, explicit, body]);
        assert.equal(Buffer.from(record).toString('hex'), expected.toString('hex'));
        const opened = reader.open({ type, version: 0xfefd, epoch: 1, seq, cid: null, fragment: record.subarray(13) });
        assert.ok(typeof opened !== 'string');
        assert.deepEqual(Buffer.from(opened.content), Buffer.from(content));
        seq += 1;
      }),
      fcParams(100, 'record layer seals records'),
    );
  });
});
