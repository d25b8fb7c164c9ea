/**
 * One DTLS connection with one peer, in either role: the record layer, handshake reassembly,
 * flight retransmission with a doubling, capped timer (RFC 6347 §4.2.4), alerts, and the
 * established session's application data. The role-specific handshake logic is a
 * {@link HandshakeRole}; everything the session needs from its endpoint is a {@link SessionHost}.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import { AlertDescription, AlertLevel, ContentType } from './constants.js';
import { assert, assertNever } from '../../contracts/assert.js';
import { DtlsError } from './errors.js';
import { judgeAlert } from './alerts.js';
import { FlightRetransmitter } from './flight-retransmitter.js';
import { HandshakeReassembler, parseHandshakeFragments } from './fragments.js';
import { renegotiationRequest } from './renegotiation.js';
import type { FailureKind, HandshakeRole, RoleOutcome } from './handshake-common.js';
import type { ResolvedSessionOptions } from './options.js';
import type { FlightItem, OpenedRecord, RecordLayer } from './record-layer.js';
import type { RawRecord } from './record.js';
import type { StatsCounters } from './stats.js';

/** Most handshake fragments read from one record. */
const FRAGMENTS_PER_RECORD_MAX = 16;
/**
 * How many message_seq values ahead of the expected one a session buffers. A server expects
 * at most two more messages (ClientKeyExchange, Finished), so it buffers one ahead and holds
 * little for a half-open peer; a client reads up to three (ServerHello,
 * ServerKeyExchange, ServerHelloDone) and then the Finished.
 */
export const MESSAGES_AHEAD_MAX = { client: 8, server: 1 } as const;

/** Why a session ended. */
export type EndReason =
  /** Closed by this endpoint (close(), idle expiry, revocation, replaced by a new handshake). */
  | 'local'
  /** The peer sent close_notify. */
  | 'peer-closed'
  /** The peer sent a fatal alert on an established session. */
  | 'peer-alert'
  /** Processing failed on a bug that was contained. */
  | 'internal'
  | FailureKind;

/** How a session ended; `error` is set unless it was closed cleanly. */
export interface SessionEnd {
  readonly reason: EndReason;
  readonly error: DtlsError | null;
}

/** What a session needs from its endpoint. */
export interface SessionHost {
  readonly options: ResolvedSessionOptions;
  readonly timers: Timers;
  readonly stats: StatsCounters;
  readonly randomBytes: (count: number) => Uint8Array;
  sendDatagram(data: Uint8Array, address: string, port: number): void;
  /** Runs a timer callback of `session`, containing any error it throws. */
  contain(session: Session, action: () => void): void;
  established(session: Session): void;
  /** The established `session` moved from `from` to its current address and port (RFC 9146 §6). */
  moved(session: Session, from: { readonly address: string; readonly port: number }): void;
  ended(session: Session, end: SessionEnd): void;
  applicationData(session: Session, data: Uint8Array): void;
}

/** What a session is doing. */
export type SessionState = 'handshaking' | 'established' | 'closed';

/** One connection with one peer. */
export class Session {
  state: SessionState = 'handshaking';
  /** The authenticated PSK identity, once established. */
  identity: string | null = null;
  /** When an authenticated record (or any handshake record) last arrived, on the host clock. */
  lastReceivedMs: number;
  private readonly reassembler: HandshakeReassembler;
  // Invariant: no flight is kept once a client is established; a server keeps its final
  // flight until the client's first application data shows the flight arrived.
  private readonly flights: FlightRetransmitter;
  private deadline: TimerHandle | null = null;
  private peerAddress: string;
  private peerPort: number;

  constructor(
    private readonly host: SessionHost,
    readonly role: 'client' | 'server',
    address: string,
    port: number,
    readonly records: RecordLayer,
    private readonly handshake: HandshakeRole,
    firstPeerMessageSeq: number,
  ) {
    this.peerAddress = address;
    this.peerPort = port;
    this.lastReceivedMs = host.timers.nowMs();
    this.flights = new FlightRetransmitter({
      options: host.options,
      timers: host.timers,
      stats: host.stats,
      randomBytes: host.randomBytes,
      transmit: (items) => this.transmit(items),
      giveUp: (count) => this.fail('timeout', null, `no answer after ${count} retransmissions`),
      contain: (action) => host.contain(this, action),
    });
    this.reassembler = new HandshakeReassembler(
      { messageBytesMax: host.options.handshakeMessageBytesMax, messagesAheadMax: MESSAGES_AHEAD_MAX[role] },
      firstPeerMessageSeq,
    );
    this.deadline = host.timers.setTimer(host.options.handshakeTimeoutMs, () => {
      host.contain(this, () => this.fail('timeout', null, 'handshake deadline passed'));
    });
  }

  /** The peer's address: where the session began, or where its connection ID last moved it. */
  get address(): string {
    return this.peerAddress;
  }

