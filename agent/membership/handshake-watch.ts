/**
 * Logs the DTLS handshakes a peer server refused after looking the key up: a peer presenting
 * a known identity with the wrong key (a forged or stale bundle) fails at the Finished check,
 * inside the DTLS layer, which reports failures only as a counter. This wraps the server
 * endpoint and turns growth of that counter into a warning, at most one per
 * HANDSHAKE_WARNING_INTERVAL_MS (a peer that keeps retrying a stale key is logged once, then once a
 * minute with the count). Only authentication failures count: half-open handshakes evicted or
 * expired under a flood are load, not a refused key, and have counters of their own; nor do the
 * handshakes the membership manager refused by their identity (`explained`), which it logged itself.
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

/** Least time between two warnings, ms: failures meanwhile go into the next one. */
export const HANDSHAKE_WARNING_INTERVAL_MS = 60_000;

/**
 * Returns `server` with a watch on its failed handshakes, stopped when it closes. `explained` counts the failures
 * logged elsewhere (AuthenticatedMembershipManager.handshakeRefusals), which are left out here.
 */
export function watchHandshakeFailures(
  server: HandshakeCounting,
  node: string,
  logger: DiagnosticLogger,
  metrics: Metrics | null = null,
  periodMs = HANDSHAKE_WATCH_PERIOD_MS,
  explained: () => number = () => 0,
  warningIntervalMs = HANDSHAKE_WARNING_INTERVAL_MS,
): DatagramEndpoint {
  const unexplained = (): number => server.stats().handshakesAuthFailed - explained();
  let seen = unexplained();
  let pending = 0;
  let lastWarningMs = -Infinity;
  const timer = setInterval(() => {
    const failed = unexplained();
    if (failed > seen) {
      metrics?.increment('membership_refusals_total', failed - seen, { where: 'handshake-key' });
      pending += failed - seen;
    }
    seen = Math.max(seen, failed);
    const now = Date.now();
    if (pending === 0 || now - lastWarningMs < warningIntervalMs) return;
    logger.warning('refused peer handshakes that failed authentication (wrong key, or not a member)', {
      node,
      failed: pending,
    });
    pending = 0;
    lastWarningMs = now;
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
