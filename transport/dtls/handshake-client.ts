/**
 * The client side of a DTLS 1.2 PSK handshake (RFC 6347 §4.2.4 flights 1, 3 and 5):
 *
 *   ClientHello                    <- [HelloVerifyRequest(cookie)]
 *   ClientHello(cookie)            <- ServerHello, [ServerKeyExchange], ServerHelloDone
 *   ClientKeyExchange, CCS, Finished <- CCS, Finished
 *
 * The client offers only TLS_PSK_WITH_AES_128_CCM_8, the empty renegotiation_info
 * (RFC 5746), extended_master_secret (RFC 7627) and, unless told not to, connection_id
 * (RFC 9146) naming the CID it wants to receive (by default an empty one: it asks the server
 * for a CID to send, so that its records find their session after its address changes). A
 * PSK identity hint from the server is read and ignored: the client's identity is configured.
 */
import {
  AlertDescription,
  CONNECTION_ID_BYTES_MAX,
  DTLS_1_2,
  ExtensionType,
  HandshakeType,
  RANDOM_BYTES,
  TLS_PSK_WITH_AES_128_CCM_8,
} from './constants.js';
import { assert } from '../../contracts/assert.js';
import { connectionIdExtension, parseConnectionIdExtension } from './connection-id.js';
import type { HandshakeMessage } from './fragments.js';
import { NO_OUTCOME, Transcript, deriveKeySchedule, failOutcome, finishedMatches } from './handshake-common.js';
import type { HandshakeRole, KeySchedule, RoleOutcome } from './handshake-common.js';
import {
  EMPTY_RENEGOTIATION_INFO,
  EXTENDED_MASTER_SECRET,
  encodeClientHello,
  encodePskIdentity,
  findExtension,
  parseFinished,
  parseHelloVerifyRequest,
  parsePskIdentity,
  parseServerHello,
} from './handshake-messages.js';
import type { ServerHello } from './handshake-messages.js';
import { verifyData } from './prf.js';
import type { FlightItem, RecordLayer } from './record-layer.js';

/** Most HelloVerifyRequests one handshake follows (a server may rotate its secret once). */
const HELLO_VERIFY_REQUESTS_MAX = 3;

/** What a client handshake needs from its endpoint. */
export interface ClientHandshakeParams {
  readonly records: RecordLayer;
  readonly randomBytes: (count: number) => Uint8Array;
  readonly identity: string;
  readonly psk: Uint8Array;
  readonly requireExtendedMasterSecret: boolean;
  /**
   * The CID to offer in connection_id, the one this client wants to receive (empty: none, but
   * it asks the server for one); null to offer no connection_id at all.
   */
  readonly connectionId: Uint8Array | null;
}

type ClientState = 'wait-hello' | 'wait-hello-done' | 'wait-finished' | 'done';

/** The client role of one handshake. */
export class ClientHandshake implements HandshakeRole {
  private state: ClientState = 'wait-hello';
  private readonly transcript = new Transcript();
  private readonly clientRandom: Uint8Array;
  private serverRandom = new Uint8Array(0);
  private cookie = new Uint8Array(0);
  private helloVerifyRequests = 0;
  private extendedMasterSecret = false;
  private nextMessageSeq = 0;
  private lastHello: HandshakeMessage | null = null;
  private schedule: KeySchedule | null = null;
  private readonly identityBytes: Uint8Array;

  constructor(private readonly params: ClientHandshakeParams) {
    this.clientRandom = params.randomBytes(RANDOM_BYTES);
    this.identityBytes = new TextEncoder().encode(params.identity);
    assert(this.clientRandom.length === RANDOM_BYTES, 'client random is 32 bytes');
    assert(params.psk.length > 0, 'a PSK is configured');
    assert((params.connectionId?.length ?? 0) <= CONNECTION_ID_BYTES_MAX, 'our CID within the limit');
  }

  /** The first flight: a ClientHello without cookie. */
  start(): RoleOutcome {
    assert(this.lastHello === null, 'a handshake starts once');
    return { kind: 'flight', items: [this.hello()] };
  }

