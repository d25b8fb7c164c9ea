// Proves the DTLS 1.2 Connection ID wire format (RFC 9146): a tls12_cid record is laid out as
// §4 says (type 25, version, epoch, sequence number, the CID, the length, the encrypted
// DTLSInnerPlaintext) and its tag covers the §5 additional data, checked by decrypting it with
// node:crypto's own AES-128-CCM and additional data built here from the RFC's list, not with our
// code; the connection_id extension and the inner plaintext parse as the RFC defines them; and,
// as properties, a sealed record opens to what was sealed, once, and any changed byte fails.
import { strict as assert } from 'node:assert';
import { createDecipheriv } from 'node:crypto';
import fc from 'fast-check';
import {
  connectionIdExtension,
  encodeInnerPlaintext,
  parseConnectionIdExtension,
  parseInnerPlaintext,
  serverConnectionId,
} from '../../../transport/dtls/connection-id.js';
import { ContentType, DTLS_1_2, ExtensionType } from '../../../transport/dtls/constants.js';
import { trafficKeys } from '../../../transport/dtls/prf.js';
import type { TrafficKeys } from '../../../transport/dtls/prf.js';
import { RecordLayer } from '../../../transport/dtls/record-layer.js';
import { splitRecords } from '../../../transport/dtls/record.js';
import { fcParams } from '../../fc-params.js';

const KEYS = trafficKeys(new Uint8Array(48).fill(7), new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));

/** A client and a server record layer in epoch 1 with the given CIDs (what each asked to receive). */
function pair(
  keys: TrafficKeys,
  clientCid: Uint8Array | null,
  serverCid: Uint8Array | null,
): { client: RecordLayer; server: RecordLayer } {
  const client = new RecordLayer(true, 64);
  const server = new RecordLayer(false, 64);
  client.setConnectionIds({ read: clientCid, write: serverCid });
  server.setConnectionIds({ read: serverCid, write: clientCid });
  for (const layer of [client, server]) {
    layer.setKeys(keys);
    layer.activateRead();
    layer.activateWrite();
  }
  return { client, server };
}

/** RFC 9146 §5 additional data, written out field by field. */
function rfcAdditionalData(record: Buffer, cid: Buffer, innerLength: number): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(innerLength);
  return Buffer.concat([
    Buffer.alloc(8, 0xff), // seq_num_placeholder
    Buffer.of(25), // tls12_cid
    Buffer.of(cid.length), // cid_length
    Buffer.of(25), // tls12_cid
    record.subarray(1, 3), // DTLSCiphertext.version
    record.subarray(3, 5), // epoch
    record.subarray(5, 11), // sequence_number
    cid,
    length, // length_of_DTLSInnerPlaintext
  ]);
}

