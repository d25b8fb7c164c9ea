/**
 * The half-open handshakes of a DTLS server: from the ClientHello with a valid cookie to the
 * established session, which is all an attacker who can receive at its address can make a
 * server hold. Three defences keep them from crowding out members:
 *
 * - Admission through a {@link HalfOpenTable}: caps in total, per source address and in bytes,
 *   a share reserved to members' addresses, and the oldest pushed out when full.
 * - Little state while waiting for the client's second flight: a ClientHello that arrived
 *   whole is answered, and then only its bytes, the server random and two sequence numbers
 *   are kept (about 1 KiB in all), with no timers; the handshake is rebuilt from them when the
 *   client's second flight arrives (a {@link Session} is made then) or when the client
 *   repeats its ClientHello (our flight was lost, and is sent again: RFC 6347 §4.2.4 lets
 *   the client's timer drive recovery). A fragmented ClientHello needs reassembly, so it
 *   gets a Session at once and a larger charge.
 * - A short deadline: what is still half-open `clientFlightTimeoutMs` after its admission is
 *   dropped by one sweep timer, in admission order.
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import type { Metrics } from '../../contracts/metrics.js';
import { AlertLevel, ContentType, HandshakeType, RANDOM_BYTES } from './constants.js';
import { peerKey } from './endpoint-common.js';
import { assert } from '../../contracts/assert.js';
import { HalfOpenTable } from './half-open-table.js';
import type { Eviction } from './half-open-table.js';
import { ServerHandshake } from './handshake-server.js';
import type { InitialHello } from './hello-verify.js';
import { RecordLayer } from './record-layer.js';
import type { FlightItem } from './record-layer.js';
import type { RawRecord } from './record.js';
import type { ResolvedServerOptions } from './server-options.js';
import { HALF_OPEN_CHARGE_BYTES, clientRandomOf, rebuildWaiting, sessionChargeBytes } from './half-open-state.js';
import type { PendingHandshake, Running, Waiting } from './half-open-state.js';
import { Session } from './session.js';
import type { SessionHost } from './session.js';
import type { StatsCounters } from './stats.js';

/** What {@link ServerHandshakes} needs from its server. */
export interface ServerHandshakesDeps {
  readonly options: ResolvedServerOptions;
  readonly host: SessionHost;
  readonly timers: Timers;
  readonly counters: StatsCounters;
  /** Reports an error thrown by a timer callback (a bug). */
  report(error: unknown): void;
  /** Counts the limits hit (see DtlsDeps.metrics). */
  readonly metrics: Metrics | null;
}

/** The half-open handshakes of one server; see the module comment. */
export class ServerHandshakes {
  // Invariant: `pending` and `table` hold the same keys, in the same (admission) order.
  private readonly pending = new Map<string, PendingHandshake>();
  private readonly table: HalfOpenTable;
  private sweepTimer: TimerHandle | null = null;
  private readonly sessionCharge: number;

  constructor(private readonly deps: ServerHandshakesDeps) {
    const o = deps.options;
    this.table = new HalfOpenTable({
      countMax: o.handshakesInProgressMax,
      perAddressMax: o.handshakesInProgressPerAddressMax,
      reservedForMembers: o.handshakesReservedForMembers,
      bytesMax: o.handshakesInProgressBytesMax,
    });
    this.sessionCharge = sessionChargeBytes(o.session.handshakeMessageBytesMax);
  }

  /** Half-open handshakes now. */
  get size(): number {
    return this.pending.size;
  }

  /** Bytes charged for them now. */
  get bytes(): number {
    return this.table.bytes;
  }

  /** Those from members' addresses now. */
  get memberCount(): number {
    return this.table.memberCount;
  }

  get(key: string): PendingHandshake | undefined {
    return this.pending.get(key);
  }

