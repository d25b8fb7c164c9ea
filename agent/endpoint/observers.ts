/**
 * Observe registrations (RFC 7641) of the local endpoint: who watches which resource, with the
 * token to notify them under, the sequence number of their next notification, and what the
 * endpoint needs to tell a live observer from a gone one (when it last confirmed a
 * notification, the message id an RST would name).
 *
 * The table is bounded in total and per client endpoint, and a new observer always gets in:
 * past `observersPerPeerMax` the client's own oldest registration is evicted, past
 * `observersMax` the oldest registration of all. A refreshed registration (the same client,
 * token and resource again) counts as new. This is a pure data structure: no clock, no I/O.
 */
import type { DatagramPeer } from '../../transport/datagram.js';
import { assert } from '../../contracts/assert.js';

/** Limits of the table. */
export interface ObserverTableOptions {
  /** Most registrations. */
  readonly observersMax: number;
  /** Most registrations of one client endpoint (address, port, identity). */
  readonly observersPerPeerMax: number;
}

/** One observer of one resource. */
export interface Registration {
  readonly key: string;
  readonly resource: string;
  readonly peer: DatagramPeer;
  readonly peerKey: string;
  readonly token: Uint8Array;
  /** The Observe value of the next notification (24 bits, wraps). */
  seq: number;
  /** Notifications sent since the last confirmable one (or the registration). */
  sinceConfirmable: number;
  /** When the last confirmable notification was sent, or the registration made, ms. */
  confirmableAtMs: number;
  /** A confirmable notification awaits its ACK (Invariant: at most one per registration). */
  confirmablePending: boolean;
  /** The message id of the last non-confirmable notification, which an RST would name. */
  lastMessageId: number | null;
}

/** Why a registration was evicted to make room: the limit's option name. */
export type EvictionReason = 'observersMax' | 'observersPerPeerMax';

/** A registration and what it displaced. */
export interface Registered {
  readonly registration: Registration;
  readonly evicted: readonly { readonly registration: Registration; readonly reason: EvictionReason }[];
}

/** The key of a client endpoint. */
export function peerKeyOf(peer: DatagramPeer): string {
  return `${peer.address}|${peer.port}|${peer.identity ?? ''}`;
}

/** Bounded Observe registrations; see the module comment. */
export class ObserverTable {
  /** Every registration, oldest first. */
  private readonly all = new Map<string, Registration>();
  private readonly byResource = new Map<string, Map<string, Registration>>();
  /** Each client's registrations, oldest first. */
  private readonly byPeer = new Map<string, Map<string, Registration>>();
  /** Registrations by the message id of their last non-confirmable notification. */
  private readonly byMessage = new Map<string, Registration>();

  /**
   * @param onRemove told of every registration that leaves the table (removed, evicted,
   *   refreshed, cleared), so that state kept beside a registration leaves with it.
   */
  constructor(
    private readonly options: ObserverTableOptions,
    private readonly onRemove: (registration: Registration) => void = () => undefined,
  ) {
    assert(options.observersPerPeerMax >= 1, 'an observer table admits one registration per peer');
    assert(options.observersMax >= options.observersPerPeerMax, 'the per-peer bound is within the total bound');
  }

  size(): number {
    return this.all.size;
  }

  /** Registers (or refreshes) an observer made at `nowMs`, evicting what the limits require. */
  register(resource: string, peer: DatagramPeer, token: Uint8Array, nowMs: number): Registered {
    const peerKey = peerKeyOf(peer);
    const key = `${resource}|${peerKey}|${Buffer.from(token).toString('hex')}`;
    const existing = this.all.get(key);
    if (existing !== undefined) this.remove(existing);
    const evicted: { registration: Registration; reason: EvictionReason }[] = [];
    const own = this.byPeer.get(peerKey);
    if (own !== undefined && own.size >= this.options.observersPerPeerMax) {
      const oldest = own.values().next();
      if (oldest.done !== true && this.remove(oldest.value))
        evicted.push({ registration: oldest.value, reason: 'observersPerPeerMax' });
    }
    if (this.all.size >= this.options.observersMax) {
      const oldest = this.all.values().next();
      if (oldest.done !== true && this.remove(oldest.value))
        evicted.push({ registration: oldest.value, reason: 'observersMax' });
    }
    const registration: Registration = existing ?? {
      key,
      resource,
      peer,
      peerKey,
      token: token.slice(),
      seq: 2,
      sinceConfirmable: 0,
      confirmableAtMs: nowMs,
      confirmablePending: false,
      lastMessageId: null,
    };
    // A refresh is a confirmed exchange too (the client asked again).
    registration.sinceConfirmable = 0;
    registration.confirmableAtMs = nowMs;
    this.insert(registration);
    return { registration, evicted };
  }

