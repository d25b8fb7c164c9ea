/**
 * The key that names a peer in a server's tables (duplicate cache, block-wise transfers,
 * notifications): its address, port and authenticated identity. Every request needs it, and
 * building it from its parts is a string concatenation per datagram, so keys of peers without
 * an identity (plain UDP: the local endpoint's clients) are kept in a bounded cache by address
 * and port, cleared when full.
 */
import { assert } from '../../contracts/assert.js';
import type { DatagramPeer } from '../datagram.js';

/** Identifies a peer: address, port and authenticated identity. */
export function peerKeyOf(peer: DatagramPeer): string {
  return `${peer.address}|${peer.port}|${peer.identity ?? ''}`;
}

/** peerKeyOf through a cache of at most `entriesMax` keys; see the module comment. */
export class PeerKeys {
  private readonly byAddress = new Map<string, Map<number, string>>();
  private cached = 0;

  constructor(private readonly entriesMax: number) {
    assert(Number.isInteger(entriesMax) && entriesMax >= 1, 'the peer key cache holds at least one key');
  }

  /** The key of `peer`, equal to peerKeyOf(peer). */
  keyOf(peer: DatagramPeer): string {
    if (peer.identity !== null) return peerKeyOf(peer);
    let ports = this.byAddress.get(peer.address);
    const cached = ports?.get(peer.port);
    if (cached !== undefined) return cached;
    if (this.cached >= this.entriesMax) {
      this.byAddress.clear();
      this.cached = 0;
      ports = undefined;
    }
    if (ports === undefined) {
      ports = new Map();
      this.byAddress.set(peer.address, ports);
    }
    const key = peerKeyOf(peer);
    ports.set(peer.port, key);
    this.cached += 1;
    assert(this.cached <= this.entriesMax, 'the peer key cache stays within its limit');
    return key;
  }

  /** How many keys are cached. */
  get size(): number {
    return this.cached;
  }
}
