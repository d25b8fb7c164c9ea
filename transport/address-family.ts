/**
 * Whether a UDP socket can send to an address of the other IP family. An IPv4 socket reaches no
 * IPv6 address; an IPv6 socket bound to one IPv6 address (::1, say) reaches no IPv4 address;
 * only one bound to the wildcard "::" is dual-stack, and then only when the sender writes the
 * IPv4 address as IPv4-mapped IPv6 (::ffff:a.b.c.d). node:dgram fails each other case with
 * EINVAL, which a protocol that retransmits (a DTLS handshake) would only see as a timeout, and
 * which a peer transport would report like a peer that is down.
 */
import { isIP } from 'node:net';
import { NetworkError } from '../contracts/errors.js';
import { formatAddress } from './rpc-routes.js';

/**
 * Why a socket bound at `bound` cannot send to `address` (`port` only for the message), or null
 * when it can (or when either is not an IP literal). `mapsIpv4`: the sender maps IPv4 addresses
 * for a dual-stack socket.
 */
export function familyMismatch(bound: string, address: string, port: number, mapsIpv4: boolean): string | null {
  const from = isIP(bound);
  const to = isIP(address);
  const place = formatAddress(address, port);
  if (from === 4 && to === 6)
    return `this node's peer socket is IPv4 (bound to ${bound}) and cannot send to the IPv6 address ${place}`;
  if (from === 6 && to === 4 && !(mapsIpv4 && bound === '::'))
    return `this node's peer socket is IPv6 (bound to ${bound}) and cannot send to the IPv4 address ${place}`;
  return null;
}

/**
 * The NET_ADDRESS refusal of a send from a socket bound at `bound` to `address:port` (see
 * {@link familyMismatch}), or null when the socket can send there. Refused before anything is
 * sent, so that the node hears why (agent/runtime/send-refusals.ts) instead of a timeout.
 */
export function familyRefusal(bound: string, address: string, port: number, mapsIpv4: boolean): NetworkError | null {
  const mismatch = familyMismatch(bound, address, port, mapsIpv4);
  return mismatch === null
    ? null
    : new NetworkError('NET_ADDRESS', `${mismatch}: listen on an address of the peers' family`);
}
