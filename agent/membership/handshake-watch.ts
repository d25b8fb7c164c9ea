/**
 * Logs the DTLS handshakes a peer server refused after looking the key up: a peer presenting
 * a known identity with the wrong key (a forged or stale bundle) fails at the Finished check,
 * inside the DTLS layer, which reports failures only as a counter. This wraps the server
 * endpoint and turns growth of that counter into a warning, at most one per
 * HANDSHAKE_WARNING_INTERVAL_MS (a peer that keeps retrying a stale key, or a member left out by a
 * recovery retrying for hours, is logged once, then once a minute with the count). Only
 * authentication failures count: half-open handshakes evicted or expired under a flood are load,
 * not a refused key, and have counters of their own; nor do the handshakes the membership manager
 * refused by their identity (`explained`), which it logged itself. The local endpoint's coaps
 * server is watched too, with a warning of its own: a local application with a wrong endpoint key
 * or identity otherwise failed with nothing in the agent's log.
 */
import type { DatagramEndpoint } from '../../transport/datagram.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { Metrics } from '../../contracts/metrics.js';
import { REFUSAL_REPEAT_LOG_MS } from './refusal-log.js';

/** A datagram endpoint that counts its failed handshakes (our DTLS server). */
export interface HandshakeCounting extends DatagramEndpoint {
  stats(): { readonly handshakesAuthFailed: number };
}

/** Period of the check, ms. */
export const HANDSHAKE_WATCH_PERIOD_MS = 2000;

/** Least time between two warnings, ms: failures meanwhile go into the next one (as a repeated refusal's line). */
export const HANDSHAKE_WARNING_INTERVAL_MS = REFUSAL_REPEAT_LOG_MS;

/** What each watched server's warning says. */
const WARNINGS = {
  peer: 'refused peer handshakes that failed authentication (wrong key, or not a member)',
  endpoint:
    'refused local endpoint handshakes that failed authentication (a wrong endpoint key, or an identity ' +
    'other than the kv and admin ones of endpointKeys)',
} as const;

/** How a watch reports. */
export interface HandshakeWatchOptions {
  /** Which server: names it in the warning; only the peer server's failures count in `membership_refusals_total`. */
  readonly role?: keyof typeof WARNINGS;
  /** The failures logged elsewhere (AuthenticatedMembershipManager.handshakeRefusals), left out here. */
  readonly explained?: () => number;
  /** Least time between two warnings, ms. Default HANDSHAKE_WARNING_INTERVAL_MS. */
  readonly warningIntervalMs?: number;
}

/**
 * Returns `server` with a watch on its failed handshakes, stopped when it closes. Failures that go
 * on give a line at most every `warningIntervalMs`, with the count since the line before; the
 * metric counts them every period.
 */
export function watchHandshakeFailures(
  server: HandshakeCounting,
  node: string,
  logger: DiagnosticLogger,
  metrics: Metrics | null = null,
  periodMs = HANDSHAKE_WATCH_PERIOD_MS,
  options: HandshakeWatchOptions = {},
): DatagramEndpoint {
  const { role = 'peer', explained = () => 0, warningIntervalMs = HANDSHAKE_WARNING_INTERVAL_MS } = options;
  const unexplained = (): number => server.stats().handshakesAuthFailed - explained();
  let seen = unexplained();
  let pending = 0;
  let lastWarningMs = -Infinity;
  const timer = setInterval(() => {
    const failed = unexplained();
    if (failed > seen) {
      if (role === 'peer') metrics?.increment('membership_refusals_total', failed - seen, { where: 'handshake-key' });
      pending += failed - seen;
    }
    seen = Math.max(seen, failed);
    const now = Date.now();
    if (pending === 0 || now - lastWarningMs < warningIntervalMs) return;
    logger.warning(WARNINGS[role], {
      node,
      failed: pending,
      ...(lastWarningMs === -Infinity ? {} : { sinceMs: Math.round(now - lastWarningMs) }),
    });
    pending = 0;
    lastWarningMs = now;
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
