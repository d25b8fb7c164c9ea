// Proves the AES-CCM of transport/dtls/ccm.ts, which runs on long-lived ECB and CBC ciphers
// rather than one node:crypto CCM cipher per message: it reproduces all 24 packet vectors of
// RFC 3610 §8 (13-byte nonces, L=2, 8- and 10-byte tags) and NIST SP 800-38C Examples 1-3
// (7-, 8- and 12-byte nonces; Example 3 has the 12-byte nonce and 8-byte tag of RFC 6655's
// CCM_8); it agrees with node:crypto's own aes-128-ccm on random keys, nonces, lengths and
// additional data, over sequences of messages on several instances interleaved (which is what
// would show a CBC chaining value or the shared scratch leaking from one message to the next);
// and it rejects every single-bit change of nonce, additional data, ciphertext or tag,
// returning no plaintext. sealAfter (a record's header room in front, a trailing inner type
// byte) gives the same bytes as node:crypto after the room it leaves.
import { strict as assert } from 'node:assert';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import fc from 'fast-check';
import { AesCcm } from '../../../transport/dtls/ccm.js';
import { fcParams } from '../../fc-params.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function seal(ccm: AesCcm, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, tagBytes: number): Uint8Array {
  const out = new Uint8Array(plaintext.length + tagBytes);
  ccm.seal(nonce, aad, plaintext, out, 0);
  return out;
}

function open(ccm: AesCcm, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, tagBytes: number) {
  const length = sealed.length - tagBytes;
  return ccm.open(nonce, aad, sealed.subarray(0, length), sealed.subarray(length));
}

/** node:crypto's aes-128-ccm (OpenSSL's), one cipher per message: the reference. */
function nodeSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, tagBytes: number) {
  const cipher = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: tagBytes });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([body, cipher.getAuthTag()]);
}

function nodeOpens(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, tagBytes: number) {
  const length = sealed.length - tagBytes;
  const decipher = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: tagBytes });
  decipher.setAuthTag(sealed.subarray(length));
  decipher.setAAD(aad, { plaintextLength: length });
  decipher.update(sealed.subarray(0, length));
  try {
    decipher.final();
    return true;
  } catch {
    return false;
  }
}

