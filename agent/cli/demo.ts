/**
 * `coraft demo` (the README's `npm start`, until the agent exists): a deterministic simulated
 * five-node cluster under every fault, narrated — elections, faults, progress every simulated
 * second — and checked for safety and linearizability at the end.
 */
import { randomInt } from 'node:crypto';
import { FAULT_KINDS, runSimulation } from '../sim/run.js';
import type { TraceEvent } from '../sim/cluster.js';
import { intOption, parseOptions } from './args.js';

export async function runDemoCommand(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, {
    seed: { type: 'string' },
    'duration-ms': { type: 'string' },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    process.stdout.write(
      'usage: coraft demo [--seed S] [--duration-ms T]\n\nRuns a narrated simulated 5-node cluster under faults.\n',
    );
    return 0;
  }
  const seed = intOption(values.seed, 'seed', randomInt(0, 2 ** 31), 0, 2 ** 32 - 1);
  const durationMs = intOption(values['duration-ms'], 'duration-ms', 20_000, 1000, 3_600_000);
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const at = (ms: number): string => `${(ms / 1000).toFixed(2).padStart(7)}s`;
  out(`coraft demo: 5 simulated nodes, 3 clients, faults ${FAULT_KINDS.join(', ')}; SEED=${seed}`);
  let applied = 0;
  let oks = 0;
  let nextReport = 1000;
  const trace = (event: TraceEvent): void => {
    const t = typeof event.t === 'number' ? event.t : 0;
    const text = (value: TraceEvent[string] | undefined): string =>
      typeof value === 'string' || typeof value === 'number' ? String(value) : JSON.stringify(value);
    if (event.type === 'leader') out(`${at(t)}  ${text(event.node)} became leader of term ${text(event.term)}`);
    if (event.type === 'apply') applied += 1;
    if (event.type === 'ok') oks += 1;
    if (t >= nextReport) {
      out(`${at(t)}  ${oks} client operations done, ${applied} entries applied across the nodes`);
      nextReport += 1000 * Math.ceil((t - nextReport + 1) / 1000);
    }
  };
  const summary = await runSimulation({
    seed,
    nodes: 5,
    durationMs,
    clients: 3,
    faults: [...FAULT_KINDS],
    trace,
    onFault: (t, what) => out(`${at(t)}  fault: ${what}`),
  });
  out('');
  out(
    `healed and converged; ${summary.elections} elections, commit index ${summary.commits}, operations ` +
      `ok ${summary.ops.ok} / fail ${summary.ops.fail} / unknown ${summary.ops.info}`,
  );
  out(`forged messages rejected: ${summary.forgedRejected}; history linearizable: ${String(summary.linearizable)}`);
  out(summary.ok ? 'all safety checks passed' : `FAILED (SEED=${seed}):\n  ${summary.violations.join('\n  ')}`);
  return summary.ok ? 0 : 1;
}
