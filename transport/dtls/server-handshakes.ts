/**
 * The half-open handshakes of a DTLS server: from the ClientHello with a valid cookie to the
 * established session, which is all an attacker who can receive at its address can make a
 * server hold. Three defences keep them from crowding out members:
 *
 * - Admission through a {@link HalfOpenTable}: caps in total, per source address and in bytes,
 *   a share reserved to members' addresses, and the oldest pushed out when full.
 * - Little state while waiting for the client's second flight: a ClientHello that arrived
 *   whole is answered from a compact record (the handshake role, its record layer and the
 *   ServerHello flight, about 3 KiB) with no timers; the server does not retransmit by
 *   timer but when the client repeats its ClientHello (RFC 6347 §4.2.4 lets the client's
 *   timer drive recovery). A {@link Session} is made only when the client's second flight
 *   arrives (or at once for a fragmented ClientHello, which needs reassembly).
 * - A short deadline: what is still half-open `clientFlightTimeoutMs` after its admission is
 *   dropped by one sweep timer, in admission order.
 */
import type { TimerHandle, Timers } from '../../agent/contracts.js';
import { AlertLevel, ContentType, HandshakeType } from './constants.js';
import { peerKey } from './endpoint-common.js';
import { assert } from './errors.js';
import { HalfOpenTable } from './half-open-table.js';
import type { Eviction } from './half-open-table.js';
import { ServerHandshake } from './handshake-server.js';
import type { InitialHello } from './hello-verify.js';
import { RecordLayer } from './record-layer.js';
import type { FlightItem } from './record-layer.js';
import type { RawRecord } from './record.js';
import type { ResolvedServerOptions } from './server-options.js';
import { MESSAGES_AHEAD_MAX, Session } from './session.js';
import type { SessionHost } from './session.js';
import type { StatsCounters } from './stats.js';

/**
 * Upper bounds of the heap one half-open handshake holds, in bytes, measured with
 * test/transport/dtls/half-open-memory.test.ts (which fails if they stop being bounds).
 */
export const HALF_OPEN_CHARGE_BYTES = {
  /** Waiting for the client's second flight, plus the ClientHello's length. */
  waiting: 3072,
  /** With a Session (retransmitter, reassembler, timers), plus its reassembly buffers. */
  session: 10240,
} as const;

/** The charge of a half-open handshake with a Session: its base and its largest reassembly buffers (body and coverage map). */
export function sessionChargeBytes(handshakeMessageBytesMax: number): number {
  return HALF_OPEN_CHARGE_BYTES.session + (MESSAGES_AHEAD_MAX.server + 1) * 2 * handshakeMessageBytesMax;
}

/** What the server keeps of one half-open handshake. */
export interface PendingHandshake {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  /** The random of the ClientHello that started it: a repeat of that hello is a retransmission. */
  readonly clientRandom: Uint8Array;
  readonly role: ServerHandshake;
  /** On the injected clock. */
  readonly admittedMs: number;
  // Invariant: exactly one of `waiting` and `session` is non-null.
  /** The compact form: record layer and ServerHello flight, until the client's second flight. */
  waiting: { readonly layer: RecordLayer; readonly flight: readonly FlightItem[]; readonly clientNextSeq: number } | null;
  session: Session | null;
}