// RFC 3610 §8, packet vectors #1-#24: the first 8 or 12 bytes of each packet are sent in the
// clear (our additional data), the rest is encrypted; #1-#12 share one key, #13-#24 another.
interface Vector {
  readonly name: string;
  readonly key: string;
  readonly nonce: string;
  readonly aad: string;
  readonly plaintext: string;
  /** Ciphertext and tag. */
  readonly sealed: string;
  readonly tagBytes: number;
}
const KEY_A = 'C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF';
const KEY_B = 'D7828D13B2B0BDC325A76236DF93CC6B';
const RFC3610: readonly Vector[] = [
  {
    name: 'RFC 3610 #1',
    key: KEY_A,
    nonce: '00000003020100A0A1A2A3A4A5',
    aad: '0001020304050607',
    tagBytes: 8,
    plaintext: '08090A0B0C0D0E0F101112131415161718191A1B1C1D1E',
    sealed: '588C979A61C663D2F066D0C2C0F989806D5F6B61DAC38417E8D12CFDF926E0',
  },
  {
    name: 'RFC 3610 #2',
    key: KEY_A,
    nonce: '00000004030201A0A1A2A3A4A5',
    aad: '0001020304050607',
    tagBytes: 8,
    plaintext: '08090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F',
    sealed: '72C91A36E135F8CF291CA894085C87E3CC15C439C9E43A3BA091D56E10400916',
  },
  {
    name: 'RFC 3610 #3',
    key: KEY_A,
    nonce: '00000005040302A0A1A2A3A4A5',
    aad: '0001020304050607',
    tagBytes: 8,
    plaintext: '08090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20',
    sealed: '51B1E5F44A197D1DA46B0F8E2D282AE871E838BB64DA8596574ADAA76FBD9FB0C5',
  },
  {
    name: 'RFC 3610 #4',
    key: KEY_A,
    nonce: '00000006050403A0A1A2A3A4A5',
    aad: '000102030405060708090A0B',
    tagBytes: 8,
    plaintext: '0C0D0E0F101112131415161718191A1B1C1D1E',
    sealed: 'A28C6865939A9A79FAAA5C4C2A9D4A91CDAC8C96C861B9C9E61EF1',
  },
  {
    name: 'RFC 3610 #5',
    key: KEY_A,
    nonce: '00000007060504A0A1A2A3A4A5',
    aad: '000102030405060708090A0B',
    tagBytes: 8,
    plaintext: '0C0D0E0F101112131415161718191A1B1C1D1E1F',
    sealed: 'DCF1FB7B5D9E23FB9D4E131253658AD86EBDCA3E51E83F077D9C2D93',
  },
  {
    name: 'RFC 3610 #6',
    key: KEY_A,
    nonce: '00000008070605A0A1A2A3A4A5',
    aad: '000102030405060708090A0B',
    tagBytes: 8,
    plaintext: '0C0D0E0F101112131415161718191A1B1C1D1E1F20',
    sealed: '6FC1B011F006568B5171A42D953D469B2570A4BD87405A0443AC91CB94',
  },
  {
    name: 'RFC 3610 #7',
    key: KEY_A,
    nonce: '00000009080706A0A1A2A3A4A5',
    aad: '0001020304050607',
    tagBytes: 10,
    plaintext: '08090A0B0C0D0E0F101112131415161718191A1B1C1D1E',
    sealed: '0135D1B2C95F41D5D1D4FEC185D166B8094E999DFED96C048C56602C97ACBB7490',
  },
  {
    name: 'RFC 3610 #8',
    key: KEY_A,
    nonce: '0000000A090807A0A1A2A3A4A5',
    aad: '0001020304050607',
    tagBytes: 10,
    plaintext: '08090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F',
    sealed: '7B75399AC0831DD2F0BBD75879A2FD8F6CAE6B6CD9B7DB24C17B4433F434963F34B4',
  },
  {
    name: 'RFC 3610 #9',
    key: KEY_A,
    nonce: '0000000B0A0908A0A1A2A3A4A5',
    aad: '0001020304050607',
    tagBytes: 10,
    plaintext: '08090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F20',
    sealed: '82531A60CC24945A4B8279181AB5C84DF21CE7F9B73F42E197EA9C07E56B5EB17E5F4E',
  },
  {
    name: 'RFC 3610 #10',
    key: KEY_A,
    nonce: '0000000C0B0A09A0A1A2A3A4A5',
    aad: '000102030405060708090A0B',
    tagBytes: 10,
    plaintext: '0C0D0E0F101112131415161718191A1B1C1D1E',
    sealed: '07342594157785152B074098330ABB141B947B566AA9406B4D999988DD',
  },
  {
    name: 'RFC 3610 #11',
    key: KEY_A,
    nonce: '0000000D0C0B0AA0A1A2A3A4A5',
    aad: '000102030405060708090A0B',
    tagBytes: 10,
    plaintext: '0C0D0E0F101112131415161718191A1B1C1D1E1F',
    sealed: '676BB20380B0E301E8AB79590A396DA78B834934F53AA2E9107A8B6C022C',
  },
  {
    name: 'RFC 3610 #12',
    key: KEY_A,
    nonce: '0000000E0D0C0BA0A1A2A3A4A5',
    aad: '000102030405060708090A0B',
    tagBytes: 10,
    plaintext: '0C0D0E0F101112131415161718191A1B1C1D1E1F20',
    sealed: 'C0FFA0D6F05BDB67F24D43A4338D2AA4BED7B20E43CD1AA31662E7AD65D6DB',
  },
  {
    name: 'RFC 3610 #13',
    key: KEY_B,
    nonce: '00412B4EA9CDBE3C9696766CFA',
    aad: '0BE1A88BACE018B1',
    tagBytes: 8,
    plaintext: '08E8CF97D820EA258460E96AD9CF5289054D895CEAC47C',
    sealed: '4CB97F86A2A4689A877947AB8091EF5386A6FFBDD080F8E78CF7CB0CDDD7B3',
  },
  {
    name: 'RFC 3610 #14',
    key: KEY_B,
    nonce: '0033568EF7B2633C9696766CFA',
    aad: '63018F76DC8A1BCB',
    tagBytes: 8,
    plaintext: '9020EA6F91BDD85AFA0039BA4BAFF9BFB79C7028949CD0EC',
    sealed: '4CCB1E7CA981BEFAA0726C55D378061298C85C92814ABC33C52EE81D7D77C08A',
  },
  {
    name: 'RFC 3610 #15',
    key: KEY_B,
    nonce: '00103FE41336713C9696766CFA',
    aad: 'AA6CFA36CAE86B40',
    tagBytes: 8,
    plaintext: 'B916E0EACC1C00D7DCEC68EC0B3BBB1A02DE8A2D1AA346132E',
    sealed: 'B1D23A2220DDC0AC900D9AA03C61FCF4A559A4417767089708A776796EDB723506',
  },
  {
    name: 'RFC 3610 #16',
    key: KEY_B,
    nonce: '00764C63B8058E3C9696766CFA',
    aad: 'D0D0735C531E1BECF049C244',
    tagBytes: 8,
    plaintext: '12DAAC5630EFA5396F770CE1A66B21F7B2101C',
    sealed: '14D253C3967B70609B7CBB7C499160283245269A6F49975BCADEAF',
  },
  {
    name: 'RFC 3610 #17',
    key: KEY_B,
    nonce: '00F8B678094E3B3C9696766CFA',
    aad: '77B60F011C03E1525899BCAE',
    tagBytes: 8,
    plaintext: 'E88B6A46C78D63E52EB8C546EFB5DE6F75E9CC0D',
    sealed: '5545FF1A085EE2EFBF52B2E04BEE1E2336C73E3F762C0C7744FE7E3C',
  },
  {
    name: 'RFC 3610 #18',
    key: KEY_B,
    nonce: '00D560912D3F703C9696766CFA',
    aad: 'CD9044D2B71FDB8120EA60C0',
    tagBytes: 8,
    plaintext: '6435ACBAFB11A82E2F071D7CA4A5EBD93A803BA87F',
    sealed: '009769ECABDF48625594C59251E6035722675E04C847099E5AE0704551',
  },
  {
    name: 'RFC 3610 #19',
    key: KEY_B,
    nonce: '0042FFF8F1951C3C9696766CFA',
    aad: 'D85BC7E69F944FB8',
    tagBytes: 10,
    plaintext: '8A19B950BCF71A018E5E6701C91787659809D67DBEDD18',
    sealed: 'BC218DAA947427B6DB386A99AC1AEF23ADE0B52939CB6A637CF9BEC2408897C6BA',
  },
  {
    name: 'RFC 3610 #20',
    key: KEY_B,
    nonce: '00920F40E56CDC3C9696766CFA',
    aad: '74A0EBC9069F5B37',
    tagBytes: 10,
    plaintext: '1761433C37C5A35FC1F39F406302EB907C6163BE38C98437',
    sealed: '5810E6FD25874022E80361A478E3E9CF484AB04F447EFFF6F0A477CC2FC9BF548944',
  },
  {
    name: 'RFC 3610 #21',
    key: KEY_B,
    nonce: '0027CA0C7120BC3C9696766CFA',
    aad: '44A3AA3AAE6475CA',
    tagBytes: 10,
    plaintext: 'A434A8E58500C6E41530538862D686EA9E81301B5AE4226BFA',
    sealed: 'F2BEED7BC5098E83FEB5B31608F8E29C38819A89C8E776F1544D4151A4ED3A8B87B9CE',
  },
  {
    name: 'RFC 3610 #22',
    key: KEY_B,
    nonce: '005B8CCBCD9AF83C9696766CFA',
    aad: 'EC46BB63B02520C33C49FD70',
    tagBytes: 10,
    plaintext: 'B96B49E21D621741632875DB7F6C9243D2D7C2',
    sealed: '31D750A09DA3ED7FDDD49A2032AABF17EC8EBF7D22C8088C666BE5C197',
  },
  {
    name: 'RFC 3610 #23',
    key: KEY_B,
    nonce: '003EBE94044B9A3C9696766CFA',
    aad: '47A65AC78B3D594227E85E71',
    tagBytes: 10,
    plaintext: 'E2FCFBB880442C731BF95167C8FFD7895E337076',
    sealed: 'E882F1DBD38CE3EDA7C23F04DD65071EB41342ACDF7E00DCCEC7AE52987D',
  },
  {
    name: 'RFC 3610 #24',
    key: KEY_B,
    nonce: '008D493B30AE8B3C9696766CFA',
    aad: '6E37A6EF546D955D34AB6059',
    tagBytes: 10,
    plaintext: 'ABF21C0B02FEB88F856DF4A37381BCE3CC128517D4',
    sealed: 'F32905B88A641B04B9C9FFB58CC390900F3DA12AB16DCE9E82EFA16DA62059',
  },
];
// NIST SP 800-38C Appendix C, Examples 1-3 (Example 3: 12-byte nonce, 8-byte tag, as CCM_8).
const NIST_KEY = '404142434445464748494A4B4C4D4E4F';
const NIST: readonly Vector[] = [
  {
    name: 'SP 800-38C Example 1',
    key: NIST_KEY,
    nonce: '10111213141516',
    aad: '0001020304050607',
    tagBytes: 4,
    plaintext: '20212223',
    sealed: '7162015B4DAC255D',
  },
  {
    name: 'SP 800-38C Example 2',
    key: NIST_KEY,
    nonce: '1011121314151617',
    aad: '000102030405060708090A0B0C0D0E0F',
    tagBytes: 6,
    plaintext: '202122232425262728292A2B2C2D2E2F',
    sealed: 'D2A1F0E051EA5F62081A7792073D593D1FC64FBFACCD',
  },
  {
    name: 'SP 800-38C Example 3',
    key: NIST_KEY,
    nonce: '101112131415161718191A1B',
    aad: '000102030405060708090A0B0C0D0E0F10111213',
    tagBytes: 8,
    plaintext: '202122232425262728292A2B2C2D2E2F3031323334353637',
    sealed: 'E3B201A9F5B71A7A9B1CEAECCD97E70B6176AAD9A4428AA5484392FBC1B09951',
  },
];

