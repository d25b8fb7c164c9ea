/**
 * A DTLS 1.2 PSK client endpoint implementing the project's DatagramEndpoint: one UDP socket,
 * one session per remote address:port, a handshake started by the first `send` to a peer
 * (its datagrams queued, within a limit, until the handshake ends).
 *
 * A server that lost the session (it restarted) cannot read our records and cannot say so
 * authentically. The session is dropped, and the next `send` handshakes again, when the
 * server's plaintext fatal alert arrives (see DtlsServerEndpoint), when the session has been
 * idle for `sessionIdleTimeoutMs`, or when the upper layer, seeing timeouts, calls
 * {@link DtlsClientEndpoint.resetSession}.
 */
import type { Socket } from 'node:dgram';
import type { Timers } from '../../contracts/clock.js';
import { NetworkError } from '../../contracts/errors.js';
import type { DatagramEndpoint, DatagramHandler } from '../datagram.js';
import { resolveClientOptions } from './client-options.js';
import type { DtlsClientOptions, ResolvedClientOptions } from './client-options.js';
import { AlertDescription } from './constants.js';
import { datagramTooLarge } from './errors.js';
import { assertNever } from '../../contracts/assert.js';
import { familyRefusal, unmappedAddress } from '../address-family.js';
import { IdleSweeper, bindSocket, closeSocket, peerKey, realRandomBytes, realTimers } from './endpoint-common.js';
import { JoinScratch } from './join-scratch.js';
import { ClientHandshake } from './handshake-client.js';
import type { DtlsDeps } from './options.js';
import { RecordLayer } from './record-layer.js';
import { splitRecords } from './record.js';
import { Session } from './session.js';
import type { SessionEnd, SessionHost } from './session.js';
import { SessionReceiver } from './receiver.js';
import { SocketSender } from './socket-sender.js';
import { StatsCounters } from './stats.js';
import type { DtlsStats } from './stats.js';

const RECORDS_PER_DATAGRAM_MAX = 32;

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: NetworkError) => void;
}

interface Peer {
  readonly session: Session;
  // Invariant: queue and waiters are empty once the session is established.
  readonly queue: { readonly data: Uint8Array; readonly waiter: Waiter }[];
  readonly waiters: Waiter[];
  /** How many times this peer's handshake started over (see handshakeRestartsMax). */
  readonly restarts: number;
}

/** Whether a handshake ended on the server's plaintext "I lost this handshake" alert. */
function serverLostHandshake(end: SessionEnd): boolean {
  return (
    end.reason === 'protocol' &&
    end.error?.code === 'DTLS_ALERT' &&
    end.error.alert === AlertDescription.unexpectedMessage
  );
}

/** How a failed handshake surfaces to the caller of `send`. */
function networkErrorFor(end: SessionEnd, address: string, port: number): NetworkError {
  const options = { cause: end.error ?? undefined };
  const where = `DTLS handshake with ${address}:${port}`;
  switch (end.reason) {
    case 'timeout':
      return new NetworkError('NET_TIMEOUT', `${where} timed out`, options);
    case 'auth':
      return new NetworkError('NET_AUTH', `${where} failed: key or identity refused`, options);
    case 'protocol':
    case 'peer-alert':
    case 'peer-closed':
    case 'local':
    case 'internal':
      return new NetworkError('NET_UNREACHABLE', `${where} failed (${end.reason})`, options);
    default:
      return assertNever(end.reason, 'session end reason');
  }
}

const ignore = (): void => undefined;

/** A DTLS 1.2 PSK client with one session per server. */
export class DtlsClientEndpoint implements DatagramEndpoint {
  private readonly peers = new Map<string, Peer>();
  private readonly counters = new StatsCounters();
  private readonly timers: Timers;
  private readonly randomBytes: (count: number) => Uint8Array;
  private readonly host: SessionHost;
  private readonly sender: SocketSender;
  private readonly bodyScratch: JoinScratch;
  private readonly receiver: SessionReceiver;
  private closed = false;
  private readonly sweeper: IdleSweeper;
  /** The address the socket is bound to (a bindAddress host name's address). */
  private readonly bound: string;

  private constructor(
    private readonly socket: Socket,
    private readonly options: ResolvedClientOptions,
    deps: DtlsDeps,
  ) {
    this.bound = socket.address().address;
    this.receiver = new SessionReceiver(this.counters, deps.onInternalError);
    this.timers = deps.timers ?? realTimers();
    this.randomBytes = deps.randomBytes ?? realRandomBytes;
    this.sender = new SocketSender(socket, this.counters);
    this.bodyScratch = new JoinScratch(options.session.applicationDataBytesMax);
    this.host = {
      options: options.session,
      timers: this.timers,
      stats: this.counters,
      randomBytes: this.randomBytes,
      sendDatagram: (data, address, port) => this.sender.send(data, address, port),
      contain: (session, action) => this.receiver.contain(session, action),
      established: (session) => this.onEstablished(session),
      // A client recognises its servers by address; its sessions never move.
      moved: () => undefined,
      ended: (session, end) => this.onEnded(session, end),
      applicationData: (session, data) => this.receiver.deliver(session, data),
    };
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: sessions know them by their IPv4 address.
    socket.on('message', (datagram, info) => this.onDatagram(datagram, unmappedAddress(info.address), info.port));
    socket.on('error', (error) => this.receiver.report(error));
    const established = (): Session[] =>
      [...this.peers.values()].map((p) => p.session).filter((s) => s.state === 'established');
    this.sweeper = new IdleSweeper(
      this.timers,
      options.session.sessionIdleTimeoutMs,
      established,
      () => {
        this.counters.sessionsExpired += 1;
      },
      (error) => this.receiver.report(error),
    );
  }

