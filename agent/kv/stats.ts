/** The sizes of the KV state machine (KvStateMachine.stats), for status displays and metrics. */
import type { LogIndex } from '../../contracts/log.js';

/** Sizes of the state, for status displays and metrics. */
export interface KvStats {
  readonly lastApplied: LogIndex;
  readonly clockMs: number;
  readonly keyCount: number;
  readonly dataBytes: number;
  readonly sessionCount: number;
  /** Response bytes the sessions keep for retries. */
  readonly sessionBytes: number;
  /** Request ids kept. */
  readonly requestIdCount: number;
  /** Leases granted. */
  readonly leaseCount: number;
  /** The size counted against the quota (quota.ts), bytes. */
  readonly usageBytes: number;
  /** The cluster's quota in force, bytes; 0: none. */
  readonly quotaBytes: number;
  /** True from a write refused by the quota until an applied entry frees space or changes the quota. */
  readonly quotaAlarm: boolean;
}
