/**
 * The check that the host of `listen.peer` resolves, made before the agent opens anything. The
 * peer sockets bind that host, and a name that does not resolve ended the start-up with a bare
 * getaddrinfo error and exit 70 (internal error), as if it were a bug.
 *
 * It is an operating error, exit 69 (EX_UNAVAILABLE), not a configuration error (78): whether a
 * name resolves depends on the resolver at that moment (DNS, mDNS or a hosts file that comes up
 * after the agent on a gateway's boot), not on the file alone, so `coraft config check` cannot
 * decide it. systemd restarts the agent on 69 and not on 78 (RestartPreventExitStatus), so a
 * name that resolves once the network is up recovers on its own.
 */
import { isIP } from 'node:net';
import { NetworkError, describeError } from '../../contracts/errors.js';

/** Resolves a host name to an address; rejects when it does not resolve. */
export type HostLookup = (host: string) => Promise<unknown>;

/** The operating system's resolver (node:dns loads on the first call, never for an IP literal). */
export const systemHostLookup: HostLookup = async (host) => (await import('node:dns/promises')).lookup(host);

/**
 * Resolves when `host`, the host of listen.peer, is an IP literal or a name that `lookup`
 * resolves; rejects with a NetworkError (NET_UNREACHABLE, exit 69) naming the field otherwise.
 */
export async function checkListenPeerHost(host: string, lookup: HostLookup): Promise<void> {
  if (isIP(host) !== 0) return;
  try {
    await lookup(host);
  } catch (error) {
    throw new NetworkError(
      'NET_UNREACHABLE',
      `listen.peer: cannot resolve the host ${JSON.stringify(host)} (${describeError(error)}); ` +
        'use an IP address, or a name the resolver knows when the agent starts',
      { cause: error },
    );
  }
}