/** What {@link ServerHandshakes} needs from its server. */
export interface ServerHandshakesDeps {
  readonly options: ResolvedServerOptions;
  readonly host: SessionHost;
  readonly timers: Timers;
  readonly counters: StatsCounters;
  /** How many more sessions the server may hold if `key` completes a handshake. */
  sessionSlotsFree(key: string): number;
  /** Reports an error thrown by a timer callback (a bug). */
  report(error: unknown): void;
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
    const role = this.newRole(layer);
    const base = { key, address, port, clientRandom: Uint8Array.from(hello.prefix.random), role };
    if (fragment.body.length !== fragment.length) {
      // A fragmented ClientHello needs a session to reassemble it.
      if (!this.admit(key, address, member, this.sessionCharge)) return;
      const session = new Session(this.deps.host, 'server', address, port, layer, role, fragment.messageSeq);
      this.pending.set(key, { ...base, admittedMs: this.deps.timers.nowMs(), waiting: null, session });
      session.receive(records);
      return;
    }
    const outcome = role.handleMessage({ msgType: HandshakeType.clientHello, messageSeq: fragment.messageSeq, body: fragment.body });
    if (outcome.kind === 'fail') {
      this.deps.counters.handshakesFailed += 1;
      this.deps.counters.alertsSent += 1;
      this.deps.host.sendDatagram(layer.seal(ContentType.alert, 0, Uint8Array.of(AlertLevel.fatal, outcome.alert)), address, port);
      return;
    }
    assert(outcome.kind === 'flight', 'a ClientHello is answered with a flight or refused');
    if (!this.admit(key, address, member, HALF_OPEN_CHARGE_BYTES.waiting + fragment.body.length)) return;
    const waiting = { layer, flight: outcome.items, clientNextSeq: fragment.messageSeq + 1 };
    this.pending.set(key, { ...base, admittedMs: this.deps.timers.nowMs(), waiting, session: null });
    this.transmit(waiting.layer, waiting.flight, address, port);
  }

  /** The client repeated the ClientHello of `entry`: our flight was lost, so it goes again. */
  repeat(entry: PendingHandshake, records: readonly RawRecord[]): void {
    if (entry.session !== null) {
      entry.session.receive(records);
      return;
    }
    assert(entry.waiting !== null, 'a handshake without a session is waiting');
    this.deps.counters.retransmissions += 1;
    this.transmit(entry.waiting.layer, entry.waiting.flight, entry.address, entry.port);
  }

  /**
   * The session of `entry`, made now if it was waiting for the client's second flight (its
   * charge grows, which may push out older handshakes, or this one when nothing else can go);
   * null when it was pushed out.
   */
  sessionFor(entry: PendingHandshake): Session | null {
    if (entry.session !== null) return entry.session;
    const waiting = entry.waiting;
    assert(waiting !== null, 'a handshake without a session is waiting');
    for (const eviction of this.table.recharge(entry.key, this.sessionCharge)) this.evict(eviction);
    if (this.pending.get(entry.key) !== entry) return null;
    entry.session = new Session(this.deps.host, 'server', entry.address, entry.port, waiting.layer, entry.role, waiting.clientNextSeq);
    entry.waiting = null;
    return entry.session;
  }

  /** Takes the handshake of `session` out (it completed); undefined if it is not one of ours. */
  established(session: Session): PendingHandshake | undefined {
    const entry = this.pending.get(peerKey(session.address, session.port));
    if (entry?.session !== session) return undefined;
    this.pending.delete(entry.key);
    this.table.remove(entry.key);
    return entry;
  }

  /** Forgets the handshake of `session` if it ended while half-open. */
  ended(session: Session): void {
    const key = peerKey(session.address, session.port);
    const entry = this.pending.get(key);
    if (entry?.session !== session) return;
    this.pending.delete(key);
    this.table.remove(key);
  }

  /** Drops the half-open handshake of `key`, if any, as a failed handshake. */
  discard(key: string, reason: 'local' | 'internal'): void {
    const entry = this.pending.get(key);
    if (entry === undefined) return;
    this.pending.delete(key);
    this.table.remove(key);
    if (entry.session !== null) entry.session.drop(reason);
    else this.deps.counters.handshakesFailed += 1;
  }

  /** Drops the half-open handshakes that presented `identity`; returns how many. */
  discardIdentity(identity: string): number {
    const keys = [...this.pending.values()].filter((e) => e.role.identity === identity).map((e) => e.key);
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
    for (const entry of this.pending.values()) {
      assert(this.table.has(entry.key), 'every half-open handshake has a slot');
      assert((entry.waiting === null) !== (entry.session === null), 'a handshake is either waiting or has a session');
    }
  }

  private newRole(layer: RecordLayer): ServerHandshake {
    const o = this.deps.options;
    return new ServerHandshake({
      records: layer,
      randomBytes: this.deps.host.randomBytes,
      pskLookup: o.pskLookup,
      identityHint: o.pskIdentityHint,
      pskIdentityBytesMax: o.session.pskIdentityBytesMax,
      requireExtendedMasterSecret: o.session.requireExtendedMasterSecret,
    });
  }

  private admit(key: string, address: string, member: boolean, bytes: number): boolean {
    const admission = this.table.admit({ key, address, member, bytes }, this.deps.sessionSlotsFree(key));
    if (!admission.admitted) {
      this.deps.counters.drop('limit');
      return false;
    }
    for (const eviction of admission.evicted) this.evict(eviction);
    this.armSweep();
    return true;
  }

  private evict(eviction: Eviction): void {
    this.deps.counters.handshakesEvicted[eviction.reason] += 1;
    this.discard(eviction.key, 'local');
  }

  private transmit(layer: RecordLayer, flight: readonly FlightItem[], address: string, port: number): void {
    for (const datagram of layer.encodeFlight(flight, this.deps.options.session.handshakeDatagramBytesMax)) {
      this.deps.host.sendDatagram(datagram, address, port);
    }
  }

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
      this.discard(slot.key, 'local');
    }
  }
}
