// Proves the server refuses, cleanly, a cookie-verified ClientHello whose numbers leave its answer
// no room, instead of failing an assertion while it answers (a contained internal error, logged by
// the agent at error level, for anyone who can complete a cookie exchange):
// - a message_seq so high that the handshake's later messages would pass 65535 gets a fatal
//   illegal_parameter alert; the highest one that fits is answered with a ServerHello;
// - a record sequence number past CLIENT_HELLO_SEQUENCE_NUMBER_MAX (the server's records continue
//   from it) is dropped as malformed; the highest one accepted is answered.
// A raw UDP socket plays the client; a real client handshakes afterwards.
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import {
  AlertDescription,
  AlertLevel,
  CLIENT_HELLO_SEQUENCE_NUMBER_MAX,
  ContentType,
  HandshakeType,
  SEQUENCE_NUMBER_MAX,
} from '../../../transport/dtls/constants.js';
import { parseHelloVerifyRequest } from '../../../transport/dtls/handshake-messages.js';
import { splitRecords } from '../../../transport/dtls/record.js';
import type { RawRecord } from '../../../transport/dtls/record.js';
import type { DtlsServerEndpoint } from '../../../transport/dtls/server.js';
import { clientHelloRecord } from './flooder.js';
import { Cleanup, echo, internalErrors, startClient, startServer, until } from './helpers.js';

const key = Buffer.from('hello bounds key');
const lookup = (id: string): Uint8Array | null => (id === 'node-a' ? key : null);

/** A raw client socket and the records it received. */
class RawPeer {
  readonly records: RawRecord[] = [];

  private constructor(
    private readonly socket: Socket,
    private readonly serverPort: number,
  ) {
    socket.on('message', (datagram) => this.records.push(...splitRecords(datagram, 8).records));
  }

  static async open(cleanup: Cleanup, server: DtlsServerEndpoint): Promise<RawPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    cleanup.add(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    return new RawPeer(socket, server.localAddress().port);
  }

  /** Sends a ClientHello without cookie, then one with the cookie the server answered with. */
  async helloWithCookie(messageSeq: number, recordSeq: number): Promise<void> {
    const random = randomBytes(32);
    this.send(withSeq(clientHelloRecord(random, new Uint8Array(0), messageSeq), 0));
    const hvr = await this.next((r) => r.type === ContentType.handshake, 'a HelloVerifyRequest');
    assert.equal(hvr.fragment[0], HandshakeType.helloVerifyRequest);
    const request = parseHelloVerifyRequest(hvr.fragment.subarray(12));
    assert.ok(request !== null);
    this.send(withSeq(clientHelloRecord(random, request.cookie, messageSeq), recordSeq));
  }

  async next(match: (record: RawRecord) => boolean, what: string): Promise<RawRecord> {
    await until(() => this.records.some(match), what);
    const index = this.records.findIndex(match);
    const [record] = this.records.splice(0, index + 1).slice(-1);
    assert.ok(record !== undefined);
    return record;
  }

  private send(datagram: Uint8Array): void {
    this.socket.send(datagram, this.serverPort, '127.0.0.1');
  }
}

/** `record` (one record) with its 48-bit sequence number set to `seq`. */
function withSeq(record: Uint8Array, seq: number): Uint8Array {
  const copy = Buffer.from(record);
  copy.writeUIntBE(seq, 5, 6);
  return copy;
}

describe('DTLS server: ClientHello numbers that leave no room', function () {
  const cleanup = new Cleanup();
  afterEach(async () => {
    await cleanup.run();
    assert.deepEqual(internalErrors.splice(0), []);
  });

  async function serverWithClient(): Promise<DtlsServerEndpoint> {
    const server = await startServer(cleanup, { pskLookup: lookup, pskIdentityHint: 'hint' });
    echo(server);
    return server;
  }

  async function assertStillServes(server: DtlsServerEndpoint): Promise<void> {
    const client = await startClient(cleanup, { identity: 'node-a', psk: key });
    const got: string[] = [];
    client.onMessage((data) => got.push(Buffer.from(data).toString()));
    await client.send(Buffer.from('ping'), '127.0.0.1', server.localAddress().port);
    await until(() => got.includes('node-a:ping'), 'the echo');
    assert.equal(server.stats().internalErrors, 0);
  }

  it('refuses a message_seq whose handshake would pass 65535 with illegal_parameter', async () => {
    const server = await serverWithClient();
    const refused = await RawPeer.open(cleanup, server);
    await refused.helloWithCookie(0xffff, 1);
    const alert = await refused.next((r) => r.type !== ContentType.handshake, 'an alert');
    assert.equal(alert.type, ContentType.alert);
    assert.deepEqual([...alert.fragment], [AlertLevel.fatal, AlertDescription.illegalParameter]);
    // With an identity hint the server's messages take the hello's message_seq plus 0 to 3.
    const answered = await RawPeer.open(cleanup, server);
    await answered.helloWithCookie(0xffff - 3, 1);
    const hello = await answered.next((r) => r.fragment[0] === HandshakeType.serverHello, 'a ServerHello');
    assert.equal(Buffer.from(hello.fragment).readUInt16BE(4), 0xffff - 3, 'the ServerHello repeats the message_seq');
    await assertStillServes(server);
  });

  it('drops a ClientHello whose record sequence number leaves the answer no room', async () => {
    const server = await serverWithClient();
    const malformed = server.stats().dropped.malformed;
    const refused = await RawPeer.open(cleanup, server);
    await refused.helloWithCookie(1, SEQUENCE_NUMBER_MAX);
    await until(() => server.stats().dropped.malformed > malformed, 'the drop');
    assert.equal(server.stats().handshakesInProgress, 0);
    const answered = await RawPeer.open(cleanup, server);
    await answered.helloWithCookie(1, CLIENT_HELLO_SEQUENCE_NUMBER_MAX);
    const hello = await answered.next((r) => r.fragment[0] === HandshakeType.serverHello, 'a ServerHello');
    assert.equal(hello.seq, CLIENT_HELLO_SEQUENCE_NUMBER_MAX, 'the ServerHello repeats the record sequence number');
    assert.deepEqual(refused.records, [], 'the refused hello got no answer');
    await assertStillServes(server);
  });
});
