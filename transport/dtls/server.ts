/**
 * A DTLS 1.2 PSK server endpoint (RFC 6347, RFC 4279, RFC 6655/7925) implementing the
 * project's DatagramEndpoint. One UDP socket, one session per peer address:port.
 *
 * A ClientHello without a valid cookie is answered statelessly with a HelloVerifyRequest, so
 * spoofed sources cost one HMAC and one small datagram each and no memory. A ClientHello
 * with a valid cookie starts a half-open handshake within the limits of
 * {@link ServerHandshakes} (in total, per address, in bytes, with a share kept for members'
 * addresses; the oldest pushed out when full; dropped after `clientFlightTimeoutMs`). A new
 * verified ClientHello from the address of an established session starts a new handshake and
 * replaces the old session only once that handshake completes (RFC 6347 §4.2.8); established
 * sessions are never pushed out by half-open ones. A completed handshake always gets a session:
 * within sessionsPerIdentityMax and sessionsMax it replaces the least recently used session of
 * its own identity, or of the identity holding the most ({@link EstablishedSessions}), so one
 * key cannot keep another out. Bad records are dropped and counted; nothing a peer sends can
 * make a socket handler throw.
 *
 * A client that offers connection_id (RFC 9146) gets a connection ID of its own; its records
 * then carry it, and find their session from any address. A record from a new address moves
 * the session there only once it authenticates and is the newest (RFC 9146 §6): a forged or
 * replayed datagram from elsewhere moves nothing.
 */
import type { Socket } from 'node:dgram';
import type { Timers } from '../../contracts/clock.js';
import { assert } from '../../contracts/assert.js';
import { RateLimiter } from '../../contracts/rate-limiter.js';
import type { DatagramEndpoint, DatagramHandler } from '../datagram.js';
import { AlertDescription, AlertLevel, ContentType, DTLS_1_2, HandshakeType } from './constants.js';
import { CookieJar } from './cookie.js';
import { datagramTooLarge, noSession } from './errors.js';
import { unmappedAddress } from '../address-family.js';
import { IdleSweeper, bindSocket, closeSocket, peerKey, realRandomBytes, realTimers } from './endpoint-common.js';
import { EstablishedSessions } from './established-sessions.js';
import type { SessionEviction } from './established-sessions.js';
import { helloVerifyRequestDatagram, readInitialHello } from './hello-verify.js';
import type { InitialHello } from './hello-verify.js';
import type { Metrics } from '../../contracts/metrics.js';
import type { DtlsDeps, SessionReplacement } from './options.js';
import { encodeRecord, splitRecords } from './record.js';
import type { RawRecord } from './record.js';
import { resolveServerOptions } from './server-options.js';
import type { DtlsServerOptions, ResolvedServerOptions } from './server-options.js';
import { ServerHandshakes } from './server-handshakes.js';
import type { Session } from './session.js';
import type { SessionEnd, SessionHost } from './session.js';
import { SessionReceiver } from './receiver.js';
import { SocketSender } from './socket-sender.js';
import { StatsCounters } from './stats.js';
import type { DtlsStats } from './stats.js';

/** Most records read from one datagram. */
const RECORDS_PER_DATAGRAM_MAX = 32;

/** A DTLS 1.2 PSK server: accepts sessions and exchanges application datagrams over them. */
export class DtlsServerEndpoint implements DatagramEndpoint {
  // Invariant: a session is in `sessions` only while established, in `handshakes` only while
  // handshaking; both are keyed by peerKey(address, port).
  private readonly sessions: EstablishedSessions;
  private readonly handshakes: ServerHandshakes;
  private readonly counters = new StatsCounters();
  private readonly timers: Timers;
  private readonly randomBytes: (count: number) => Uint8Array;
  private readonly cookies: CookieJar;
  private readonly host: SessionHost;
  private readonly sender: SocketSender;
  private readonly receiver: SessionReceiver;
  private closed = false;
  private readonly sweeper: IdleSweeper;
  private readonly unknownSessionAlerts: RateLimiter;
  private readonly metrics: Metrics | null;
  private readonly cidBytes: number;
  private readonly onSessionReplaced: ((replacement: SessionReplacement) => void) | null;

