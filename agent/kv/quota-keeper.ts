/**
 * Keeps the cluster's replicated quota (quota.ts) at the value of this member's agent.json while
 * this member leads: every check interval, a leader whose applied quota differs from its
 * configured one proposes a quota command (one at a time). Followers propose nothing, so the
 * value in force is always the last one the log carries, identical on every replica; a member
 * whose file says otherwise changes it only when it leads (and the status shows both values).
 */
import type { TimerHandle, Timers } from '../../contracts/clock.js';
import type { DiagnosticLogger } from '../../contracts/logger.js';
import { describeError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import { encodeQuotaCommand, NOSPACE_ALARM, QUOTA_BYTES_MAX } from './quota.js';

/** What the keeper needs of the node and the state machine. */
export interface QuotaKeeperHost {
  isRunning(): boolean;
  isLeader(): boolean;
  /** The quota applied on this replica, bytes (0: none). */
  appliedQuotaBytes(): number;
  /** Proposes a command on this node (the leader) and resolves once it is applied. */
  submitCommand(command: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** The keeper's settings. */
export interface QuotaKeeperOptions {
  /** The quota of this member's agent.json, bytes; 0: none. Limit: 0 to 2^40. */
  readonly quotaBytes: number;
  /** How often a leader compares the applied quota with its own, ms. Limit: 1 and up. */
  readonly checkIntervalMs: number;
  /** How long a proposal may take before the next check proposes again, ms. Limit: 1 and up. */
  readonly proposeTimeoutMs: number;
}

/** Proposes this member's quota while it leads and the cluster's differs; see the module comment. */
export class QuotaKeeper {
  private timer: TimerHandle | null = null;
  /** Invariant: at most one quota proposal in flight. */
  private proposing = false;

  constructor(
    private readonly host: QuotaKeeperHost,
    private readonly deps: { readonly timers: Timers; readonly logger: DiagnosticLogger },
    private readonly options: QuotaKeeperOptions,
  ) {
    assert(Number.isSafeInteger(options.quotaBytes), 'quotaBytes is an integer');
    assert(options.quotaBytes >= 0 && options.quotaBytes <= QUOTA_BYTES_MAX, 'quotaBytes is within its limit');
    assert(options.checkIntervalMs >= 1 && options.proposeTimeoutMs >= 1, 'intervals are positive');
  }

  /** Starts the periodic check. */
  start(): void {
    if (this.timer !== null) return;
    this.arm();
  }

  /** Stops the periodic check (a proposal in flight ends on its own). */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private arm(): void {
    this.timer = this.deps.timers.setTimer(this.options.checkIntervalMs, () => {
      this.maybePropose();
      if (this.timer !== null) this.arm();
    });
  }

  /** Proposes the configured quota when this node leads and the applied one differs; returns whether it did. */
  maybePropose(): boolean {
    const { host } = this;
    if (this.proposing || !host.isRunning() || !host.isLeader()) return false;
    const applied = host.appliedQuotaBytes();
    if (applied === this.options.quotaBytes) return false;
    this.proposing = true;
    this.deps.logger.info('proposing the quota of this member', { from: applied, to: this.options.quotaBytes });
    host
      .submitCommand(encodeQuotaCommand(this.options.quotaBytes), this.options.proposeTimeoutMs)
      .catch((error: unknown) => {
        // Not leading any more, a timeout, a stop: the next check (on whichever node leads) decides again.
        this.deps.logger.debug('quota proposal did not complete', { error: describeError(error) });
      })
      .finally(() => {
        this.proposing = false;
      });
    return true;
  }
}

/**
 * The space fields of /status: `alarms` (["NOSPACE"] while the quota's alarm or `diskFull` is
 * raised, else []), and the quota's figures, the one in force and the one this member's file sets.
 */
export function spaceStatusOf(
  stats: { readonly usageBytes: number; readonly quotaBytes: number; readonly quotaAlarm: boolean },
  configuredQuotaBytes: number,
  diskFull: boolean,
): Readonly<Record<string, unknown>> {
  return {
    alarms: stats.quotaAlarm || diskFull ? [NOSPACE_ALARM] : [],
    quota: {
      usedBytes: stats.usageBytes,
      quotaBytes: stats.quotaBytes,
      configuredBytes: configuredQuotaBytes,
      alarm: stats.quotaAlarm,
    },
    diskFull,
  };
}
