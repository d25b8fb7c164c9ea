/**
 * Logs the DTLS handshakes a peer server refused after looking the key up: a peer presenting
 * a known identity with the wrong key (a forged or stale bundle) fails at the Finished check,
 * inside the DTLS layer, which reports failures only as a counter. This wraps the server
 * endpoint and turns growth of that counter into one rate-limited warning per period. Only
 * authentication failures count: half-open handshakes evicted or expired under a flood are
 * load, not a refused key, and have counters of their own.
 */
import type { DatagramEndpoint } from '../../transport/datagram.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { Metrics } from '../../contracts/metrics.js';

/** A datagram endpoint that counts its failed handshakes (our DTLS server). */
export interface HandshakeCounting extends DatagramEndpoint {
  stats(): { readonly handshakesAuthFailed: number };
}

/** Period of the check, ms. */
export const HANDSHAKE_WATCH_PERIOD_MS = 2000;

/** Returns `server` with a watch on its failed handshakes, stopped when it closes. */
export function watchHandshakeFailures(
  server: HandshakeCounting,
  node: string,
  logger: DiagnosticLogger,
  metrics: Metrics | null = null,
  periodMs = HANDSHAKE_WATCH_PERIOD_MS,
): DatagramEndpoint {
  let seen = server.stats().handshakesAuthFailed;
  const timer = setInterval(() => {
    const failed = server.stats().handshakesAuthFailed;
    if (failed === seen) return;
    metrics?.increment('membership_refusals_total', failed - seen, { where: 'handshake-key' });
    logger.warning('refused peer handshakes that failed authentication (wrong key, or not a member)', {
      node,
      failed: failed - seen,
    });
    seen = failed;
  }, periodMs);
  timer.unref();
  return {
    send: (data, address, port) => server.send(data, address, port),
    onMessage: (handler) => server.onMessage(handler),
    localAddress: () => server.localAddress(),
    close: async () => {
      clearInterval(timer);
      await server.close();
    },
  };
}
