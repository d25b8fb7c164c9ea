/**
 * Where each agent's start-up went, as the agent itself reports it: the "agent ready" log line
 * carries the end of every start-up phase in ms since the process started (`<phase>EndMs`,
 * agent/observability/startup-phases.ts) and the CPU time used by then (`startupCpuMs`). The
 * footprint bench prints them per agent as durations beside its own spawn-to-answer figure.
 * Pure; tested in test/bench/startup-phases.test.ts.
 */
import { STARTUP_PHASES, phaseDurations } from '../agent/observability/startup-phases.js';
import type { StartupPhase, StartupRecord } from '../agent/observability/startup-phases.js';
import { cell, formatTable } from './_figures.js';

/** One agent's start-up as it reported it. */
export interface AgentStartup {
  /** The end of each phase, ms since the process started. */
  readonly ends: StartupRecord;
  /** CPU time (user and system) used up to READY, ms; null when not reported. */
  readonly cpuMs: number | null;
}

/** The start-up an "agent ready" log line reports; null for any other line (or one that is not JSON). */
export function parseReadyLine(line: string): AgentStartup | null {
  if (!line.includes('"agent ready"')) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    // A line cut or mixed with other output: not a report.
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Reflect.get(parsed, 'msg') !== 'agent ready') return null;
  const ends: Partial<Record<StartupPhase, number>> = {};
  for (const phase of STARTUP_PHASES) {
    const value: unknown = Reflect.get(parsed, `${phase}EndMs`);
    if (typeof value === 'number' && Number.isFinite(value)) ends[phase] = value;
  }
  const cpu: unknown = Reflect.get(parsed, 'startupCpuMs');
  return { ends, cpuMs: typeof cpu === 'number' && Number.isFinite(cpu) ? cpu : null };
}

/** Collects the output of agents, line by line, and keeps each agent's latest start-up report. */
export class StartupReports {
  private readonly partial = new Map<string, string>();
  private readonly reports = new Map<string, AgentStartup>();
  /** Longest partial line kept per agent, characters (a log line is far shorter). */
  private static readonly LINE_CHARS_MAX = 64 * 1024;

  /** Takes one chunk of agent `id`'s output. */
  add(id: string, chunk: string): void {
    const lines = ((this.partial.get(id) ?? '') + chunk).split('\n');
    const rest = lines.pop() ?? '';
    this.partial.set(id, rest.length > StartupReports.LINE_CHARS_MAX ? '' : rest);
    for (const line of lines) {
      const report = parseReadyLine(line);
      if (report !== null) this.reports.set(id, report);
    }
  }

  /** The latest report of each agent that made one. */
  all(): Readonly<Record<string, AgentStartup>> {
    return Object.fromEntries(this.reports);
  }

  /** Forgets agent `id`'s report (before it is started again). */
  forget(id: string): void {
    this.reports.delete(id);
    this.partial.delete(id);
  }
}

/** A table of each agent's phase durations (ms), its time to READY since its process started, and its CPU time. */
export function phasesTable(reports: Readonly<Record<string, AgentStartup>>): string {
  const ids = Object.keys(reports).sort();
  const durations = ids.map((id) => phaseDurations(reports[id]?.ends ?? {}));
  const rows = STARTUP_PHASES.map((phase) => [phase, ...durations.map((d) => cell(d[phase] ?? null))]);
  rows.push(['READY since process start', ...ids.map((id) => cell(reports[id]?.ends.ready ?? null))]);
  rows.push(['CPU time to READY', ...ids.map((id) => cell(reports[id]?.cpuMs ?? null))]);
  return formatTable(['start-up phase, ms', ...ids], rows);
}
