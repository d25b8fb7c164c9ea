/**
 * Logs the peer sessions that a newer handshake of the same identity replaced on this node's
 * DTLS server (DtlsDeps.onSessionReplaced). A peer that starts over from its address is routine
 * (info); one whose new session pushed out an older one from another address is not (warning):
 * it restarts often, or two processes hold its keys (a cloned gateway, a removed one still
 * running with a copy), and each then replaces the other's sessions. The DTLS layer only counts
 * these; this names the identity and both addresses, at most once per identity per period, with
 * the number left out since.
 */
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { SessionReplacement } from '../../transport/dtls/options.js';
import { formatAddress } from '../../transport/rpc-routes.js';

/** Shortest time between two lines about one identity, ms. */
export const SESSION_REPLACEMENT_LOG_PERIOD_MS = 60_000;

/** Most identities remembered; past it the memory starts over (a line may come early). */
export const SESSION_REPLACEMENT_IDENTITIES_MAX = 1024;

interface Seen {
  lastLoggedMs: number;
  suppressed: number;
}

/** A DtlsDeps.onSessionReplaced that logs as the module comment says. */
export function sessionReplacementLog(
  node: string,
  logger: DiagnosticLogger,
  nowMs: () => number,
  periodMs = SESSION_REPLACEMENT_LOG_PERIOD_MS,
): (replacement: SessionReplacement) => void {
  // Invariant: seen.size <= SESSION_REPLACEMENT_IDENTITIES_MAX.
  const seen = new Map<string, Seen>();
  return (replacement) => {
    const now = nowMs();
    const last = seen.get(replacement.identity);
    if (last !== undefined && now - last.lastLoggedMs < periodMs) {
      last.suppressed += 1;
      return;
    }
    if (last === undefined && seen.size >= SESSION_REPLACEMENT_IDENTITIES_MAX) seen.clear();
    seen.set(replacement.identity, { lastLoggedMs: now, suppressed: 0 });
    const fields = {
      node,
      identity: replacement.identity,
      previous: formatAddress(replacement.previous.address, replacement.previous.port),
      next: formatAddress(replacement.next.address, replacement.next.port),
      reason: replacement.reason,
      suppressed: last?.suppressed ?? 0,
    };
    if (replacement.reason === 'address')
      logger.info('a peer started its session over from the same address: the older session was replaced', fields);
    else
      logger.warning(
        'a new session of a peer replaced its older one from another address (the peer restarts often, ' +
          'or two processes hold its keys)',
        fields,
      );
  };
}