  /** Removes the observer of `resource` with this client and token; true when there was one. */
  deregister(resource: string, peer: DatagramPeer, token: Uint8Array): boolean {
    const registration = this.all.get(`${resource}|${peerKeyOf(peer)}|${Buffer.from(token).toString('hex')}`);
    return registration !== undefined && this.remove(registration);
  }

  /** Removes exactly this registration (not a later one under the same key); true when it was held. */
  remove(registration: Registration): boolean {
    if (this.all.get(registration.key) !== registration) return false;
    this.all.delete(registration.key);
    deleteFrom(this.byResource, registration.resource, registration.key);
    deleteFrom(this.byPeer, registration.peerKey, registration.key);
    if (registration.lastMessageId !== null)
      this.byMessage.delete(`${registration.peerKey}#${registration.lastMessageId}`);
    this.onRemove(registration);
    return true;
  }

  /** Whether exactly this registration is held. */
  holds(registration: Registration): boolean {
    return this.all.get(registration.key) === registration;
  }

  /** The registration whose last non-confirmable notification had `messageId`, if held. */
  byMessageId(peer: DatagramPeer, messageId: number): Registration | undefined {
    return this.byMessage.get(`${peerKeyOf(peer)}#${messageId}`);
  }

  /** Records the message id of a non-confirmable notification just sent to `registration`. */
  noteMessageId(registration: Registration, messageId: number): void {
    if (this.all.get(registration.key) !== registration) return;
    if (registration.lastMessageId !== null)
      this.byMessage.delete(`${registration.peerKey}#${registration.lastMessageId}`);
    registration.lastMessageId = messageId;
    this.byMessage.set(`${registration.peerKey}#${messageId}`, registration);
  }

  /** Every registration, oldest first. */
  registrations(): Registration[] {
    return [...this.all.values()];
  }

  observersOf(resource: string): Registration[] {
    return [...(this.byResource.get(resource)?.values() ?? [])];
  }

  /** The resources that have a registration, whose names start with `prefix`. */
  resourcesUnder(prefix: string): string[] {
    return [...this.byResource.keys()].filter((resource) => resource.startsWith(prefix));
  }

  /** The Observe value to send next to `registration`, advancing it. */
  nextSeq(registration: Registration): number {
    const seq = registration.seq;
    registration.seq = (registration.seq + 1) % 0x1000000;
    return seq;
  }

  clear(): void {
    const held = [...this.all.values()];
    this.all.clear();
    this.byResource.clear();
    this.byPeer.clear();
    this.byMessage.clear();
    for (const registration of held) this.onRemove(registration);
  }

  private insert(registration: Registration): void {
    this.all.set(registration.key, registration);
    addTo(this.byResource, registration.resource, registration);
    addTo(this.byPeer, registration.peerKey, registration);
    if (registration.lastMessageId !== null)
      this.byMessage.set(`${registration.peerKey}#${registration.lastMessageId}`, registration);
    assert(this.all.size <= this.options.observersMax, 'registrations within observersMax');
    assert(
      (this.byPeer.get(registration.peerKey)?.size ?? 0) <= this.options.observersPerPeerMax,
      'registrations within observersPerPeerMax',
    );
  }
}

function addTo(index: Map<string, Map<string, Registration>>, group: string, registration: Registration): void {
  let members = index.get(group);
  if (members === undefined) {
    members = new Map();
    index.set(group, members);
  }
  members.set(registration.key, registration);
}

function deleteFrom(index: Map<string, Map<string, Registration>>, group: string, key: string): void {
  const members = index.get(group);
  if (members === undefined) return;
  members.delete(key);
  if (members.size === 0) index.delete(group);
}
