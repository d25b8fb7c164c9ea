/**
 * A chaos round's summary as lines for people: what ran, what was injected, what was checked,
 * and every violation, with the seed (and flags) to replay a failing round.
 */
import type { ChaosSummary } from './harness.js';

/** The summary as lines for people. */
export function formatSummary(summary: ChaosSummary): string[] {
  const byKind = new Map<string, number>();
  for (const fault of summary.faults) byKind.set(fault.kind, (byKind.get(fault.kind) ?? 0) + 1);
  return [
    `chaos ${summary.ok ? 'PASSED' : 'FAILED'}: seed ${summary.seed}, ` +
      `workload ${summary.workload}, ${summary.nodes} nodes, ${Math.round(summary.durationMs / 1000)} s`,
    `  network: ${summary.network}`,
    `  faults: ${summary.faults.length} (${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}); kinds ` +
      `enabled: ${summary.faultKinds.join(', ')}`,
    `  operations: ${summary.operations} (ok ${summary.counts.ok}, fail ${summary.counts.fail}, ` +
      `info ${summary.counts.info}); linearizable: ${String(summary.linearizable)} (${summary.statesExplored} ` +
      `states)`,
    `  recovery after healing: ${summary.recoveryMs === null ? 'never' : `${summary.recoveryMs} ms`}; converged at ` +
      `index ${String(summary.convergedIndex)}; trace indexes compared: ${summary.traceIndexesCompared}; log ` +
      `entries replayed for double applies: ${summary.entriesReplayed} (puts in the log twice, answered from a ` +
      `session: ${summary.duplicatesAnswered})`,
    ...summary.violations.map((v) => `  VIOLATION: ${v}`),
    ...(summary.ok
      ? []
      : [
          `  replay: npm run chaos -- --seed ${summary.seed} --nodes ${summary.nodes} ` +
            `--workload ${summary.workload} --seconds ${summary.faultMs / 1000} --clients ${summary.clients} ` +
            `--keys ${summary.keyCount}${summary.unsafeAckBeforeCommit ? ' --unsafe-ack' : ''}; files kept ` +
            `in ${summary.dir}`,
        ]),
  ];
}