  private constructor(
    private readonly socket: Socket,
    options: ResolvedServerOptions,
    deps: DtlsDeps,
  ) {
    this.receiver = new SessionReceiver(this.counters, deps.onInternalError);
    this.timers = deps.timers ?? realTimers();
    this.randomBytes = deps.randomBytes ?? realRandomBytes;
    this.sessions = new EstablishedSessions(options);
    this.metrics = deps.metrics ?? null;
    this.cidBytes = options.connectionIdBytes;
    this.onSessionReplaced = deps.onSessionReplaced ?? null;
    this.cookies = new CookieJar(this.timers, this.randomBytes, options.cookieSecretRotationMs);
    this.sender = new SocketSender(socket, this.counters);
    this.host = {
      options: options.session,
      timers: this.timers,
      stats: this.counters,
      randomBytes: this.randomBytes,
      sendDatagram: (data, address, port) => this.sender.send(data, address, port),
      contain: (session, action) => this.receiver.contain(session, action),
      established: (session) => this.onEstablished(session),
      moved: (session, from) => this.onMoved(session, from),
      ended: (session, end) => this.onEnded(session, end),
      applicationData: (session, data) => this.receiver.deliver(session, data),
    };
    this.handshakes = new ServerHandshakes({
      options,
      host: this.host,
      timers: this.timers,
      counters: this.counters,
      report: (error) => this.receiver.report(error),
      metrics: deps.metrics ?? null,
    });
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: sessions know them by their IPv4 address.
    socket.on('message', (datagram, info) => this.onDatagram(datagram, unmappedAddress(info.address), info.port));
    socket.on('error', (error) => this.receiver.report(error));
    this.unknownSessionAlerts = new RateLimiter(this.timers, options.unknownSessionAlertsPerSecondMax);
    this.sweeper = new IdleSweeper(
      this.timers,
      options.session.sessionIdleTimeoutMs,
      () => this.sessions.sessions(),
      () => {
        this.counters.sessionsExpired += 1;
      },
      (error) => this.receiver.report(error),
    );
  }

  /** Validates `options`, binds the socket and starts serving. Rejects with ConfigError or the bind error. */
  static async listen(options: DtlsServerOptions, deps: DtlsDeps = {}): Promise<DtlsServerEndpoint> {
    const resolved = resolveServerOptions(options);
    const socket = await bindSocket(resolved.host, resolved.port, resolved.receiveBufferBytes, deps.resolveHost);
    return new DtlsServerEndpoint(socket, resolved, deps);
  }

  /**
   * Encrypts `data` for the established session with `address:port` (or the one that moved
   * from there: it goes to where the session is now); rejects with NET_UNREACHABLE without one.
   */
  send(data: Uint8Array, address: string, port: number): Promise<void> {
    const session = this.sessionTo(address, port);
    if (session === undefined) return Promise.reject(noSession(address, port));
    const record = session.sendApplicationData(data);
    if (record === null) return Promise.reject(datagramTooLarge(data));
    return this.sender.sendAwaited(record, session.address, session.port);
  }

  /** `send` without a promise (DatagramEndpoint.post): its rejection goes to `onFailure`. */
  post(data: Uint8Array, address: string, port: number, onFailure: (error: Error) => void): void {
    const session = this.sessionTo(address, port);
    if (session === undefined) return onFailure(noSession(address, port));
    const record = session.sendApplicationData(data);
    if (record === null) return onFailure(datagramTooLarge(data));
    this.sender.post(record, session.address, session.port, onFailure);
  }

  /** The established session with `address:port`, or the one that moved from there (since a request came). */
  private sessionTo(address: string, port: number): Session | undefined {
    return this.closed ? undefined : this.sessions.to(peerKey(address, port))?.session;
  }

  onMessage(handler: DatagramHandler): void {
    this.receiver.setHandler(handler);
  }

  /** The socket's receive buffer as the kernel reports it (SO_RCVBUF; Linux reports twice what it grants). */
  receiveBufferBytes(): number {
    return this.socket.getRecvBufferSize();
  }

  localAddress(): { readonly address: string; readonly port: number } {
    const { address, port } = this.socket.address();
    return { address, port };
  }