  /** The peer's port (see {@link Session.address}). */
  get port(): number {
    return this.peerPort;
  }

  /** Applies a role's first outcome (the client's first flight). */
  begin(outcome: RoleOutcome): void {
    this.apply(outcome);
  }

  /** Processes the records of one datagram from the peer. */
  receive(records: readonly RawRecord[]): void {
    let peerRetransmitted = false;
    for (const raw of records) {
      if (this.state === 'closed') return;
      const opened = this.records.open(raw);
      if (opened === 'auth' && this.state === 'handshaking') {
        // A protected handshake record that fails to authenticate means the peer derived other
        // keys: a wrong PSK. Say so with the fatal alert RFC 6347 §4.1.2.7 allows, rather
        // than letting the peer retransmit until its timer gives up.
        this.host.stats.drop(opened);
        this.fail('auth', AlertDescription.badRecordMac, 'a handshake record failed authentication (wrong key?)');
        return;
      }
      if (typeof opened === 'string') {
        this.host.stats.drop(opened);
        continue;
      }
      if (this.dispatch(opened)) peerRetransmitted = true;
    }
    // RFC 6347 §4.2.4: a retransmission of the peer's previous flight means ours was lost.
    if (peerRetransmitted && this.state !== 'closed') this.flights.repeat();
  }

  /**
   * Processes the records of a datagram that found this established session by its connection
   * ID but came from another address or port (RFC 9146 §6). The session moves there only if a
   * record authenticates (AEAD and replay window) and is the newest so far; a forged, replayed
   * or reordered older record moves nothing. Only protected records count: a plaintext one
   * from elsewhere is dropped. Returns whether the session moved.
   */
  receiveFromNewAddress(records: readonly RawRecord[], address: string, port: number): boolean {
    assert(this.state === 'established', 'only an established session moves');
    const opened: OpenedRecord[] = [];
    let newest = false;
    for (const raw of records) {
      const result = raw.epoch === 0 ? 'unexpected' : this.records.open(raw);
      if (typeof result === 'string') {
        this.host.stats.drop(result);
        continue;
      }
      newest ||= result.newest;
      opened.push(result);
    }
    if (newest) {
      const from = { address: this.peerAddress, port: this.peerPort };
      this.peerAddress = address;
      this.peerPort = port;
      this.host.moved(this, from);
    }
    for (const record of opened) if (this.isOpen()) this.dispatch(record);
    return newest;
  }

  private isOpen(): boolean {
    return this.state !== 'closed';
  }

  /** Acts on one opened record; true when it is a retransmission of the peer's last flight. */
  private dispatch(opened: OpenedRecord): boolean {
    if (opened.epoch === 1 || this.state === 'handshaking') this.lastReceivedMs = this.host.timers.nowMs();
    switch (opened.type) {
      case ContentType.handshake:
        return this.onHandshake(opened);
      case ContentType.changeCipherSpec:
        this.onChangeCipherSpec(opened);
        return false;
      case ContentType.alert:
        this.onAlert(opened);
        return false;
      case ContentType.applicationData:
        this.onApplicationData(opened);
        return false;
      default:
        this.host.stats.drop('unexpected');
        return false;
    }
  }

  /** Seals the application datagram `data` + `rest` into a record's parts (RecordLayer.sealParts); null: too large. */
  sendApplicationData(data: Uint8Array, rest = data.subarray(0, 0)): Uint8Array[] | null {
    assert(this.state === 'established', 'application data only on an established session');
    const bytes = data.length + rest.length;
    if (bytes > Math.min(this.host.options.applicationDataBytesMax, this.records.contentBytesMax())) return null;
    return this.records.sealParts(ContentType.applicationData, 1, data, undefined, rest);
  }

  /** Closes the session from this side, sending close_notify when it is established. */
  close(): void {
    if (this.state === 'closed') return;
    if (this.state === 'established') this.sendAlert(AlertLevel.warning, AlertDescription.closeNotify);
    this.end({ reason: 'local', error: null });
  }

  /** Ends the session without a word to the peer (replaced, or a contained bug). */
  drop(reason: 'local' | 'internal'): void {
    this.end({ reason, error: null });
  }

  private onHandshake(record: OpenedRecord): boolean {
    const fragments = parseHandshakeFragments(record.content, FRAGMENTS_PER_RECORD_MAX);
    if (fragments === null) {
      this.host.stats.drop('malformed');
      return false;
    }
    let old = false;
    for (const fragment of fragments) {
      const request = renegotiationRequest(this.role, this.state === 'established', record.epoch, fragment);
      if (request === 'ignore') continue;
      if (request === 'malformed') {
        this.host.stats.drop('malformed');
      } else if (request === 'refuse') {
        // No renegotiation (see renegotiation.ts); the session goes on.
        this.sendAlert(AlertLevel.warning, AlertDescription.noRenegotiation);
      } else if (this.state === 'established') {
        if (fragment.messageSeq < this.reassembler.nextSeq()) old = true;
        else this.host.stats.drop('unexpected');
      } else if (fragment.messageSeq < this.reassembler.nextSeq()) {
        old = true;
      } else if (record.epoch !== this.records.readEpoch) {
        this.host.stats.drop('epoch');
      } else {
        const result = this.reassembler.add(fragment);
        if (result === 'too-far') this.host.stats.drop('unexpected');
        if (result === 'invalid') this.host.stats.drop('malformed');
      }
    }
    for (
      let message = this.reassembler.next();
      message !== null && this.state === 'handshaking';
      message = this.reassembler.next()
    ) {
      this.apply(this.handshake.handleMessage(message));
    }
    return old;
  }

