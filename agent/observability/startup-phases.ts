/**
 * Where an agent's start-up goes (issue 17: the agent's own start-up ≤ 300 ms). The agent marks
 * the end of each phase on the process's monotonic clock, whose origin is the process's start
 * (`performance.timeOrigin`), and logs the record with "agent started"; the footprint bench
 * prints it beside the time from spawn to the endpoint's first answer.
 */

/**
 * The phases of an agent's start-up, in the order they end:
 * - `bootstrap`: Node.js itself, up to running the entry point (`performance.nodeTiming`);
 * - `modules`: loading the CLI and the agent's modules (bin/coraft.js to `coraft agent` running);
 * - `config`: reading and validating agent.json, with the key files it names;
 * - `logger`: the logger and the metrics backend;
 * - `storage`: opening the persistence engine (folder lock, LMDB environment, WAL segments);
 * - `codec`: the configured codec, loaded on demand;
 * - `log`: reading the log, hard state and snapshot back (WAL replay) and restoring the core;
 * - `peer`: binding the peer socket;
 * - `endpoint`: binding the local endpoint: from here on it answers;
 * - `ready`: READY=1 goes to systemd (Type=notify).
 */
export const STARTUP_PHASES = [
  'bootstrap',
  'modules',
  'config',
  'logger',
  'storage',
  'codec',
  'log',
  'peer',
  'endpoint',
  'ready',
] as const;

/** One phase of {@link STARTUP_PHASES}. */
export type StartupPhase = (typeof STARTUP_PHASES)[number];

/** Most phases one record holds (each is marked at most once). */
const PHASES_MAX = STARTUP_PHASES.length;

/** The end of each marked phase, ms since the process started, to 0.1 ms. */
export type StartupRecord = Partial<Readonly<Record<StartupPhase, number>>>;

/** Records when each start-up phase ended; a phase marked again keeps its first end. */
export class StartupPhases {
  private readonly ends = new Map<StartupPhase, number>();

  /** @param nowMs ms since the process started (default `performance.now()`). */
  constructor(private readonly nowMs: () => number = () => performance.now()) {}

  /** Marks the end of `phase` now, or at `atMs` (ms since the process started) when given. */
  mark(phase: StartupPhase, atMs: number = this.nowMs()): void {
    if (this.ends.has(phase) || this.ends.size >= PHASES_MAX) return;
    this.ends.set(phase, Math.round(atMs * 10) / 10);
  }

  /** The ends marked so far, in phase order. */
  record(): StartupRecord {
    const record: Partial<Record<StartupPhase, number>> = {};
    for (const phase of STARTUP_PHASES) {
      const end = this.ends.get(phase);
      if (end !== undefined) record[phase] = end;
    }
    return record;
  }
}

/**
 * `record` as flat log fields: `<phase>EndMs` for each marked phase (ms since the process
 * started), e.g. `{ bootstrapEndMs: 41.2, modulesEndMs: 160.3, … }`, and `startupCpuMs`, the
 * CPU time (user and system) the process had used by then when `cpu` (process.cpuUsage()) is given.
 */
export function startupLogFields(record: StartupRecord, cpu?: NodeJS.CpuUsage): Readonly<Record<string, number>> {
  const fields: Record<string, number> = {};
  if (cpu !== undefined) fields.startupCpuMs = Math.round((cpu.user + cpu.system) / 100) / 10;
  for (const phase of STARTUP_PHASES) {
    const end = record[phase];
    if (end !== undefined) fields[`${phase}EndMs`] = end;
  }
  return fields;
}

/** Where Node.js finished its own bootstrap, ms since the process started. */
export function nodeBootstrapEndMs(): number {
  return performance.nodeTiming.bootstrapComplete;
}

/**
 * The duration of each phase of `record`, ms: its end less the previous marked phase's end
 * (the first from the process's start); phases not marked are left out.
 */
export function phaseDurations(record: StartupRecord): Partial<Readonly<Record<StartupPhase, number>>> {
  const durations: Partial<Record<StartupPhase, number>> = {};
  let previous = 0;
  for (const phase of STARTUP_PHASES) {
    const end = record[phase];
    if (end === undefined) continue;
    durations[phase] = Math.round((end - previous) * 10) / 10;
    previous = end;
  }
  return durations;
}