/** One message for the properties: its parameters and contents. */
interface Message {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
  readonly aad: Uint8Array;
  readonly plaintext: Uint8Array;
  readonly tagBytes: number;
}

const messageArb = (nonceBytes: fc.Arbitrary<number>, tagBytes: fc.Arbitrary<number>): fc.Arbitrary<Message> =>
  fc.record({ nonceBytes, tagBytes }).chain(({ nonceBytes, tagBytes }) =>
    fc.record({
      key: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      nonce: fc.uint8Array({ minLength: nonceBytes, maxLength: nonceBytes }),
      aad: fc.uint8Array({ maxLength: 40 }),
      // Lengths around block boundaries matter most; up to 1300 bytes covers a full datagram.
      plaintext: fc.oneof(fc.uint8Array({ maxLength: 48 }), fc.uint8Array({ maxLength: 1300 })),
      tagBytes: fc.constant(tagBytes),
    }),
  );

const anyNonceBytes = fc.integer({ min: 7, max: 13 });
const anyTagBytes = fc.integer({ min: 2, max: 8 }).map((half) => half * 2);

describe('AES-CCM on long-lived ciphers', () => {
  for (const v of [...RFC3610, ...NIST]) {
    it(`reproduces ${v.name} (${hex(v.nonce).length}-byte nonce, ${v.tagBytes}-byte tag), as node:crypto does`, () => {
      const ccm = new AesCcm(hex(v.key), hex(v.nonce).length, v.tagBytes);
      const sealed = seal(ccm, hex(v.nonce), hex(v.aad), hex(v.plaintext), v.tagBytes);
      assert.equal(toHex(sealed), v.sealed.toLowerCase());
      // The transcription of the vector is checked against OpenSSL's CCM too.
      assert.equal(toHex(nodeSeal(hex(v.key), hex(v.nonce), hex(v.aad), hex(v.plaintext), v.tagBytes)), toHex(sealed));
      const opened = open(ccm, hex(v.nonce), hex(v.aad), hex(v.sealed), v.tagBytes);
      assert.equal(toHex(opened ?? new Uint8Array(0)), v.plaintext.toLowerCase());
    });
  }

  it('property: every seal equals node:crypto aes-128-ccm and opens, for any nonce and tag length', () => {
    fc.assert(
      fc.property(messageArb(anyNonceBytes, anyTagBytes), (m) => {
        const ccm = new AesCcm(m.key, m.nonce.length, m.tagBytes);
        const sealed = seal(ccm, m.nonce, m.aad, m.plaintext, m.tagBytes);
        assert.equal(toHex(sealed), toHex(nodeSeal(m.key, m.nonce, m.aad, m.plaintext, m.tagBytes)));
        assert.equal(toHex(open(ccm, m.nonce, m.aad, sealed, m.tagBytes) ?? new Uint8Array([1])), toHex(m.plaintext));
      }),
      fcParams(200, 'ccm equals node'),
    );
  });

  it('property: CCM_8 with 12-byte nonces stays equal to node:crypto over interleaved messages of 3 keys', () => {
    // Each instance keeps a CBC chaining value between messages and all share one scratch;
    // a sequence of seals and opens (good and forged) on several keys, interleaved, shows
    // that neither leaks from one message into the next.
    const step = fc.record({
      which: fc.nat({ max: 2 }),
      message: messageArb(fc.constant(12), fc.constant(8)),
      forge: fc.option(fc.nat(), { nil: null }),
    });
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 3, maxLength: 3 }),
        fc.array(step, { maxLength: 12 }),
        (keys, steps) => {
          const ciphers = keys.map((key) => new AesCcm(key, 12, 8));
          const earlier: { plaintext: Uint8Array; copy: string }[] = [];
          for (const { which, message: m, forge } of steps) {
            const key = keys[which] ?? new Uint8Array(16);
            const ccm = ciphers[which] ?? new AesCcm(key, 12, 8);
            const sealed = seal(ccm, m.nonce, m.aad, m.plaintext, 8);
            assert.equal(toHex(sealed), toHex(nodeSeal(key, m.nonce, m.aad, m.plaintext, 8)));
            if (forge !== null) {
              const bit = forge % (sealed.length * 8);
              sealed[bit >> 3] = (sealed[bit >> 3] ?? 0) ^ (1 << (bit & 7));
              assert.equal(nodeOpens(key, m.nonce, m.aad, sealed, 8), false);
              assert.equal(open(ccm, m.nonce, m.aad, sealed, 8), null);
              continue;
            }
            const opened = open(ccm, m.nonce, m.aad, sealed, 8);
            assert.ok(opened !== null);
            assert.equal(toHex(opened), toHex(m.plaintext));
            earlier.push({ plaintext: opened, copy: toHex(opened) });
          }
          // What open() returned is the caller's own: later messages do not overwrite it.
          for (const { plaintext, copy } of earlier) assert.equal(toHex(plaintext), copy);
        },
      ),
      fcParams(100, 'ccm interleaved'),
    );
  });

  it('property: sealAfter gives headroom, then node:crypto aes-128-ccm of the plaintext and its trailer byte', () => {
    // The record layer seals into the key stream's own buffer, leaving room for the record
    // header in front; a later message must not touch an earlier one's bytes.
    const caseArb = fc.record({
      message: messageArb(fc.constant(12), fc.constant(8)),
      headroom: fc.nat({ max: 64 }),
      trailer: fc.integer({ min: -1, max: 255 }),
    });
    fc.assert(
      fc.property(fc.array(caseArb, { minLength: 1, maxLength: 4 }), (cases) => {
        const key = cases[0]?.message.key ?? new Uint8Array(16);
        const ccm = new AesCcm(key, 12, 8);
        const earlier: [Uint8Array, string][] = [];
        for (const { message: m, headroom, trailer } of cases) {
          const plaintext = trailer === -1 ? m.plaintext : Buffer.concat([m.plaintext, Uint8Array.of(trailer)]);
          const sealed = ccm.sealAfter(headroom, m.nonce, m.aad, m.plaintext, trailer);
          assert.equal(sealed.length, headroom + plaintext.length + 8);
          sealed.fill(0xa5, 0, headroom);
          const expected = toHex(nodeSeal(key, m.nonce, m.aad, plaintext, 8));
          assert.equal(toHex(sealed.subarray(headroom)), expected);
          assert.equal(
            toHex(open(ccm, m.nonce, m.aad, sealed.subarray(headroom), 8) ?? new Uint8Array([1])),
            toHex(plaintext),
          );
          earlier.push([sealed, toHex(sealed)]);
        }
        for (const [sealed, copy] of earlier) assert.equal(toHex(sealed), copy);
      }),
      fcParams(200, 'ccm sealAfter'),
    );
  });

  it('property: open rejects every single-bit change of nonce, additional data, ciphertext or tag', () => {
    fc.assert(
      fc.property(messageArb(fc.constant(12), fc.constant(8)), fc.nat(), fc.nat({ max: 3 }), (m, flip, part) => {
        const ccm = new AesCcm(m.key, 12, 8);
        const sealed = seal(ccm, m.nonce, m.aad, m.plaintext, 8);
        const nonce = Uint8Array.from(m.nonce);
        const aad = Uint8Array.from(m.aad);
        const length = m.plaintext.length;
        const ciphertext = sealed.slice(0, length);
        const tag = sealed.slice(length);
        const target = [nonce, aad, ciphertext, tag][part] ?? tag;
        // An empty part has no bit to flip: change the tag instead.
        const victim = target.length === 0 ? tag : target;
        const bit = flip % (victim.length * 8);
        victim[bit >> 3] = (victim[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        assert.equal(ccm.open(nonce, aad, ciphertext, tag), null);
        // The failure leaves the instance sound: the untouched message still opens.
        assert.equal(toHex(open(ccm, m.nonce, m.aad, sealed, 8) ?? new Uint8Array([1])), toHex(m.plaintext));
      }),
      fcParams(300, 'ccm tamper'),
    );
  });

  it('rejects a tag of the wrong length, and messages and additional data beyond the CCM limits', () => {
    const ccm = new AesCcm(new Uint8Array(16), 12, 8);
    const nonce = new Uint8Array(12);
    const sealed = seal(ccm, nonce, new Uint8Array(0), new Uint8Array(5), 8);
    assert.equal(ccm.open(nonce, new Uint8Array(0), sealed.subarray(0, 5), sealed.subarray(5, 12)), null);
    assert.equal(ccm.open(nonce, new Uint8Array(0), sealed.subarray(0, 4), sealed.subarray(4)), null);
    assert.throws(() => seal(ccm, nonce, new Uint8Array(0), new Uint8Array(0x10000), 8), /CCM length field/);
    assert.throws(() => seal(ccm, nonce, new Uint8Array(0xff00), new Uint8Array(1), 8), /2-byte length/);
    assert.throws(() => seal(ccm, new Uint8Array(13), new Uint8Array(0), new Uint8Array(1), 8), /nonce has the length/);
    assert.throws(() => new AesCcm(new Uint8Array(16), 12, 7), /tag is 4, 6/);
    assert.throws(() => new AesCcm(new Uint8Array(16), 14, 8), /nonce is 7..13/);
    assert.throws(() => new AesCcm(new Uint8Array(24), 12, 8), /16 bytes/);
  });
});
