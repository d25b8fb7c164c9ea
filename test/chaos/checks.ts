/**
 * The chaos harness's checks after a round: every acknowledged write is still there (the final
 * value of each key is the last acknowledged write or one that may have followed it), and all
 * nodes applied identical entries (their `--trace` apply events agree index by index), none of
 * them twice except in its replay after a restart. The
 * linearizability of the history is checked with the project's checker (agent/sim).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { HistoryOperation } from '../../agent/sim/history.js';
import { TraceApplyChecker } from '../../agent/sim/trace-check.js';

/** What the trace comparison found. */
export interface TraceCheck {
  /** Indexes applied by at least two nodes, compared. */
  readonly indexesCompared: number;
  /** Highest index applied, by node. */
  readonly lastApplied: Readonly<Record<string, number>>;
  /** Lines that were not JSON (a line cut by SIGKILL), skipped. */
  readonly linesSkipped: number;
  readonly violations: readonly string[];
}

/**
 * Reads every node's trace and checks its applies with the project's trace checker
 * (agent/sim/trace-check.ts): one index always holds one (term, digest), and no node applies
 * an index twice except when it re-applies after a restart (its trace's `restart` line) from
 * its restored snapshot's index + 1 or from 1.
 */
export function compareTraces(files: ReadonlyMap<string, string>): TraceCheck {
  const checker = new TraceApplyChecker();
  const lastApplied: Record<string, number> = {};
  let linesSkipped = 0;
  for (const [node, file] of files) {
    lastApplied[node] = 0;
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch {
        linesSkipped += 1;
        continue;
      }
      checker.add(event);
    }
  }
  const report = checker.report();
  return {
    indexesCompared: report.indexesCompared,
    lastApplied: { ...lastApplied, ...report.lastApplied },
    linesSkipped,
    violations: report.violations.slice(0, 20),
  };
}

/** The value a write leaves: a put's string, null for a delete. */
function written(op: HistoryOperation): string | null {
  return op.op === 'put' && typeof op.value === 'string' ? op.value : null;
}

/**
 * Checks that each key's final value (read after healing) is the last acknowledged write or a
 * write that may have taken effect after it (one not completed before it began, or of unknown
 * outcome). Returns one line per lost write.
 */
export function checkAcknowledgedWrites(
  operations: readonly HistoryOperation[],
  finals: ReadonlyMap<string, string | null>,
): string[] {
  const violations: string[] = [];
  for (const [key, final] of finals) {
    const writes = operations.filter(
      (o) => o.key === key && (o.op === 'put' || o.op === 'delete') && o.status !== 'fail',
    );
    const acknowledged = writes.filter((o) => o.status === 'ok');
    if (acknowledged.length === 0) continue;
    const last = acknowledged.reduce((a, b) => (b.completeMs > a.completeMs ? b : a));
    const allowed = new Set<string | null>([written(last)]);
    for (const w of writes) if (w !== last && w.completeMs > last.invokeMs) allowed.add(written(w));
    if (!allowed.has(final)) {
      violations.push(
        `key ${key}: the last acknowledged write (${last.op} ${JSON.stringify(written(last))} ` +
          `by ${String(last.client)}, done at ${last.completeMs} ms) is lost: the key ` +
          `holds ${JSON.stringify(final)}`,
      );
    }
  }
  return violations;
}