  /**
   * Starts a handshake for a ClientHello whose cookie the caller verified, replacing a
   * half-open one of the same address and port; refused (and counted) when no room can be made.
   */
  start(hello: InitialHello, records: readonly RawRecord[], address: string, port: number, key: string): void {
    this.discard(key, 'local');
    const first = records[0];
    assert(first !== undefined, 'a hello arrives in a record');
    const member = this.deps.options.isMemberAddress?.(address) ?? false;
    const { fragment } = hello;
    const layer = new RecordLayer(false, this.deps.options.session.replayWindowSize);
    // RFC 6347 §4.2.1: the server's first record repeats the ClientHello's sequence number.
    layer.setEpoch0WriteSeq(first.seq);
    const role = this.newRole(layer, undefined, address, port);
    if (fragment.body.length !== fragment.length) {
      // A fragmented ClientHello needs a session to reassemble it.
      if (!this.admit(key, address, member, this.sessionCharge)) return;
      const session = new Session(this.deps.host, 'server', address, port, layer, role, fragment.messageSeq);
      const state: Running = { kind: 'session', session, role, clientRandom: Uint8Array.from(hello.prefix.random) };
      this.pending.set(key, { key, address, port, admittedMs: this.deps.timers.nowMs(), state });
      this.armSweep();
      session.receive(records);
      return;
    }
    const outcome = role.handleMessage({
      msgType: HandshakeType.clientHello,
      messageSeq: fragment.messageSeq,
      body: fragment.body,
    });
    if (outcome.kind === 'fail') {
      this.deps.counters.handshakesFailed += 1;
      this.deps.counters.alertsSent += 1;
      this.deps.host.sendDatagram(
        layer.seal(ContentType.alert, 0, Uint8Array.of(AlertLevel.fatal, outcome.alert)),
        address,
        port,
      );
      return;
    }
    assert(outcome.kind === 'flight', 'a ClientHello is answered with a flight or refused');
    if (!this.admit(key, address, member, HALF_OPEN_CHARGE_BYTES.waiting + fragment.body.length)) return;
    const bytes = new Uint8Array(RANDOM_BYTES + fragment.body.length);
    bytes.set(role.serverRandom, 0);
    bytes.set(fragment.body, RANDOM_BYTES);
    const state: Waiting = {
      kind: 'waiting',
      bytes,
      messageSeq: fragment.messageSeq,
      nextWriteSeq: layer.nextWriteSeq(0),
    };
    // Recorded before the flight goes out: if answering fails on a bug, the server's containment
    // discards this key, which frees the slot too. A slot without its handshake would stay for
    // good and make every later expiry sweep fail on it.
    this.pending.set(key, { key, address, port, admittedMs: this.deps.timers.nowMs(), state });
    this.armSweep();
    this.transmit(layer, outcome.items, address, port);
    state.nextWriteSeq = layer.nextWriteSeq(0);
  }

  /** Whether `random` is that of the ClientHello that started `entry` (a repeat of it). */
  startedBy(entry: PendingHandshake, random: Uint8Array): boolean {
    const own = entry.state.kind === 'session' ? entry.state.clientRandom : clientRandomOf(entry.state);
    return own.length === random.length && Buffer.compare(own, random) === 0;
  }

  /** The client repeated the ClientHello of `entry`: our flight was lost, so it goes again. */
  repeat(entry: PendingHandshake, records: readonly RawRecord[]): void {
    const state = entry.state;
    if (state.kind === 'session') {
      state.session.receive(records);
      return;
    }
    this.deps.counters.retransmissions += 1;
    const { layer, flight } = rebuildWaiting(state, this.deps.options.session.replayWindowSize, (layer, random) =>
      this.newRole(layer, random, entry.address, entry.port),
    );
    this.transmit(layer, flight, entry.address, entry.port);
    state.nextWriteSeq = layer.nextWriteSeq(0);
  }

  /** The Session of `entry` if one runs it, else null. */
  sessionOf(entry: PendingHandshake): Session | null {
    return entry.state.kind === 'session' ? entry.state.session : null;
  }

  /**
   * The session of `entry`, made now if it was waiting for the client's second flight (its
   * charge grows, which may push out older handshakes, or this one when nothing else can go);
   * null when it was pushed out.
   */
  sessionFor(entry: PendingHandshake): Session | null {
    const state = entry.state;
    if (state.kind === 'session') return state.session;
    for (const eviction of this.table.recharge(entry.key, this.sessionCharge)) this.evict(eviction);
    if (this.pending.get(entry.key) !== entry) return null;
    const { layer, role } = rebuildWaiting(state, this.deps.options.session.replayWindowSize, (layer, random) =>
      this.newRole(layer, random, entry.address, entry.port),
    );
    const session = new Session(this.deps.host, 'server', entry.address, entry.port, layer, role, state.messageSeq + 1);
    entry.state = { kind: 'session', session, role, clientRandom: Uint8Array.from(clientRandomOf(state)) };
    return session;
  }

  /** Takes the handshake of `session` out (it completed); undefined if it is not one of ours. */
  established(session: Session): Running | undefined {
    const entry = this.pending.get(peerKey(session.address, session.port));
    if (entry === undefined || entry.state.kind !== 'session' || entry.state.session !== session) return undefined;
    this.pending.delete(entry.key);
    this.table.remove(entry.key);
    return entry.state;
  }

  /** Forgets the handshake of `session` if it ended while half-open. */
  ended(session: Session): void {
    const key = peerKey(session.address, session.port);
    const entry = this.pending.get(key);
    if (entry === undefined || entry.state.kind !== 'session' || entry.state.session !== session) return;
    this.pending.delete(key);
    this.table.remove(key);
  }

