/**
 * The kinds of fault a simulation run may inject. Both the run (run.ts, which picks the
 * network's fault rates from them) and the nemesis (nemesis.ts, which schedules partitions,
 * crashes, clogs and forgeries from them) read this list, so it sits below both of them.
 */

/** The faults a run may inject. */
export const FAULT_KINDS = [
  'partition',
  'loss',
  'reorder',
  'duplicate',
  'crash',
  'clog',
  'byzantine',
  'stale',
  'unsynced',
  'ackcrash',
] as const;

/** One of {@link FAULT_KINDS}. */
export type FaultKind = (typeof FAULT_KINDS)[number];