  /** Validates `options` and binds the socket. Rejects with ConfigError or the bind error. */
  static async open(options: DtlsClientOptions, deps: DtlsDeps = {}): Promise<DtlsClientEndpoint> {
    const resolved = resolveClientOptions(options);
    const socket = await bindSocket(
      resolved.bindAddress,
      resolved.bindPort,
      resolved.receiveBufferBytes,
      deps.resolveHost,
    );
    return new DtlsClientEndpoint(socket, resolved, deps);
  }

  /**
   * Sends `data` to `address:port`, first completing a handshake if there is no session.
   * Rejects with NetworkError: NET_TIMEOUT, NET_AUTH or NET_UNREACHABLE when the handshake
   * fails, NET_UNREACHABLE when a limit is reached, NET_TOO_LARGE for an oversized datagram.
   */
  send(data: Uint8Array, address: string, port: number): Promise<void> {
    if (data.length > this.options.session.applicationDataBytesMax) return Promise.reject(datagramTooLarge(data));
    const peer = this.peerFor(address, port);
    if (peer instanceof NetworkError) return Promise.reject(peer);
    if (peer.session.state === 'established') return this.sendOn(peer.session, data);
    if (peer.queue.length >= this.options.queuedDatagramsMax) return Promise.reject(this.queueFull(address, port));
    return new Promise((resolve, reject) => peer.queue.push({ data, waiter: { resolve, reject } }));
  }

  /**
   * Sends one datagram of `head` then the pieces of `body` like `send` of them joined
   * (DatagramEndpoint.sendParts): on an established session the record is sealed from head and
   * body where they are (a body of several pieces is first copied into one buffer this endpoint
   * reuses: sealing copies the message before it returns); one queued behind a handshake is joined.
   */
  sendParts(head: Uint8Array, body: readonly Uint8Array[], address: string, port: number): Promise<void> {
    const peer = this.closed ? undefined : this.peers.get(peerKey(address, port));
    if (peer?.session.state !== 'established') return this.send(Buffer.concat([head, ...body]), address, port);
    const rest = body.length === 1 ? body[0] : this.bodyScratch.join(body);
    if (rest === undefined || head.length + rest.length > this.options.session.applicationDataBytesMax)
      return Promise.reject(datagramTooLarge(Buffer.concat([head, ...body])));
    return this.sendOn(peer.session, head, rest);
  }

  /**
   * Sends like `send` without a promise (DatagramEndpoint.post): what `send` would reject with
   * goes to `onFailure`, perhaps before `post` returns. A datagram queued behind a handshake
   * is sent when it completes, like `send`'s.
   */
  post(data: Uint8Array, address: string, port: number, onFailure: (error: Error) => void): void {
    const peer =
      data.length > this.options.session.applicationDataBytesMax ? datagramTooLarge(data) : this.peerFor(address, port);
    if (peer instanceof NetworkError) return onFailure(peer);
    if (peer.session.state !== 'established') {
      if (peer.queue.length >= this.options.queuedDatagramsMax) return onFailure(this.queueFull(address, port));
      peer.queue.push({ data, waiter: { resolve: ignore, reject: onFailure } });
      return;
    }
    const record = peer.session.sendApplicationData(data);
    if (record === null) return onFailure(datagramTooLarge(data));
    this.sender.post(record, peer.session.address, peer.session.port, onFailure);
  }

  /** Completes a handshake with `address:port` unless a session exists; rejects like `send`. */
  connect(address: string, port: number): Promise<void> {
    const peer = this.peerFor(address, port);
    if (peer instanceof NetworkError) return Promise.reject(peer);
    if (peer.session.state === 'established') return Promise.resolve();
    return new Promise((resolve, reject) => peer.waiters.push({ resolve, reject }));
  }

  /**
   * Drops the established session with `address:port` (sending close_notify) so that the
   * next `send` handshakes again; for when the server has evidently lost it. Returns false
   * when there is no established session (a running handshake is left alone).
   */
  resetSession(address: string, port: number): boolean {
    const peer = this.peers.get(peerKey(address, port));
    if (peer === undefined || peer.session.state !== 'established') return false;
    peer.session.close();
    return true;
  }