  private onChangeCipherSpec(record: OpenedRecord): void {
    if (record.content.length !== 1 || record.content[0] !== 1) {
      this.host.stats.drop('malformed');
      return;
    }
    // Duplicates (a retransmitted flight) and early ones (before the key exchange) are dropped.
    if (this.state !== 'handshaking' || record.epoch !== 0 || !this.handshake.expectsChangeCipherSpec()) {
      this.host.stats.drop('unexpected');
      return;
    }
    this.records.activateRead();
  }

  private onAlert(record: OpenedRecord): void {
    const level = record.content[0];
    const description = record.content[1];
    if (record.content.length !== 2 || level === undefined || description === undefined) {
      this.host.stats.drop('malformed');
      return;
    }
    this.host.stats.alertsReceived += 1;
    const established = this.state === 'established';
    const verdict = judgeAlert(
      { role: this.role, established, epoch: record.epoch, serverSilentSoFar: this.reassembler.nextSeq() === 0 },
      level,
      description,
    );
    switch (verdict.kind) {
      case 'ignore':
        this.host.stats.drop('unexpected');
        return;
      case 'warning':
        return;
      case 'close':
        if (established) this.sendAlert(AlertLevel.warning, AlertDescription.closeNotify);
        this.end({ reason: verdict.reason, error: null });
        return;
      case 'fatal':
        this.end({
          reason: verdict.reason,
          error: new DtlsError('DTLS_ALERT', `peer sent fatal alert ${description}`, description),
        });
        return;
      default:
        assertNever(verdict, 'alert verdict');
    }
  }

  private onApplicationData(record: OpenedRecord): void {
    if (this.state !== 'established') {
      this.host.stats.drop('unexpected');
      return;
    }
    if (record.content.length > this.host.options.applicationDataBytesMax) {
      this.host.stats.drop('tooLarge');
      return;
    }
    // The client's data proves it has our final flight; stop keeping it.
    this.flights.clear();
    this.host.applicationData(this, record.content);
  }

  private apply(outcome: RoleOutcome): void {
    switch (outcome.kind) {
      case 'none':
        return;
      case 'flight':
        this.flights.send(outcome.items, true);
        return;
      case 'established':
        this.becomeEstablished(outcome.identity, outcome.finalFlight);
        return;
      case 'fail':
        this.fail(outcome.failure, outcome.alert, outcome.message);
        return;
      default:
        assertNever(outcome, 'role outcome');
    }
  }

  private becomeEstablished(identity: string, finalFlight: readonly FlightItem[] | null): void {
    assert(this.state === 'handshaking', 'only a handshake becomes established');
    // The final flight is not retransmitted by timer, only when the peer repeats its own.
    if (finalFlight === null) this.flights.clear();
    else this.flights.send(finalFlight, false);
    this.deadline?.cancel();
    this.deadline = null;
    this.identity = identity;
    this.state = 'established';
    this.host.stats.handshakesCompleted += 1;
    this.host.established(this);
  }

  private transmit(items: readonly FlightItem[]): void {
    for (const datagram of this.records.encodeFlight(items, this.host.options.handshakeDatagramBytesMax)) {
      this.host.sendDatagram(datagram, this.address, this.port);
    }
  }

  private sendAlert(level: number, description: number): void {
    this.host.stats.alertsSent += 1;
    const record = this.records.seal(ContentType.alert, this.records.writeEpoch, Uint8Array.of(level, description));
    this.host.sendDatagram(record, this.address, this.port);
  }

  private fail(failure: FailureKind, alert: number | null, message: string): void {
    if (this.state === 'closed') return;
    if (alert !== null) this.sendAlert(AlertLevel.fatal, alert);
    this.end({ reason: failure, error: new DtlsError('DTLS_HANDSHAKE', message, alert) });
  }

  private end(end: SessionEnd): void {
    if (this.state === 'closed') return;
    if (this.state === 'handshaking') {
      this.host.stats.handshakesFailed += 1;
      if (end.reason === 'auth') this.host.stats.handshakesAuthFailed += 1;
    }
    this.state = 'closed';
    this.flights.clear();
    this.deadline?.cancel();
    this.deadline = null;
    this.host.ended(this, end);
  }
}
