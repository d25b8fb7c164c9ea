/**
 * `coraft sim`: runs one deterministic simulation and writes its trace, so anyone can
 * reproduce a run from its seed. Prints SEED=… first and again on failure; exits 1 when any
 * check fails.
 */
import { randomInt } from 'node:crypto';
import { FAULT_KINDS, runSimulation } from '../sim/run.js';
import type { FaultKind, SimRunOptions, SimSummary } from '../sim/run.js';
import type { TraceEvent } from '../sim/cluster.js';
import { ConfigError, RaftError, describeError } from '../../contracts/errors.js';
import { intOption, parseOptions } from './args.js';
import { openOutputFile } from './output.js';

/** Lease clients of a run unless --leases says otherwise. */
export const SIM_LEASE_CLIENTS_DEFAULT = 2;

const HELP = `usage: coraft sim [options]

Runs a simulated cluster of real Raft nodes with the key-value state machine, simulated
clients and seeded faults, checking Raft's safety properties after every event and the
linearizability of the client history at the end.

options:
  --seed S             seed (default: random, printed)
  --nodes N            cluster size, 1 to 9 (default 5)
  --witnesses W        witnesses beyond the N members, 0 to 4 (default 0): they vote but store
                       only terms and indexes (DESIGN.md, "Witness members")
  --duration-ms T      simulated duration of the faulty period (default 10000)
  --clients C          concurrent clients (default 3)
  --faults LIST        comma-separated: ${FAULT_KINDS.join(',')} (default: none);
                       stale holds a message up to 5 s, unsynced crashes nodes in the middle of a
                       write (the disk keeps part of what was not synced), ackcrash right after
                       they grant a vote or acknowledge entries
  --membership         random membership changes and leadership transfers
  --leases L           lease clients, 0 to 16 (default 2): a lease's key goes when the lease
                       ends and only then, at the same index on every replica, no lease
                       expires early, and one left alone expires within TTL + 1 s
  --snapshot-bytes N   snapshot threshold in bytes (default 1000000)
  --trace FILE         write the JSON Lines trace to FILE (- for standard output)
  --json               print the summary as JSON only
`;

/** Parses the --faults list, naming any unknown kind. */
export function parseFaults(list: string | undefined): FaultKind[] {
  if (list === undefined || list === '' || list === 'none') return [];
  const kinds: FaultKind[] = [];
  for (const item of list.split(',')) {
    const kind = FAULT_KINDS.find((k) => k === item.trim());
    if (kind === undefined)
      throw new ConfigError([
        `--faults: unknown fault ${JSON.stringify(item)}; expected some of ${FAULT_KINDS.join(', ')}`,
      ]);
    kinds.push(kind);
  }
  return kinds;
}

/** What `coraft sim` was asked to do: the run's options and the output switches. */
export interface SimCommand {
  readonly help: boolean;
  readonly json: boolean;
  /** The --trace file, or null. */
  readonly traceFile: string | null;
  /** The run's options, without a trace sink. */
  readonly run: SimRunOptions;
}

/**
 * Parses `coraft sim`'s arguments. The sweep (test/sim/sweep.ts) runs its seeds through this
 * same function, so the command it prints for a failing seed replays that run exactly.
 * `randomSeed` supplies the seed when --seed is absent.
 */
export function parseSimArgs(
  args: readonly string[],
  randomSeed: () => number = () => randomInt(0, 2 ** 31),
): SimCommand {
  const { values } = parseOptions(args, {
    seed: { type: 'string' },
    nodes: { type: 'string' },
    witnesses: { type: 'string' },
    'duration-ms': { type: 'string' },
    clients: { type: 'string' },
    faults: { type: 'string' },
    membership: { type: 'boolean' },
    leases: { type: 'string' },
    'snapshot-bytes': { type: 'string' },
    trace: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  const seed = values.seed === undefined ? randomSeed() : intOption(values.seed, 'seed', 0, 0, 2 ** 32 - 1);
  const run: SimRunOptions = {
    seed,
    nodes: intOption(values.nodes, 'nodes', 5, 1, 9),
    witnesses: intOption(values.witnesses, 'witnesses', 0, 0, 4),
    durationMs: intOption(values['duration-ms'], 'duration-ms', 10_000, 0, 86_400_000),
    clients: intOption(values.clients, 'clients', 3, 0, 1000),
    faults: parseFaults(values.faults),
    membership: values.membership === true,
    leases: intOption(values.leases, 'leases', SIM_LEASE_CLIENTS_DEFAULT, 0, 16),
    raft: { snapshotThresholdBytes: intOption(values['snapshot-bytes'], 'snapshot-bytes', 1_000_000, 1024, 2 ** 40) },
  };
  return { help: values.help === true, json: values.json === true, traceFile: values.trace ?? null, run };
}

/**
 * Runs `run` taking every error that nothing handles while it runs (a rejection of some background
 * work of the simulator or of a node) as a violation of the run, so that its seed is reported like
 * any other failure instead of the process ending on it.
 */
export async function runCatchingStrays(run: () => Promise<SimSummary>): Promise<SimSummary> {
  // A set: a rejection that another listener throws again comes back as an uncaught exception.
  const errors = new Set<unknown>();
  const onStray = (error: unknown): void => {
    errors.add(error);
  };
  process.on('unhandledRejection', onStray);
  process.on('uncaughtException', onStray);
  try {
    const summary = await run();
    // A rejection is reported once the microtasks of its turn ran: let the last ones come in.
    await new Promise((resolve) => setImmediate(resolve));
    if (errors.size === 0) return summary;
    const strays = [...errors].map((error) => `unhandled during the run: ${describeError(error, { stack: true })}`);
    return { ...summary, ok: false, violations: [...summary.violations, ...strays] };
  } finally {
    process.off('unhandledRejection', onStray);
    process.off('uncaughtException', onStray);
  }
}

export async function runSimCommand(args: readonly string[]): Promise<number> {
  const command = parseSimArgs(args);
  if (command.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const seed = command.run.seed;
  if (!command.json) process.stdout.write(`SEED=${seed}\n`);
  const stream = command.traceFile === null ? null : openOutputFile(command.traceFile);
  const write = (event: TraceEvent | object): void => {
    stream?.write(`${JSON.stringify(event)}\n`);
  };
  let summary: SimSummary;
  try {
    summary = await runCatchingStrays(() =>
      runSimulation({
        ...command.run,
        ...(stream === null
          ? {}
          : {
              trace: (event: TraceEvent) =>
                write(typeof event.t === 'number' ? { ...event, t: Math.round(event.t * 1000) / 1000 } : event),
            }),
      }),
    );
  } catch (error) {
    // A run that throws is a bug of the simulator or of the node: it must name its seed too.
    // The trace so far is kept; a failure to close it must not hide the abort.
    await stream?.close().catch(() => undefined);
    const message = describeError(error);
    throw new RaftError('RAFT_INVARIANT', `simulation aborted: SEED=${seed}: ${message}`, { cause: error });
  }
  write(summary);
  await stream?.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (!summary.ok) {
    process.stderr.write(`simulation failed: SEED=${seed}\n${summary.violations.map((v) => `  - ${v}`).join('\n')}\n`);
    return 1;
  }
  return 0;
}
