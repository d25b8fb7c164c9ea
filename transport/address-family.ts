/**
 * Whether a UDP socket can send to an address of the other IP family, and the one form of an
 * address. An IPv4 socket reaches no IPv6 address; an IPv6 socket bound to one IPv6 address
 * (::1, say) reaches no IPv4 address; only one bound to the wildcard "::" is dual-stack (unless
 * the system makes it IPv6-only), and then only when the sender writes the IPv4 address as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d), which is also the source its IPv4 peers' datagrams have.
 * Our sockets map on send and unmap on receive, so that everything above them knows an IPv4
 * peer by its IPv4 address whichever socket reached it. node:dgram fails each other case with
 * EINVAL, which a protocol that retransmits (a DTLS handshake) would only see as a timeout, and
 * which a peer transport would report like a peer that is down.
 */
import { readFileSync } from 'node:fs';
import { isIP, SocketAddress } from 'node:net';
import { NetworkError } from '../contracts/errors.js';
import { formatAddress, parsePeerAddress } from './rpc-routes.js';

/** How an IPv6 socket names an IPv4 address (RFC 4291 §2.5.5.2). */
export const MAPPED_IPV4_PREFIX = '::ffff:';

let bindsV6Only: boolean | null = null;

/**
 * Whether this system makes an IPv6 socket IPv6-only unless it asks otherwise (Linux's
 * net.ipv6.bindv6only = 1; node:dgram never clears IPV6_V6ONLY). Read once; false where unknown.
 */
export function systemBindsV6Only(): boolean {
  if (bindsV6Only === null) {
    try {
      bindsV6Only = readFileSync('/proc/sys/net/ipv6/bindv6only', 'utf8').trim() === '1';
    } catch {
      bindsV6Only = false;
    }
  }
  return bindsV6Only;
}

/**
 * Whether a UDP socket bound at `bound` is dual-stack: the IPv6 wildcard ("::"), unless IPv6
 * sockets are IPv6-only (`v6Only`, default the system's). It reaches IPv4 peers at their
 * IPv4-mapped form and receives their datagrams from that form.
 */
export function isDualStack(bound: string, v6Only: boolean = systemBindsV6Only()): boolean {
  return !v6Only && isIP(bound) === 6 && /^[0:]+$/.test(bound);
}

/** An IPv4-mapped IPv6 address (what a dual-stack socket reports) as its IPv4 address; any other as it is. */
export function unmappedAddress(address: string): string {
  if (address.length < 14 || address.charCodeAt(0) !== 58 /* ':' */) return address;
  const lower = address.toLowerCase();
  if (!lower.startsWith(MAPPED_IPV4_PREFIX)) return address;
  const ipv4 = lower.slice(MAPPED_IPV4_PREFIX.length);
  return isIP(ipv4) === 4 ? ipv4 : address;
}

/**
 * The one text of an IP literal that addresses are compared and keyed in: IPv4 as it is,
 * IPv4-mapped IPv6 as its IPv4 address, other IPv6 compressed and lowercase (RFC 5952; a zone
 * kept). Anything else (a host name) comes back as it is.
 */
export function canonicalAddress(address: string): string {
  const family = isIP(address);
  if (family !== 6) return address;
  const zone = address.indexOf('%');
  const bare = zone < 0 ? address : address.slice(0, zone);
  let text: string;
  try {
    text = new SocketAddress({ address: bare, family: 'ipv6' }).address;
  } catch {
    text = bare.toLowerCase();
  }
  const unmapped = unmappedAddress(text);
  return unmapped !== text || zone < 0 ? unmapped : `${text}${address.slice(zone)}`;
}

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
  if (from === 6 && to === 4 && !(mapsIpv4 && isDualStack(bound)))
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

/**
 * Whether two "host:port" peer addresses name one place: the same port and the same IP literal in
 * its one form ({@link canonicalAddress}: 127.0.0.1 is ::ffff:127.0.0.1), a host name compared as
 * the literal `literalOf` last resolved it to, else by its text whatever its case. A malformed
 * address equals only its own text.
 */
export function samePeerAddress(
  a: string,
  b: string,
  literalOf: (host: string) => string | null = () => null,
): boolean {
  if (a === b) return true;
  const pa = parsePeerAddress(a);
  const pb = parsePeerAddress(b);
  if (pa === null || pb === null) return false;
  return pa.port === pb.port && hostPlace(pa.host, literalOf) === hostPlace(pb.host, literalOf);
}

/** The form a host is compared in by samePeerAddress. */
function hostPlace(host: string, literalOf: (host: string) => string | null): string {
  if (isIP(host) !== 0) return canonicalAddress(host);
  return literalOf(host) ?? host.toLowerCase();
}
