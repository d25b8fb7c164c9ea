/**
 * The address lookup of our UDP sockets (node:dgram's `lookup` option). node:dgram resolves the
 * address of every datagram it sends through dns.lookup, which for an IP literal still checks
 * the text and calls back on process.nextTick; the datagram leaves only then. Sent from a
 * promise job (the Ready loop runs in one), it therefore waited until the whole microtask queue
 * had run: a leader's AppendEntries left after its own inline WAL sync, and a follower's answer
 * after the work queued behind it (traced, issue 16: 0.4 ms of the median single-client write).
 * Peers and clients are always named by IP literals here: this lookup answers a literal within
 * the call, so the datagram is on the wire when send returns, and the last one from a memo
 * without checking it again; a host name still goes to dns.lookup (node:dns loads on the first:
 * about 0.3 MiB and a millisecond of start-up that a cluster of IP literals never needs). */
import type { LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import { MAPPED_IPV4_PREFIX } from './address-family.js';

/** The callback of a dgram lookup. */
export type LookupCallback = (error: NodeJS.ErrnoException | null, address: string, family: number) => void;

/** A dgram `lookup` function. */
export type DatagramLookup = (hostname: string, options: LookupOneOptions | number, callback: LookupCallback) => void;

/**
 * A lookup for one socket that answers IP literals synchronously; see the module comment.
 * `mapIpv4`: the socket is dual-stack IPv6 (address-family.ts): an IPv4 literal is answered in
 * its IPv4-mapped IPv6 form, the only form such a socket sends to.
 */
export function literalLookup(mapIpv4 = false): DatagramLookup {
  let lastHost = '';
  let lastAddress = '';
  let lastFamily = 0;
  return (hostname, options, callback) => {
    if (hostname === lastHost) return callback(null, lastAddress, lastFamily);
    let family = isIP(hostname);
    if (family === 0) {
      const lookupOptions = typeof options === 'number' ? { family: options } : options;
      import('node:dns').then(
        (dns) => dns.lookup(hostname, lookupOptions, callback),
        (error: NodeJS.ErrnoException) => callback(error, '', 0),
      );
      return;
    }
    let address = hostname;
    if (mapIpv4 && family === 4) {
      address = `${MAPPED_IPV4_PREFIX}${hostname}`;
      family = 6;
    }
    lastHost = hostname;
    lastAddress = address;
    lastFamily = family;
    callback(null, address, family);
  };
}