describe('DTLS Connection ID (RFC 9146)', () => {
  it('lays a tls12_cid record out as RFC 9146 §4 says, its tag over the §5 additional data', () => {
    const cid = Buffer.from('0102030405060708', 'hex');
    const { client } = pair(KEYS, null, cid);
    client.seal(ContentType.applicationData, 1, Buffer.from('first')); // sequence number 0
    const record = Buffer.from(client.seal(ContentType.applicationData, 1, Buffer.from('hello')));
    assert.equal(record[0], 25, 'outer type tls12_cid');
    assert.equal(record.readUInt16BE(1), DTLS_1_2);
    assert.equal(record.readUInt16BE(3), 1, 'epoch');
    assert.equal(record.readUIntBE(5, 6), 1, 'sequence number');
    assert.deepEqual(record.subarray(11, 19), cid, 'the CID right after the sequence number');
    const length = record.readUInt16BE(19);
    assert.equal(length, record.length - 21, 'the length counts the encrypted content');
    const fragment = record.subarray(21);
    // AES-128-CCM-8: nonce = client_write_IV || explicit nonce (epoch + sequence number).
    const explicit = fragment.subarray(0, 8);
    assert.deepEqual(explicit, record.subarray(3, 11));
    const ciphertext = fragment.subarray(8, fragment.length - 8);
    const tag = fragment.subarray(fragment.length - 8);
    const decipher = createDecipheriv(
      'aes-128-ccm',
      KEYS.clientWriteKey,
      Buffer.concat([KEYS.clientWriteIv, explicit]),
      {
        authTagLength: 8,
      },
    );
    decipher.setAuthTag(tag);
    decipher.setAAD(rfcAdditionalData(record, cid, ciphertext.length), { plaintextLength: ciphertext.length });
    const inner = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    assert.deepEqual(inner, Buffer.concat([Buffer.from('hello'), Buffer.of(ContentType.applicationData)]));
  });

  it('splits a tls12_cid record with the CID length the receiver asked for, and refuses one without it', () => {
    const cid = Uint8Array.of(9, 9, 9, 9);
    const { client, server } = pair(KEYS, null, cid);
    const record = client.seal(ContentType.applicationData, 1, Buffer.from('x'));
    const raw = splitRecords(record, 4, 4).records[0];
    assert.ok(raw?.cid);
    assert.deepEqual(Buffer.from(raw.cid), Buffer.from(cid));
    assert.equal(splitRecords(record, 4, 0).malformed, true, 'a receiver that asked for no CID cannot read one');
    const opened = server.open(raw);
    assert.ok(typeof opened !== 'string');
    assert.equal(opened.type, ContentType.applicationData, 'the real type comes from the inner plaintext');
    assert.equal(Buffer.from(opened.content).toString(), 'x');
    // Once a CID was asked for, a record without one is refused even if it would decrypt.
    const plain = pair(KEYS, null, null).client.seal(ContentType.applicationData, 1, Buffer.from('y'));
    const rawPlain = splitRecords(plain, 4, 4).records[0];
    assert.ok(rawPlain);
    assert.equal(server.open(rawPlain), 'unexpected');
    // Another CID of the same length is another session's.
    const other = pair(KEYS, null, Uint8Array.of(1, 2, 3, 4)).client.seal(ContentType.applicationData, 1, Buffer.of(1));
    const rawOther = splitRecords(other, 4, 4).records[0];
    assert.ok(rawOther);
    assert.equal(server.open(rawOther), 'unknownSession');
  });

  it('encodes and parses the connection_id extension (type 54, opaque cid<0..2^8-1>)', () => {
    const extension = connectionIdExtension(Uint8Array.of(0xaa, 0xbb));
    assert.equal(extension.type, 54);
    assert.equal(ExtensionType.connectionId, 54);
    assert.deepEqual([...extension.data], [2, 0xaa, 0xbb]);
    assert.deepEqual([...(parseConnectionIdExtension(extension) as Uint8Array)], [0xaa, 0xbb]);
    assert.deepEqual([...(parseConnectionIdExtension(connectionIdExtension(new Uint8Array(0))) as Uint8Array)], []);
    assert.equal(parseConnectionIdExtension({ type: 54, data: Uint8Array.of(3, 1) }), 'malformed');
    assert.equal(parseConnectionIdExtension({ type: 54, data: new Uint8Array(0) }), 'malformed');
    const long = new Uint8Array(34);
    long[0] = 33;
    assert.equal(parseConnectionIdExtension({ type: 54, data: long }), 'too-long');
  });

  it('reads the real type of an inner plaintext past its zero padding, and refuses one of zeros only', () => {
    const inner = encodeInnerPlaintext(ContentType.alert, Uint8Array.of(2, 40), 5);
    assert.deepEqual([...inner], [2, 40, 21, 0, 0, 0, 0, 0]);
    const parsed = parseInnerPlaintext(inner);
    assert.equal(parsed?.type, ContentType.alert);
    assert.deepEqual([...(parsed?.content ?? [])], [2, 40]);
    assert.equal(parseInnerPlaintext(new Uint8Array(4)), null);
    assert.equal(parseInnerPlaintext(new Uint8Array(0)), null);
  });

  it('derives a server CID of the asked length from the server random (the same random, the same CID)', () => {
    const random = new Uint8Array(32).fill(3);
    assert.equal(serverConnectionId(random, 8).length, 8);
    assert.deepEqual(serverConnectionId(random, 8), serverConnectionId(Uint8Array.from(random), 8));
    assert.notDeepEqual(serverConnectionId(random, 8), serverConnectionId(new Uint8Array(32).fill(4), 8));
  });

  it('property: a sealed tls12_cid record opens to its type and content, once; any changed byte fails', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.constantFrom(ContentType.applicationData, ContentType.alert, ContentType.handshake),
        fc.uint8Array({ maxLength: 600 }),
        fc.nat({ max: 40 }),
        fc.nat(),
        (cid, type, content, skip, flipSeed) => {
          const { client, server } = pair(KEYS, null, cid);
          for (let i = 0; i < skip; i += 1) client.seal(ContentType.applicationData, 1, Uint8Array.of(i));
          const record = client.seal(type, 1, content);
          const raw = splitRecords(record, 4, cid.length).records[0];
          assert.ok(raw);
          // Tampering: any one byte after the content type changes, and the record must fail.
          const flipAt = 1 + (flipSeed % (record.length - 1));
          const forged = Uint8Array.from(record);
          forged[flipAt] = (forged[flipAt] ?? 0) ^ 0x01;
          const rawForged = splitRecords(forged, 4, cid.length).records[0];
          if (rawForged !== undefined) assert.equal(typeof server.open(rawForged), 'string', `byte ${flipAt}`);
          const opened = server.open(raw);
          assert.ok(typeof opened !== 'string', typeof opened === 'string' ? opened : '');
          assert.equal(opened.type, type);
          assert.deepEqual(Buffer.from(opened.content), Buffer.from(content));
          assert.equal(opened.newest, true);
          assert.equal(server.open(raw), 'replay');
        },
      ),
      fcParams(200, 'tls12_cid seal/open round trip'),
    );
  });
});