  /** Drops the half-open handshake of `key`, if any, as a failed handshake. */
  discard(key: string, reason: 'local' | 'internal'): void {
    const entry = this.pending.get(key);
    if (entry === undefined) return;
    this.pending.delete(key);
    this.table.remove(key);
    if (entry.state.kind === 'session') entry.state.session.drop(reason);
    else this.deps.counters.handshakesFailed += 1;
  }

  /** Drops the half-open handshakes that presented `identity`; returns how many. */
  discardIdentity(identity: string): number {
    // A waiting handshake has read no identity yet.
    const keys = [...this.pending.values()]
      .filter((e) => e.state.kind === 'session' && e.state.role.identity === identity)
      .map((e) => e.key);
    for (const key of keys) this.discard(key, 'local');
    return keys.length;
  }

  /** Drops every half-open handshake and stops the sweep. */
  close(): void {
    for (const key of [...this.pending.keys()]) this.discard(key, 'local');
    this.sweepTimer?.cancel();
    this.sweepTimer = null;
  }

  /** Checks that the table and the handshakes agree; throws InvariantError on a bug. */
  checkInvariants(): void {
    this.table.checkInvariants();
    assert(this.table.count === this.pending.size, 'the table counts every half-open handshake');
    for (const entry of this.pending.values())
      assert(this.table.has(entry.key), 'every half-open handshake has a slot');
  }

  /** The handshake logic of a handshake from `address:port` (which the key lookup learns, for its logs). */
  private newRole(
    layer: RecordLayer,
    serverRandom: Uint8Array | undefined,
    address: string,
    port: number,
  ): ServerHandshake {
    const o = this.deps.options;
    return new ServerHandshake({
      records: layer,
      randomBytes: this.deps.host.randomBytes,
      pskLookup: (identity) => o.pskLookup(identity, { address, port }),
      identityHint: o.pskIdentityHint,
      pskIdentityBytesMax: o.session.pskIdentityBytesMax,
      requireExtendedMasterSecret: o.session.requireExtendedMasterSecret,
      connectionIdBytes: o.connectionIdBytes,
      ...(serverRandom === undefined ? {} : { serverRandom }),
    });
  }

  private admit(key: string, address: string, member: boolean, bytes: number): boolean {
    // No capacity is withheld for full session tables: a completed handshake always gets a
    // session (the server makes room within sessionsMax and sessionsPerIdentityMax).
    const admission = this.table.admit({ key, address, member, bytes });
    if (!admission.admitted) {
      this.deps.counters.drop('limit');
      this.deps.metrics?.increment('dtls_half_open_refusals_total', 1);
      return false;
    }
    for (const eviction of admission.evicted) this.evict(eviction);
    return true;
  }

  private evict(eviction: Eviction): void {
    this.deps.counters.handshakesEvicted[eviction.reason] += 1;
    this.deps.metrics?.increment('dtls_half_open_evictions_total', 1, { limit: eviction.reason });
    this.discard(eviction.key, 'local');
  }

  private transmit(layer: RecordLayer, flight: readonly FlightItem[], address: string, port: number): void {
    for (const datagram of layer.encodeFlight(flight, this.deps.options.session.handshakeDatagramBytesMax)) {
      this.deps.host.sendDatagram(datagram, address, port);
    }
  }

  /** Arms the sweep while handshakes are half-open; call it after recording one (it needs `pending` to hold it). */
  private armSweep(): void {
    if (this.sweepTimer !== null || this.pending.size === 0) return;
    const periodMs = Math.min(1000, Math.max(25, Math.floor(this.deps.options.clientFlightTimeoutMs / 4)));
    this.sweepTimer = this.deps.timers.setTimer(periodMs, () => {
      this.sweepTimer = null;
      try {
        this.expire();
      } catch (error) {
        // A timer callback must not throw: report the bug; the next sweep tries again.
        this.deps.report(error);
      }
      this.armSweep();
    });
  }

  /** Drops the handshakes admitted more than clientFlightTimeoutMs ago, oldest first. */
  private expire(): void {
    const horizonMs = this.deps.timers.nowMs() - this.deps.options.clientFlightTimeoutMs;
    for (let slot = this.table.oldest(); slot !== undefined; slot = this.table.oldest()) {
      const entry = this.pending.get(slot.key);
      assert(entry !== undefined, 'every slot has its handshake');
      if (entry.admittedMs > horizonMs) return;
      this.deps.counters.handshakesExpired += 1;
      this.deps.metrics?.increment('dtls_half_open_expired_total', 1);
      this.discard(slot.key, 'local');
    }
  }
}
