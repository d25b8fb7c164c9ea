/**
 * Notices when no peer accepts this node's keys. A gateway removed from the cluster (or rekeyed)
 * while it kept running holds links every member has deleted: each handshake it starts is refused
 * (bad_record_mac, NET_AUTH), it never hears the configuration that removed it, and it pre-votes
 * forever. Nothing it receives can tell it so, but the pattern can: when every peer it sent to in
 * the last `windowMs` refused its handshakes throughout that time, and none answered, this logs
 * one error naming what to do, again every `repeatMs` while it lasts, and once at info when a
 * peer accepts it again. `refusedSinceMs` lets `coraft status` show it.
 */
import { NetworkError } from '../../contracts/errors.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import type { NodeId } from '../../contracts/log.js';

/** How long every peer must refuse this node's handshakes before it is reported, ms. */
export const KEY_REFUSAL_WINDOW_MS = 30_000;

/** How often the report is repeated while it lasts, ms. */
export const KEY_REFUSAL_REPEAT_MS = 600_000;

/** What to do, for the log and for `coraft status` (deploy/README.md, section 5). */
export const KEY_REFUSAL_ADVICE =
  'if this gateway was removed from the cluster (coraft members remove, or left out by coraft recover on another ' +
  'member), stop it (systemctl stop coraft) and ' +
  'wipe its /etc/coraft and /var/lib/coraft; if it was rekeyed (coraft members rekey), install its new bundle ' +
  '(deploy/install.sh --bundle DIR --no-package) and restart it; to bring a removed gateway back, ' +
  're-provision it (coraft provision --add) and add it again (coraft members add)';

interface PeerState {
  lastSentMs: number;
  /** When its refusals started (the first NET_AUTH since it last answered), or null. */
  refusingSinceMs: number | null;
}

/** The watch; see the module comment. */
export class KeyRefusals {
  // Invariant: holds only peers sent to within windowMs of the last outcome noted.
  private readonly peers = new Map<NodeId, PeerState>();
  private reportedAtMs: number | null = null;
  private allRefusingSinceMs: number | null = null;

  constructor(
    private readonly logger: DiagnosticLogger,
    private readonly nodeId: NodeId,
    private readonly nowMs: () => number,
    private readonly windowMs = KEY_REFUSAL_WINDOW_MS,
    private readonly repeatMs = KEY_REFUSAL_REPEAT_MS,
  ) {}

  /** A send to `peer` ended: `error` is null when it was answered. */
  noteOutcome(peer: NodeId, error: unknown): void {
    const now = this.nowMs();
    const state = this.peers.get(peer) ?? { lastSentMs: now, refusingSinceMs: null };
    state.lastSentMs = now;
    // The common case, on every answered RPC: a peer that was not refusing answered, and nothing was
    // reported; not every peer refuses, so there is nothing to recompute.
    if (error === null && state.refusingSinceMs === null && this.reportedAtMs === null && this.peers.has(peer)) {
      this.allRefusingSinceMs = null;
      return;
    }
    if (error === null) state.refusingSinceMs = null;
    else if (error instanceof NetworkError && error.code === 'NET_AUTH') state.refusingSinceMs ??= now;
    this.peers.set(peer, state);
    for (const [id, s] of this.peers) if (now - s.lastSentMs > this.windowMs) this.peers.delete(id);
    this.allRefusingSinceMs = this.refusedSince();
    this.maybeReport(now);
  }

  /** Since when every peer refused this node's handshakes, once that lasted windowMs; else null. */
  refusedSinceMs(): number | null {
    const since = this.allRefusingSinceMs;
    return since !== null && this.nowMs() - since >= this.windowMs ? since : null;
  }

  /** The latest start of the peers' refusals, when every peer sent to refuses; else null. */
  private refusedSince(): number | null {
    let latest = -Infinity;
    for (const state of this.peers.values()) {
      if (state.refusingSinceMs === null) return null;
      latest = Math.max(latest, state.refusingSinceMs);
    }
    return latest === -Infinity ? null : latest;
  }

  private maybeReport(now: number): void {
    const since = this.refusedSinceMs();
    if (since === null) {
      if (this.reportedAtMs !== null && this.allRefusingSinceMs === null)
        this.logger.info('a peer accepts this node’s keys again', { node: this.nodeId });
      if (this.allRefusingSinceMs === null) this.reportedAtMs = null;
      return;
    }
    if (this.reportedAtMs !== null && now - this.reportedAtMs < this.repeatMs) return;
    this.reportedAtMs = now;
    this.logger.error(
      `no peer accepts this node's keys: every peer refused its handshakes for ${Math.round((now - since) / 1000)} s`,
      { node: this.nodeId, peers: [...this.peers.keys()].join(','), advice: KEY_REFUSAL_ADVICE },
    );
  }
}