  /** Whether an established session with `address:port` exists. */
  hasSession(address: string, port: number): boolean {
    return this.peers.get(peerKey(address, port))?.session.state === 'established';
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

  /** Sends close_notify on every session, fails running handshakes, closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sweeper.stop();
    for (const peer of [...this.peers.values()]) {
      if (peer.session.state === 'established') peer.session.close();
      else peer.session.drop('local');
    }
    await this.sender.drain();
    if (this.sender.isOpen()) await closeSocket(this.socket);
  }

  /** Counters and gauges for metrics. */
  stats(): DtlsStats {
    let established = 0;
    for (const peer of this.peers.values()) if (peer.session.state === 'established') established += 1;
    return this.counters.snapshot({ sessions: established, handshakesInProgress: this.peers.size - established });
  }

  private peerFor(address: string, port: number): Peer | NetworkError {
    if (this.closed) return new NetworkError('NET_UNREACHABLE', 'DTLS client endpoint is closed');
    const key = peerKey(address, port);
    const existing = this.peers.get(key);
    if (existing !== undefined) return existing;
    const refusal = familyRefusal(this.bound, address, port, true);
    if (refusal !== null) return refusal;
    if (this.peers.size >= this.options.sessionsMax) {
      this.counters.drop('limit');
      return new NetworkError('NET_UNREACHABLE', `sessionsMax (${this.options.sessionsMax}) reached`);
    }
    return this.startPeer(address, port, { queue: [], waiters: [], restarts: 0 });
  }

  /** Starts a handshake with `address:port` for `waiting` (a new peer, or one starting over). */
  private startPeer(address: string, port: number, waiting: Omit<Peer, 'session'>): Peer | NetworkError {
    const key = peerKey(address, port);
    const psk = this.options.pskFor(address, port);
    if (psk === null) {
      return new NetworkError('NET_AUTH', `no pre-shared key for ${address}:${port}`);
    }
    const records = new RecordLayer(true, this.options.session.replayWindowSize);
    const cidBytes = this.options.connectionIdBytes;
    const role = new ClientHandshake({
      records,
      randomBytes: this.randomBytes,
      identity: this.options.identity,
      psk,
      requireExtendedMasterSecret: this.options.session.requireExtendedMasterSecret,
      connectionId: cidBytes === null ? null : this.randomBytes(cidBytes),
    });
    const peer: Peer = { ...waiting, session: new Session(this.host, 'client', address, port, records, role, 0) };
    this.peers.set(key, peer);
    this.receiver.contain(peer.session, () => peer.session.begin(role.start()));
    if (peer.session.state === 'closed')
      return new NetworkError('NET_UNREACHABLE', `DTLS handshake with ${address}:${port} could not start`);
    return peer;
  }

  private queueFull(address: string, port: number): NetworkError {
    this.counters.drop('limit');
    return new NetworkError('NET_UNREACHABLE', `handshake queue for ${address}:${port} is full`);
  }

  private sendOn(session: Session, data: Uint8Array, rest?: Uint8Array): Promise<void> {
    const record = session.sendApplicationData(data, rest);
    if (record === null)
      return Promise.reject(new NetworkError('NET_TOO_LARGE', 'datagram exceeds applicationDataBytesMax'));
    return this.sender.sendAwaited(record, session.address, session.port);
  }

  private onDatagram(datagram: Uint8Array, address: string, port: number): void {
    if (this.closed) return;
    const peer = this.peers.get(peerKey(address, port));
    try {
      this.counters.datagramsReceived += 1;
      const { records, malformed } = splitRecords(
        datagram,
        RECORDS_PER_DATAGRAM_MAX,
        this.options.connectionIdBytes ?? 0,
      );
      if (malformed) this.counters.drop('malformed');
      if (peer === undefined) {
        if (records.length > 0) this.counters.drop('unknownSession');
        return;
      }
      peer.session.receive(records);
    } catch (error) {
      this.receiver.report(error);
      peer?.session.drop('internal');
    }
  }

  private onEstablished(session: Session): void {
    const peer = this.peers.get(peerKey(session.address, session.port));
    if (peer === undefined || peer.session !== session) return;
    for (const { data, waiter } of peer.queue.splice(0)) this.sendOn(session, data).then(waiter.resolve, waiter.reject);
    for (const waiter of peer.waiters.splice(0)) waiter.resolve();
  }

  private onEnded(session: Session, end: SessionEnd): void {
    const key = peerKey(session.address, session.port);
    const peer = this.peers.get(key);
    if (peer === undefined || peer.session !== session) return;
    this.peers.delete(key);
    if (peer.queue.length === 0 && peer.waiters.length === 0) return;
    if (!this.closed && serverLostHandshake(end) && peer.restarts < this.options.handshakeRestartsMax) {
      this.counters.handshakesRestarted += 1;
      const restarted = this.startPeer(session.address, session.port, {
        queue: peer.queue,
        waiters: peer.waiters,
        restarts: peer.restarts + 1,
      });
      if (!(restarted instanceof NetworkError)) return;
    }
    const error = networkErrorFor(end, session.address, session.port);
    for (const { waiter } of peer.queue.splice(0)) waiter.reject(error);
    for (const waiter of peer.waiters.splice(0)) waiter.reject(error);
  }
}