  /** Sends close_notify to every established session, drops handshakes and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sweeper.stop();
    this.handshakes.close();
    for (const session of this.sessions.sessions()) session.close();
    await this.sender.drain();
    if (this.sender.isOpen()) await closeSocket(this.socket);
  }

  /**
   * Closes every session and handshake of `identity` (after its key was revoked or changed);
   * returns how many. New handshakes consult `pskLookup` again.
   */
  closeSessionsOf(identity: string): number {
    let count = 0;
    for (const session of this.sessions.sessions()) {
      if (session.identity !== identity) continue;
      session.close();
      count += 1;
    }
    return count + this.handshakes.discardIdentity(identity);
  }

  /** The established sessions: peer address, port and authenticated identity. */
  sessionList(): { readonly address: string; readonly port: number; readonly identity: string | null }[] {
    return this.sessions.sessions().map((s) => ({
      address: s.address,
      port: s.port,
      identity: s.identity,
    }));
  }

  /** Counters and gauges for metrics. */
  stats(): DtlsStats {
    const { size, bytes, memberCount } = this.handshakes;
    return this.counters.snapshot({
      sessions: this.sessions.size,
      handshakesInProgress: size,
      handshakesInProgressBytes: bytes,
      handshakesInProgressMembers: memberCount,
    });
  }

  /** Checks that the session and handshake tables agree; throws InvariantError on a bug (for tests). */
  checkInvariants(): void {
    this.sessions.checkInvariants();
    this.handshakes.checkInvariants();
  }

  private onDatagram(datagram: Uint8Array, address: string, port: number): void {
    if (this.closed) return;
    try {
      this.handleDatagram(datagram, address, port);
    } catch (error) {
      // A bug met while parsing a peer's datagram must not take the server down for every
      // other peer: count it, report it, and drop whatever state that peer had.
      this.receiver.report(error);
      const key = peerKey(address, port);
      this.handshakes.discard(key, 'internal');
      this.sessions.get(key)?.session.drop('internal');
    }
  }

  private handleDatagram(datagram: Uint8Array, address: string, port: number): void {
    this.counters.datagramsReceived += 1;
    const { records, malformed } = splitRecords(datagram, RECORDS_PER_DATAGRAM_MAX, this.cidBytes);
    if (malformed) this.counters.drop('malformed');
    const first = records[0];
    if (first === undefined) return;
    const byCid = first.cid === null ? undefined : this.sessions.withCid(first.cid);
    if (byCid !== undefined) {
      const session = byCid.session;
      if (session.address === address && session.port === port) session.receive(records);
      else session.receiveFromNewAddress(records, address, port);
      return;
    }
    const hello = readInitialHello(first);
    if (hello === 'malformed') {
      this.counters.drop('malformed');
      return;
    }
    const key = peerKey(address, port);
    if (hello !== null) {
      this.handleClientHello(hello, records, address, port, key);
      return;
    }
    const pending = this.handshakes.get(key);
    const established = this.sessions.get(key)?.session;
    const pendingSession = pending === undefined ? null : this.handshakes.sessionOf(pending);
    if (
      pending !== undefined &&
      (first.epoch === 0 || pendingSession?.records.readEpoch === 1 || established === undefined)
    ) {
      // A handshake waiting for the client's second flight gets a session only for a
      // plaintext record: nothing else can come before the client's ChangeCipherSpec.
      if (pendingSession === null && first.epoch !== 0) {
        this.counters.drop('epoch');
        return;
      }
      const session = this.handshakes.sessionFor(pending);
      // Null: its session would not fit handshakesInProgressBytesMax, so it was pushed out.
      if (session === null) this.counters.drop('limit');
      else session.receive(records);
      return;
    }
    if (established === undefined) {
      this.counters.drop('unknownSession');
      // A protected record means the server lost the session (it restarted); a handshake
      // record means it lost the handshake (pushed out or expired). Either way, say so, so
      // the client starts over instead of retransmitting into the void. Not for a later
      // fragment of a ClientHello: it came before the first one (RFC 6347 §4.2.3 lets
      // fragments arrive in any order), which starts the handshake or is sent again.
      const handshake = first.epoch === 0 && first.type === ContentType.handshake;
      const laterHelloFragment = handshake && first.fragment[0] === HandshakeType.clientHello;
      if ((first.epoch !== 0 || handshake) && !laterHelloFragment) this.maybeAlertUnknownSession(address, port);
      return;
    }
    established.receive(records);
  }

