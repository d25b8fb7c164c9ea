// Proves the wire formats: handshake messages and records round-trip through encode and
// parse, parsers return null (never throw) on arbitrary bytes, and the record layer of one
// side opens what the other side sealed, in the right epoch, once (replays refused).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { ContentType, DTLS_1_2, TLS_PSK_WITH_AES_128_CCM_8 } from '../../../transport/dtls/constants.js';
import {
  EMPTY_RENEGOTIATION_INFO,
  EXTENDED_MASTER_SECRET,
  encodeClientHello,
  encodeHelloVerifyRequest,
  encodePskIdentity,
  encodeServerHello,
  parseClientHello,
  parseClientHelloPrefix,
  parseHelloVerifyRequest,
  parsePskIdentity,
  parseServerHello,
} from '../../../transport/dtls/handshake-messages.js';
import { trafficKeys } from '../../../transport/dtls/prf.js';
import { RecordLayer } from '../../../transport/dtls/record-layer.js';
import { encodeRecord, splitRecords } from '../../../transport/dtls/record.js';
import { fcParams } from '../../fc-params.js';

describe('DTLS wire formats', () => {
  it('round-trips ClientHello, ServerHello, HelloVerifyRequest and PSK identities', () => {
    const random = new Uint8Array(32).fill(5);
    const ch = {
      version: DTLS_1_2,
      random,
      sessionId: new Uint8Array(0),
      cookie: Uint8Array.of(1, 2, 3),
      cipherSuites: [TLS_PSK_WITH_AES_128_CCM_8, 0x00ff],
      compressionMethods: Uint8Array.of(0),
      extensions: [EMPTY_RENEGOTIATION_INFO, EXTENDED_MASTER_SECRET],
    };
    const parsed = parseClientHello(encodeClientHello(ch));
    assert.ok(parsed);
    assert.deepEqual(parsed.cipherSuites, ch.cipherSuites);
    assert.deepEqual(Buffer.from(parsed.cookie), Buffer.from(ch.cookie));
    assert.deepEqual(
      parsed.extensions.map((e) => e.type),
      [0xff01, 0x17],
    );
    const prefix = parseClientHelloPrefix(encodeClientHello(ch).subarray(0, 40));
    assert.ok(prefix);
    assert.deepEqual(Buffer.from(prefix.cookie), Buffer.from([1, 2, 3]));
    const sh = {
      version: DTLS_1_2,
      random,
      sessionId: new Uint8Array(0),
      cipherSuite: TLS_PSK_WITH_AES_128_CCM_8,
      compressionMethod: 0,
      extensions: [],
    };
    assert.deepEqual(parseServerHello(encodeServerHello(sh)), {
      ...sh,
      random: parseServerHello(encodeServerHello(sh))?.random,
    });
    assert.equal(encodeServerHello(sh).length, 38, 'no extensions block when there are none');
    assert.deepEqual(
      Buffer.from(parseHelloVerifyRequest(encodeHelloVerifyRequest(0xfeff, Uint8Array.of(9)))?.cookie ?? []),
      Buffer.of(9),
    );
    assert.deepEqual(
      Buffer.from(parsePskIdentity(encodePskIdentity(Buffer.from('node-1')), 64) ?? []).toString(),
      'node-1',
    );
    assert.equal(parsePskIdentity(encodePskIdentity(Buffer.alloc(65)), 64), null);
  });

  it('rejects duplicate extensions, empty suites and trailing bytes', () => {
    const base = {
      version: DTLS_1_2,
      random: new Uint8Array(32),
      sessionId: new Uint8Array(0),
      cookie: new Uint8Array(0),
      cipherSuites: [TLS_PSK_WITH_AES_128_CCM_8],
      compressionMethods: Uint8Array.of(0),
      extensions: [EXTENDED_MASTER_SECRET, EXTENDED_MASTER_SECRET],
    };
    assert.equal(parseClientHello(encodeClientHello(base)), null);
    assert.equal(parseClientHello(encodeClientHello({ ...base, extensions: [], cipherSuites: [] })), null);
    assert.equal(parseClientHello(Buffer.concat([encodeClientHello({ ...base, extensions: [] }), Buffer.of(0)])), null);
  });

  it('never throws parsing arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        parseClientHello(bytes);
        parseServerHello(bytes);
        parseHelloVerifyRequest(bytes);
        parsePskIdentity(bytes, 128);
        parseClientHelloPrefix(bytes);
        const { records } = splitRecords(bytes, 8);
        for (const r of records) assert.ok(r.fragment.length <= bytes.length);
      }),
      fcParams(100),
    );
  });

  it('splits a datagram of several records and flags a truncated tail', () => {
    const a = encodeRecord(22, DTLS_1_2, 0, 1, Uint8Array.of(1, 2));
    const b = encodeRecord(23, DTLS_1_2, 1, 2 ** 48 - 1, Uint8Array.of(3));
    const whole = splitRecords(Buffer.concat([a, b]), 8);
    assert.equal(whole.malformed, false);
    assert.deepEqual(
      whole.records.map((r) => [r.type, r.epoch, r.seq, r.fragment.length]),
      [
        [22, 0, 1, 2],
        [23, 1, 2 ** 48 - 1, 1],
      ],
    );
    const cut = splitRecords(Buffer.concat([a, b.subarray(0, 13)]), 8);
    assert.equal(cut.malformed, true);
    assert.equal(cut.records.length, 1);
  });

  it('opens the peer epoch-1 records once, and not before its ChangeCipherSpec', () => {
    const keys = trafficKeys(new Uint8Array(48).fill(1), new Uint8Array(32), new Uint8Array(32).fill(2));
    const client = new RecordLayer(true, 64);
    const server = new RecordLayer(false, 64);
    client.setKeys(keys);
    server.setKeys(keys);
    const sealed = client.seal(ContentType.applicationData, 1, Buffer.from('data'));
    const raw = splitRecords(sealed, 1).records[0];
    assert.ok(raw);
    assert.equal(server.open(raw), 'epoch');
    server.activateRead();
    const opened = server.open(raw);
    assert.ok(typeof opened !== 'string');
    assert.equal(Buffer.from(opened.content).toString(), 'data');
    assert.equal(server.open(raw), 'replay');
    const plaintextData = splitRecords(encodeRecord(ContentType.applicationData, DTLS_1_2, 0, 5, Buffer.from('x')), 1)
      .records[0];
    assert.ok(plaintextData);
    assert.equal(server.open(plaintextData), 'unexpected');
    const wrongVersion = splitRecords(encodeRecord(ContentType.handshake, 0x0303, 0, 5, Buffer.from('x')), 1)
      .records[0];
    assert.ok(wrongVersion);
    assert.equal(server.open(wrongVersion), 'version');
    // The server's own records are not readable with the client's read keys swapped.
    const fromServer = splitRecords(server.seal(ContentType.applicationData, 1, Buffer.from('y')), 1).records[0];
    assert.ok(fromServer);
    client.activateRead();
    assert.ok(typeof client.open(fromServer) !== 'string');
    assert.equal(server.open({ ...fromServer, seq: fromServer.seq + 1 }), 'auth');
  });

  it('packs a flight into datagrams within the MTU budget, fragmenting large messages', () => {
    const layer = new RecordLayer(true, 64);
    const message = { msgType: 1, messageSeq: 0, body: new Uint8Array(500) };
    const datagrams = layer.encodeFlight([{ kind: 'handshake', epoch: 0, message }, { kind: 'changeCipherSpec' }], 128);
    assert.ok(datagrams.length >= 5);
    for (const d of datagrams) assert.ok(d.length <= 128, `datagram of ${d.length} bytes`);
    const seqs = datagrams.flatMap((d) => splitRecords(d, 16).records.map((r) => r.seq));
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i),
      'records numbered consecutively',
    );
  });
});