  private hello(): FlightItem {
    const body = encodeClientHello({
      version: DTLS_1_2,
      random: this.clientRandom,
      sessionId: new Uint8Array(0),
      cookie: this.cookie,
      cipherSuites: [TLS_PSK_WITH_AES_128_CCM_8],
      compressionMethods: Uint8Array.of(0),
      extensions:
        this.params.connectionId === null
          ? [EMPTY_RENEGOTIATION_INFO, EXTENDED_MASTER_SECRET]
          : [EMPTY_RENEGOTIATION_INFO, EXTENDED_MASTER_SECRET, connectionIdExtension(this.params.connectionId)],
    });
    const message = { msgType: HandshakeType.clientHello, messageSeq: this.nextMessageSeq, body };
    this.nextMessageSeq += 1;
    this.lastHello = message;
    return { kind: 'handshake', epoch: 0, message };
  }

  expectsChangeCipherSpec(): boolean {
    return this.state === 'wait-finished' && this.params.records.readEpoch === 0;
  }

  handleMessage(message: HandshakeMessage): RoleOutcome {
    switch (this.state) {
      case 'wait-hello':
        if (message.msgType === HandshakeType.helloVerifyRequest) return this.handleHelloVerifyRequest(message);
        if (message.msgType !== HandshakeType.serverHello) break;
        return this.handleServerHello(message);
      case 'wait-hello-done':
        if (message.msgType === HandshakeType.serverKeyExchange) return this.handleServerKeyExchange(message);
        if (message.msgType !== HandshakeType.serverHelloDone) break;
        return this.handleServerHelloDone(message);
      case 'wait-finished':
        if (message.msgType !== HandshakeType.finished || this.params.records.readEpoch !== 1) break;
        return this.handleFinished(message);
      case 'done':
        break;
    }
    return failOutcome(
      AlertDescription.unexpectedMessage,
      'protocol',
      `unexpected handshake message ${message.msgType}`,
    );
  }

  private handleHelloVerifyRequest(message: HandshakeMessage): RoleOutcome {
    const request = parseHelloVerifyRequest(message.body);
    if (request === null) return failOutcome(AlertDescription.decodeError, 'protocol', 'malformed HelloVerifyRequest');
    this.helloVerifyRequests += 1;
    if (this.helloVerifyRequests > HELLO_VERIFY_REQUESTS_MAX) {
      return failOutcome(AlertDescription.handshakeFailure, 'protocol', 'too many HelloVerifyRequests');
    }
    this.cookie = Uint8Array.from(request.cookie);
    return { kind: 'flight', items: [this.hello()] };
  }

  private handleServerHello(message: HandshakeMessage): RoleOutcome {
    const hello = parseServerHello(message.body);
    if (hello === null) return failOutcome(AlertDescription.decodeError, 'protocol', 'malformed ServerHello');
    if (hello.version !== DTLS_1_2)
      return failOutcome(AlertDescription.protocolVersion, 'protocol', 'server did not choose DTLS 1.2');
    if (hello.cipherSuite !== TLS_PSK_WITH_AES_128_CCM_8 || hello.compressionMethod !== 0) {
      return failOutcome(
        AlertDescription.illegalParameter,
        'protocol',
        'server chose a suite or compression not offered',
      );
    }
    const problem = this.checkServerExtensions(hello);
    if (problem !== null) return problem;
    assert(this.lastHello !== null, 'a ClientHello was sent before the ServerHello');
    this.serverRandom = Uint8Array.from(hello.random);
    // The transcript starts at the ClientHello the server answered (RFC 6347 §4.2.1).
    this.transcript.clear();
    this.transcript.add(this.lastHello);
    this.transcript.add(message);
    this.state = 'wait-hello-done';
    return NO_OUTCOME;
  }

