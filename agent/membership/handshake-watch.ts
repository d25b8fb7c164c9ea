/**
 * Logs the DTLS handshakes a peer server refused after looking the key up: a peer presenting
 * a known identity with the wrong key (a forged or stale bundle) fails at the Finished check,
 * inside the DTLS layer, which reports failures only as a counter. This wraps the server
 * endpoint and turns growth of that counter into a warning, at most one per REFUSAL_REPEAT_PERIOD_MS. Only
 * authentication failures count: half-open handshakes evicted or expired under a flood are
 * load, not a refused key, and have counters of their own.
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

/**
 * Returns `server` with a watch on its failed handshakes, stopped when it closes. Failures that go
 * on (a member left out by a recovery retrying for hours) give a line at most every `repeatMs`,
 * with the count since the line before; the metric counts them every period.
 */
export function watchHandshakeFailures(
  server: HandshakeCounting,
  node: string,
  logger: DiagnosticLogger,
  metrics: Metrics | null = null,
  periodMs = HANDSHAKE_WATCH_PERIOD_MS,
  repeatMs = REFUSAL_REPEAT_PERIOD_MS,
): DatagramEndpoint {
  let counted = server.stats().handshakesAuthFailed;
  let logged = counted;
  let lineAtMs = -Infinity;
  const timer = setInterval(() => {
    const failed = server.stats().handshakesAuthFailed;
    if (failed === counted) return;
    metrics?.increment('membership_refusals_total', failed - counted, { where: 'handshake-key' });
    counted = failed;
    const now = Date.now();
    if (now - lineAtMs < repeatMs) return;
    logger.warning('refused peer handshakes that failed authentication (wrong key, or not a member)', {
      node,
      failed: failed - logged,
      ...(lineAtMs === -Infinity ? {} : { sinceMs: Math.round(now - lineAtMs) }),
    });
    logged = failed;
    lineAtMs = now;
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
