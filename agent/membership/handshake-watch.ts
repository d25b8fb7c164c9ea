/**
 * Logs the DTLS handshakes a peer server refused after looking the key up: a peer presenting
 * a known identity with the wrong key (a forged or stale bundle) fails at the Finished check,
 * inside the DTLS layer, which reports failures only as a counter. This wraps the server
 * endpoint and turns growth of that counter into a warning, at most one per REFUSAL_REPEAT_PERIOD_MS. Only
 * authentication failures count: half-open handshakes evicted or expired under a flood are
 * load, not a refused key, and have counters of their own. The local endpoint's coaps server is
 * watched too, with a warning of its own: a local application with a wrong endpoint key or
 * identity otherwise failed with nothing in the agent's log.
 */
import type { DatagramEndpoint } from '../../transport/datagram.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { Metrics } from '../../contracts/metrics.js';
import { REFUSAL_REPEAT_PERIOD_MS } from './authenticated.js';

/** A datagram endpoint that counts its failed handshakes (our DTLS server). */
export interface HandshakeCounting extends DatagramEndpoint {
  stats(): { readonly handshakesAuthFailed: number };
}

/** Period of the check, ms. */
export const HANDSHAKE_WATCH_PERIOD_MS = 2000;

/** What each watched server's warning says. */
const WARNINGS = {
  peer: 'refused peer handshakes that failed authentication (wrong key, or not a member)',
  endpoint:
    'refused local endpoint handshakes that failed authentication (a wrong endpoint key, or an identity ' +
    'other than the kv and admin ones of endpointKeys)',
} as const;

/**
 * Returns `server` with a watch on its failed handshakes, stopped when it closes. `role` names the
 * server in the warning; only the peer server's failures count in `membership_refusals_total`.
 * Failures that go on (a member left out by a recovery retrying for hours) give a line at most
 * every `repeatMs`, with the count since the line before; the metric counts them every period.
 */
export function watchHandshakeFailures(
  server: HandshakeCounting,
  node: string,
  logger: DiagnosticLogger,
  metrics: Metrics | null = null,
  periodMs = HANDSHAKE_WATCH_PERIOD_MS,
  role: keyof typeof WARNINGS = 'peer',
  repeatMs = REFUSAL_REPEAT_PERIOD_MS,
): DatagramEndpoint {
  let counted = server.stats().handshakesAuthFailed;
  let logged = counted;
  let lineAtMs = -Infinity;
  const timer = setInterval(() => {
    const failed = server.stats().handshakesAuthFailed;
    if (failed === counted) return;
    if (role === 'peer') metrics?.increment('membership_refusals_total', failed - counted, { where: 'handshake-key' });
    counted = failed;
    const now = Date.now();
    if (now - lineAtMs < repeatMs) return;
    logger.warning(WARNINGS[role], {
      node,
      failed: failed - logged,
      ...(lineAtMs === -Infinity ? {} : { sinceMs: Math.round(now - lineAtMs) }),
    });
    logged = failed;
    lineAtMs = now;
  }, periodMs);
  timer.unref();
  const watched: DatagramEndpoint = {
    send: (data, address, port) => server.send(data, address, port),
    onMessage: (handler) => server.onMessage(handler),
    localAddress: () => server.localAddress(),
    close: async () => {
      clearInterval(timer);
      await server.close();
    },
  };
  // The server's own ways to send stay available (the CoAP server answers through `post`).
  if (server.post !== undefined) watched.post = server.post.bind(server);
  if (server.sendParts !== undefined) watched.sendParts = server.sendParts.bind(server);
  return watched;
}