  private checkServerExtensions(hello: ServerHello): RoleOutcome | null {
    const offered: number[] = [ExtensionType.renegotiationInfo, ExtensionType.extendedMasterSecret];
    if (this.params.connectionId !== null) offered.push(ExtensionType.connectionId);
    for (const extension of hello.extensions) {
      if (!offered.includes(extension.type)) {
        return failOutcome(
          AlertDescription.unsupportedExtension,
          'protocol',
          `server sent extension ${extension.type} not offered`,
        );
      }
    }
    const renegotiation = findExtension(hello.extensions, ExtensionType.renegotiationInfo);
    if (renegotiation !== null && (renegotiation.data.length !== 1 || renegotiation.data[0] !== 0)) {
      return failOutcome(
        AlertDescription.handshakeFailure,
        'protocol',
        'non-empty renegotiation_info on an initial handshake',
      );
    }
    const ems = findExtension(hello.extensions, ExtensionType.extendedMasterSecret);
    if (ems !== null && ems.data.length !== 0)
      return failOutcome(AlertDescription.decodeError, 'protocol', 'malformed extended_master_secret');
    this.extendedMasterSecret = ems !== null;
    if (!this.extendedMasterSecret && this.params.requireExtendedMasterSecret) {
      return failOutcome(
        AlertDescription.handshakeFailure,
        'protocol',
        'server did not negotiate the extended master secret',
      );
    }
    return this.takeConnectionIds(hello);
  }

  /** RFC 9146 §3: the server's connection_id names the CID we send; without it, none is used. */
  private takeConnectionIds(hello: ServerHello): RoleOutcome | null {
    const extension = findExtension(hello.extensions, ExtensionType.connectionId);
    if (extension === null || this.params.connectionId === null) return null;
    const cid = parseConnectionIdExtension(extension);
    if (cid === 'malformed') return failOutcome(AlertDescription.decodeError, 'protocol', 'malformed connection_id');
    if (cid === 'too-long') {
      return failOutcome(
        AlertDescription.illegalParameter,
        'protocol',
        `server asked for a CID over ${CONNECTION_ID_BYTES_MAX} bytes`,
      );
    }
    this.params.records.setConnectionIds({ read: this.params.connectionId, write: cid });
    return null;
  }

  private handleServerKeyExchange(message: HandshakeMessage): RoleOutcome {
    // The identity hint is parsed for validity and otherwise ignored (RFC 4279 §5.2).
    if (parsePskIdentity(message.body, 0xffff) === null) {
      return failOutcome(AlertDescription.decodeError, 'protocol', 'malformed ServerKeyExchange');
    }
    this.transcript.add(message);
    return NO_OUTCOME;
  }

  private handleServerHelloDone(message: HandshakeMessage): RoleOutcome {
    if (message.body.length !== 0)
      return failOutcome(AlertDescription.decodeError, 'protocol', 'malformed ServerHelloDone');
    this.transcript.add(message);
    const keyExchange = {
      msgType: HandshakeType.clientKeyExchange,
      messageSeq: this.nextMessageSeq,
      body: encodePskIdentity(this.identityBytes),
    };
    this.nextMessageSeq += 1;
    this.transcript.add(keyExchange);
    const sessionHash = this.extendedMasterSecret ? this.transcript.hash() : null;
    this.schedule = deriveKeySchedule(this.params.psk, this.clientRandom, this.serverRandom, sessionHash);
    this.params.records.setKeys(this.schedule.keys);
    const finished = {
      msgType: HandshakeType.finished,
      messageSeq: this.nextMessageSeq,
      body: verifyData(this.schedule.master, 'client', this.transcript.hash()),
    };
    this.nextMessageSeq += 1;
    this.transcript.add(finished);
    this.params.records.activateWrite();
    this.state = 'wait-finished';
    return {
      kind: 'flight',
      items: [
        { kind: 'handshake', epoch: 0, message: keyExchange },
        { kind: 'changeCipherSpec' },
        { kind: 'handshake', epoch: 1, message: finished },
      ],
    };
  }

  private handleFinished(message: HandshakeMessage): RoleOutcome {
    assert(this.schedule !== null, 'keys exist before Finished');
    const received = parseFinished(message.body);
    if (received === null || !finishedMatches(this.schedule.master, 'server', this.transcript.hash(), received)) {
      return failOutcome(AlertDescription.decryptError, 'auth', 'server Finished does not verify');
    }
    this.state = 'done';
    return { kind: 'established', identity: this.params.identity, finalFlight: null };
  }
}
