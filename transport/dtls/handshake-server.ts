/**
 * The server side of a DTLS 1.2 PSK handshake, from the ClientHello that carried a valid
 * cookie to the server's Finished (RFC 6347 §4.2.4 flights 3 to 6):
 *
 *   ClientHello(cookie)            -> ServerHello, [ServerKeyExchange(hint)], ServerHelloDone
 *   ClientKeyExchange, CCS, Finished -> CCS, Finished
 *
 * It answers a ClientHello offering TLS_PSK_WITH_AES_128_CCM_8 and null compression, echoes
 * an empty renegotiation_info when the client signals RFC 5746 support (extension or SCSV),
 * uses the extended master secret when the client offers it (RFC 7627 §5.2), and answers a
 * connection_id with the CID it wants to receive (RFC 9146 §3).
 */
import {
  AlertDescription,
  DTLS_1_2,
  ExtensionType,
  HandshakeType,
  MESSAGE_SEQ_MAX,
  RANDOM_BYTES,
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
  TLS_PSK_WITH_AES_128_CCM_8,
} from './constants.js';
import { assert } from '../../contracts/assert.js';
import { connectionIdExtension, parseConnectionIdExtension, serverConnectionId } from './connection-id.js';
import type { HandshakeMessage } from './fragments.js';
import { NO_OUTCOME, Transcript, deriveKeySchedule, failOutcome, finishedMatches } from './handshake-common.js';
import type { HandshakeRole, KeySchedule, RoleOutcome } from './handshake-common.js';
import {
  EMPTY_RENEGOTIATION_INFO,
  EXTENDED_MASTER_SECRET,
  encodePskIdentity,
  encodeServerHello,
  findExtension,
  parseClientHello,
  parseFinished,
  parsePskIdentity,
} from './handshake-messages.js';
import type { ClientHello, Extension } from './handshake-messages.js';
import { verifyData } from './prf.js';
import type { FlightItem, RecordLayer } from './record-layer.js';

/** What a server handshake needs from its endpoint. */
export interface ServerHandshakeParams {
  readonly records: RecordLayer;
  readonly randomBytes: (count: number) => Uint8Array;
  /** Maps a PSK identity to its key, or null when the identity is unknown or revoked. */
  readonly pskLookup: (identity: string) => Uint8Array | null;
  /** The PSK identity hint to send in a ServerKeyExchange, or null to send none. */
  readonly identityHint: Uint8Array | null;
  readonly pskIdentityBytesMax: number;
  readonly requireExtendedMasterSecret: boolean;
  /**
   * Length of the CID this server asks a client for when the client offers connection_id
   * (RFC 9146); 0 ignores the extension (no CID either way).
   */
  readonly connectionIdBytes: number;
  /**
   * The server random, when a handshake is rebuilt from a ClientHello it answered before (the
   * server keeps only that while it waits for the client's second flight); default fresh
   * bytes from `randomBytes`.
   */
  readonly serverRandom?: Uint8Array;
}

/**
 * How far past the ClientHello's message_seq this handshake's messages go: the server's
 * ServerHello, ServerKeyExchange, ServerHelloDone and Finished follow it.
 */
const MESSAGES_AFTER_HELLO_MAX = 3;

/** Length of the stand-in key of an unknown identity, in bytes. */
const UNKNOWN_IDENTITY_KEY_BYTES = 32;

type ServerState = 'wait-hello' | 'wait-key-exchange' | 'wait-finished' | 'done';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a PSK identity as UTF-8 (RFC 4279 §5.1); null when it is not valid UTF-8. */
function decodeIdentity(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    // Not UTF-8: no key can be looked up for it; the caller treats it as unknown.
    return null;
  }
}

/** The server role of one handshake. */
export class ServerHandshake implements HandshakeRole {
  private state: ServerState = 'wait-hello';
  private readonly transcript = new Transcript();
  private clientRandom = new Uint8Array(0);
  /** This side's random, sent in the ServerHello. */
  readonly serverRandom: Uint8Array;
  private extendedMasterSecret = false;
  private nextMessageSeq = 0;
  private schedule: KeySchedule | null = null;
  /**
   * The PSK identity the client presented, once its ClientKeyExchange is read and only if
   * `pskLookup` knows it (an unknown one stays null and the handshake cannot complete).
   */
  identity: string | null = null;

