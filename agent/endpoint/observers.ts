/**
 * Observe registrations (RFC 7641) of the local endpoint: who watches which resource, with the
 * token to notify them under and the sequence number of their next notification. The table is
 * bounded; past `observersMax` a GET with Observe is answered once without a registration.
 */
import type { DatagramPeer } from '../../transport/datagram.js';

/** One observer of one resource. */
export interface Registration {
  readonly peer: DatagramPeer;
  readonly token: Uint8Array;
  /** The Observe value of the next notification (24 bits, wraps). */
  seq: number;
}

function keyOf(peer: DatagramPeer, token: Uint8Array): string {
  return `${peer.address}:${peer.port}|${Buffer.from(token).toString('hex')}`;
}

export class ObserverTable {
  private readonly byResource = new Map<string, Map<string, Registration>>();
  private count = 0;

  constructor(private readonly observersMax: number) {}

  size(): number {
    return this.count;
  }

  /** Registers (or refreshes) an observer; returns it, or null when the table is full. */
  register(resource: string, peer: DatagramPeer, token: Uint8Array): Registration | null {
    let observers = this.byResource.get(resource);
    const key = keyOf(peer, token);
    const existing = observers?.get(key);
    if (existing !== undefined) return existing;
    if (this.count >= this.observersMax) return null;
    if (observers === undefined) {
      observers = new Map();
      this.byResource.set(resource, observers);
    }
    const registration: Registration = { peer, token: token.slice(), seq: 2 };
    observers.set(key, registration);
    this.count += 1;
    return registration;
  }

  deregister(resource: string, peer: DatagramPeer, token: Uint8Array): void {
    const observers = this.byResource.get(resource);
    if (observers?.delete(keyOf(peer, token)) === true) {
      this.count -= 1;
      if (observers.size === 0) this.byResource.delete(resource);
    }
  }

  observersOf(resource: string): Registration[] {
    return [...(this.byResource.get(resource)?.values() ?? [])];
  }

  /** The Observe value to send next to `registration`, advancing it. */
  nextSeq(registration: Registration): number {
    const seq = registration.seq;
    registration.seq = (registration.seq + 1) % 0x1000000;
    return seq;
  }

  clear(): void {
    this.byResource.clear();
    this.count = 0;
  }
}