  private handleClientHello(
    hello: InitialHello,
    records: readonly RawRecord[],
    address: string,
    port: number,
    key: string,
  ): void {
    // A repeat of the hello that started the current handshake or session is a retransmission
    // (our flight was lost): it is answered by retransmitting.
    const pending = this.handshakes.get(key);
    if (pending !== undefined && this.handshakes.startedBy(pending, hello.prefix.random)) {
      this.handshakes.repeat(pending, records);
      return;
    }
    const established = this.sessions.get(key);
    if (established !== undefined && sameBytes(established.clientRandom, hello.prefix.random)) {
      established.session.receive(records);
      return;
    }
    const first = records[0];
    if (first === undefined) return;
    if (hello.prefix.cookie.length === 0 || !this.cookies.verify(address, port, hello.prefix)) {
      if (hello.prefix.cookie.length > 0) this.counters.cookiesRejected += 1;
      const cookie = this.cookies.make(address, port, hello.prefix);
      this.sender.send(helloVerifyRequestDatagram(first, hello.fragment.messageSeq, cookie), address, port);
      this.counters.helloVerifyRequestsSent += 1;
      return;
    }
    // The client has shown it receives at its address: admit it within the limits.
    this.handshakes.start(hello, records, address, port, key);
  }

  /** Tells a peer without a session, in plaintext, that its records cannot be read (rate-limited). */
  private maybeAlertUnknownSession(address: string, port: number): void {
    if (!this.unknownSessionAlerts.take()) return;
    this.counters.alertsSent += 1;
    const alert = Uint8Array.of(AlertLevel.fatal, AlertDescription.unexpectedMessage);
    this.sender.send(encodeRecord(ContentType.alert, DTLS_1_2, 0, 0, alert), address, port);
  }

  private onEstablished(session: Session): void {
    const entry = this.handshakes.established(session);
    if (entry === undefined) return;
    const identity = session.identity;
    assert(identity !== null, 'an established session has an identity');
    const cid = session.records.connectionIds().read;
    if (cid !== null && this.sessions.withCid(cid) !== undefined) {
      // Two live sessions with one CID (a 2^-64 chance at 8 bytes): the newer one goes, and
      // its client handshakes again with a fresh random, so a fresh CID.
      this.counters.drop('limit');
      session.close();
      return;
    }
    const key = peerKey(session.address, session.port);
    const replaced: { readonly session: Session; readonly reason: SessionReplacement['reason'] }[] = [];
    // A completed handshake from the address of an older session replaces it (RFC 6347 §4.2.8).
    const previous = this.sessions.get(key)?.session;
    if (previous?.identity === identity) replaced.push({ session: previous, reason: 'address' });
    previous?.drop('local');
    // Then room is made within the caps (at most one session goes for each: a loop for safety).
    for (let room = this.sessions.evictionFor(identity); room !== null; room = this.sessions.evictionFor(identity)) {
      const before = this.sessions.size;
      if (room.session.identity === identity) replaced.push(room);
      this.evict(room);
      assert(this.sessions.size < before, 'an evicted session leaves the table');
    }
    this.sessions.add(key, { session, role: entry.role, clientRandom: entry.clientRandom });
    const next = { address: session.address, port: session.port };
    for (const { session: old, reason } of replaced)
      this.onSessionReplaced?.({ identity, reason, previous: { address: old.address, port: old.port }, next });
  }

  /**
   * Closes a session to make room for a newer one. close_notify tells its client, which
   * handshakes again at its next send if it is still there (a restarted peer's stale session
   * has no one listening). Nothing is logged: this is load, counted in stats and metrics.
   */
  private evict(eviction: SessionEviction): void {
    this.counters.sessionsEvicted += 1;
    this.metrics?.increment('dtls_session_evictions_total', 1, { limit: eviction.reason });
    eviction.session.close();
  }

  /** An established session moved to a new address (its CID came from there, authenticated). */
  private onMoved(session: Session, from: { readonly address: string; readonly port: number }): void {
    // An older session at the new address is stale: that address now belongs to this peer.
    this.sessions.move(session, from)?.drop('local');
    this.counters.sessionsMigrated += 1;
  }

  private onEnded(session: Session, _end: SessionEnd): void {
    this.handshakes.ended(session);
    this.sessions.remove(session);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