  constructor(private readonly params: ServerHandshakeParams) {
    this.serverRandom = params.serverRandom ?? params.randomBytes(RANDOM_BYTES);
    assert(this.serverRandom.length === RANDOM_BYTES, 'server random is 32 bytes');
  }

  expectsChangeCipherSpec(): boolean {
    return this.state === 'wait-finished' && this.params.records.readEpoch === 0;
  }

  handleMessage(message: HandshakeMessage): RoleOutcome {
    switch (this.state) {
      case 'wait-hello':
        if (message.msgType !== HandshakeType.clientHello) break;
        return this.handleClientHello(message);
      case 'wait-key-exchange':
        if (message.msgType !== HandshakeType.clientKeyExchange) break;
        return this.handleClientKeyExchange(message);
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

  private handleClientHello(message: HandshakeMessage): RoleOutcome {
    const hello = parseClientHello(message.body);
    if (hello === null) return failOutcome(AlertDescription.decodeError, 'protocol', 'malformed ClientHello');
    // message_seq is 16 bits: a hello numbered so high that the handshake's later messages
    // would not fit is refused, not answered with numbers that cannot be written.
    if (message.messageSeq > MESSAGE_SEQ_MAX - MESSAGES_AFTER_HELLO_MAX)
      return failOutcome(AlertDescription.illegalParameter, 'protocol', 'ClientHello message_seq leaves no room');
    // DTLS versions count down: a client_version above 1.2's wire value is an older version.
    if (hello.version > DTLS_1_2)
      return failOutcome(AlertDescription.protocolVersion, 'protocol', 'client does not offer DTLS 1.2');
    if (!hello.cipherSuites.includes(TLS_PSK_WITH_AES_128_CCM_8)) {
      return failOutcome(
        AlertDescription.handshakeFailure,
        'protocol',
        'client does not offer TLS_PSK_WITH_AES_128_CCM_8',
      );
    }
    if (!hello.compressionMethods.includes(0))
      return failOutcome(AlertDescription.handshakeFailure, 'protocol', 'client does not offer null compression');
    const extensions = this.negotiateExtensions(hello);
    if (extensions === null)
      return failOutcome(AlertDescription.handshakeFailure, 'protocol', 'extension negotiation failed');
    this.clientRandom = Uint8Array.from(hello.random);
    this.nextMessageSeq = message.messageSeq;
    this.transcript.add(message);
    const flight: FlightItem[] = [];
    const push = (msgType: number, body: Uint8Array): void => {
      const out = { msgType, messageSeq: this.nextMessageSeq, body };
      this.nextMessageSeq += 1;
      this.transcript.add(out);
      flight.push({ kind: 'handshake', epoch: 0, message: out });
    };
    push(
      HandshakeType.serverHello,
      encodeServerHello({
        version: DTLS_1_2,
        random: this.serverRandom,
        sessionId: new Uint8Array(0),
        cipherSuite: TLS_PSK_WITH_AES_128_CCM_8,
        compressionMethod: 0,
        extensions,
      }),
    );
    if (this.params.identityHint !== null)
      push(HandshakeType.serverKeyExchange, encodePskIdentity(this.params.identityHint));
    push(HandshakeType.serverHelloDone, new Uint8Array(0));
    this.state = 'wait-key-exchange';
    return { kind: 'flight', items: flight };
  }

  /** The ServerHello extensions, or null when the client's offer is unacceptable. */
  private negotiateExtensions(hello: ClientHello): Extension[] | null {
    const extensions: Extension[] = [];
    const renegotiation = findExtension(hello.extensions, ExtensionType.renegotiationInfo);
    // RFC 5746 §3.6: on an initial handshake renegotiated_connection must be empty.
    if (renegotiation !== null && (renegotiation.data.length !== 1 || renegotiation.data[0] !== 0)) return null;
    if (renegotiation !== null || hello.cipherSuites.includes(TLS_EMPTY_RENEGOTIATION_INFO_SCSV)) {
      extensions.push(EMPTY_RENEGOTIATION_INFO);
    }
    const ems = findExtension(hello.extensions, ExtensionType.extendedMasterSecret);
    if (ems !== null && ems.data.length !== 0) return null;
    this.extendedMasterSecret = ems !== null;
    if (this.extendedMasterSecret) extensions.push(EXTENDED_MASTER_SECRET);
    else if (this.params.requireExtendedMasterSecret) return null;
    const cid = this.negotiateConnectionId(hello);
    if (cid === 'malformed') return null;
    if (cid !== null) extensions.push(cid);
    return extensions;
  }

  /**
   * RFC 9146 §3: a client that offers connection_id gets one back naming the CID this server
   * wants to receive; the client's own CID (possibly empty) is the one written to it. A CID
   * longer than CONNECTION_ID_BYTES_MAX is not taken: the extension is ignored, and the
   * connection runs without CIDs, as with a client that offers none.
   */
  private negotiateConnectionId(hello: ClientHello): Extension | null | 'malformed' {
    const offer = findExtension(hello.extensions, ExtensionType.connectionId);
    if (offer === null || this.params.connectionIdBytes === 0) return null;
    const clientCid = parseConnectionIdExtension(offer);
    if (clientCid === 'malformed') return 'malformed';
    if (clientCid === 'too-long') return null;
    const own = serverConnectionId(this.serverRandom, this.params.connectionIdBytes);
    this.params.records.setConnectionIds({ read: own, write: clientCid });
    return connectionIdExtension(own);
  }

  private handleClientKeyExchange(message: HandshakeMessage): RoleOutcome {
    const identityBytes = parsePskIdentity(message.body, this.params.pskIdentityBytesMax);
    if (identityBytes === null)
      return failOutcome(AlertDescription.decodeError, 'protocol', 'malformed ClientKeyExchange');
    const identity = decodeIdentity(identityBytes);
    const found = identity === null ? null : this.params.pskLookup(identity);
    const known = found !== null && found.length > 0;
    // RFC 4279 §2 lets a server answer an unknown identity with unknown_psk_identity, which
    // would tell anyone which names exist. It also lets it go on "as if the PSK identity
    // existed but the key was incorrect": the handshake continues with a fresh random key no
    // client holds, so it fails at the client's Finished exactly as a wrong key does (same
    // flights, same work, same bad_record_mac alert).
    const psk = known ? found : this.params.randomBytes(UNKNOWN_IDENTITY_KEY_BYTES);
    this.identity = known ? identity : null;
    this.transcript.add(message);
    const sessionHash = this.extendedMasterSecret ? this.transcript.hash() : null;
    this.schedule = deriveKeySchedule(psk, this.clientRandom, this.serverRandom, sessionHash);
    this.params.records.setKeys(this.schedule.keys);
    this.state = 'wait-finished';
    return NO_OUTCOME;
  }

  private handleFinished(message: HandshakeMessage): RoleOutcome {
    assert(this.schedule !== null, 'keys exist before Finished');
    const received = parseFinished(message.body);
    // With an unknown identity the Finished cannot even be decrypted; the identity check is
    // a second lock on the same door.
    if (
      this.identity === null ||
      received === null ||
      !finishedMatches(this.schedule.master, 'client', this.transcript.hash(), received)
    ) {
      return failOutcome(AlertDescription.decryptError, 'auth', 'client Finished does not verify');
    }
    this.transcript.add(message);
    const finished = {
      msgType: HandshakeType.finished,
      messageSeq: this.nextMessageSeq,
      body: verifyData(this.schedule.master, 'server', this.transcript.hash()),
    };
    this.nextMessageSeq += 1;
    this.params.records.activateWrite();
    this.state = 'done';
    return {
      kind: 'established',
      identity: this.identity,
      finalFlight: [{ kind: 'changeCipherSpec' }, { kind: 'handshake', epoch: 1, message: finished }],
    };
  }
}
