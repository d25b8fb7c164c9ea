// The figures the ARM smoke test (smoke.ts) reports, and their text table: memory read from
// /proc/<pid>/status and start-up times. Pure but for the /proc read; tested in
// test/arm/footprint.test.ts.
import { readFileSync } from 'node:fs';
import { cell, formatTable } from '../../bench/_figures.js';
import { phaseDurations, STARTUP_PHASES } from '../../agent/observability/startup-phases.js';
import type { AgentStartup } from '../../bench/_startup-phases.js';

/** A process's memory, bytes, from /proc/<pid>/status. */
export interface Memory {
  /** Resident set: anonymous + file-backed + shared memory pages. */
  readonly rssBytes: number;
  /** Anonymous resident pages: heap, stacks, and under qemu-user also qemu's translated code. */
  readonly rssAnonBytes: number | null;
  /** File-backed resident pages: the node binary's and libraries' pages, LMDB's mapped file. */
  readonly rssFileBytes: number | null;
}

function kilobytes(status: string, field: string): number | null {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'mu').exec(status);
  return match?.[1] === undefined ? null : Number(match[1]) * 1024;
}

/** The memory figures of a /proc/<pid>/status text; null without a VmRSS line (a kernel thread, a zombie). */
export function parseMemory(status: string): Memory | null {
  const rssBytes = kilobytes(status, 'VmRSS');
  if (rssBytes === null) return null;
  return { rssBytes, rssAnonBytes: kilobytes(status, 'RssAnon'), rssFileBytes: kilobytes(status, 'RssFile') };
}

/** The memory of process `pid` now; null when it is gone. */
export function memoryOf(pid: number | undefined): Memory | null {
  if (pid === undefined) return null;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    // The process exited: no figure, which the report shows as "-".
    return null;
  }
  return parseMemory(status);
}

/** One agent's figures. */
export interface AgentFigures {
  /** Its spawn to its "agent ready" line reaching the smoke test, ms. */
  readonly spawnToReadyMs: number | null;
  /** The start-up it reported ("agent ready": phase ends since its process started, CPU time). */
  readonly startup: AgentStartup | null;
  /** Memory once the leader is known and the cluster idled. */
  readonly idle: Memory | null;
  /** Memory after the smoke test's writes. */
  readonly afterWrites: Memory | null;
}

/** What one smoke run measured. */
export interface SmokeFigures {
  readonly arch: string;
  readonly node: string;
  readonly leader: string;
  /** First spawn to a leader a majority agrees on, ms. */
  readonly startupToLeaderMs: number;
  /** A bare node (`setInterval`) under the same emulation: the floor under every agent's RSS. */
  readonly bareNode: Memory | null;
  readonly writes: { readonly count: number; readonly valueBytes: number; readonly ms: number };
  readonly agents: Readonly<Record<string, AgentFigures>>;
}

const mib = (bytes: number | null | undefined): string =>
  bytes === null || bytes === undefined ? '-' : cell(Math.round((bytes / 1048576) * 10) / 10);

/** The smoke figures as a text table: one column per agent, start-up phases (ms) then memory (MiB). */
export function smokeTable(figures: SmokeFigures): string {
  const ids = Object.keys(figures.agents).sort();
  const agents = ids.map((id) => figures.agents[id]);
  const durations = agents.map((a) => phaseDurations(a?.startup?.ends ?? {}));
  const row = (name: string, value: (a: AgentFigures | undefined, i: number) => string): string[] => [
    name,
    ...agents.map(value),
  ];
  const rows = [
    ...STARTUP_PHASES.map((phase) => row(`${phase}, ms`, (_, i) => cell(durations[i]?.[phase] ?? null))),
    row('READY since process start, ms', (a) => cell(a?.startup?.ends.ready ?? null)),
    row('CPU time to READY, ms', (a) => cell(a?.startup?.cpuMs ?? null)),
    row('spawn to "agent ready" seen, ms', (a) => cell(a?.spawnToReadyMs ?? null)),
    row('idle RSS, MiB', (a) => mib(a?.idle?.rssBytes)),
    row('  of it anonymous, MiB', (a) => mib(a?.idle?.rssAnonBytes)),
    row(`RSS after ${figures.writes.count} writes, MiB`, (a) => mib(a?.afterWrites?.rssBytes)),
    row('  of it anonymous, MiB', (a) => mib(a?.afterWrites?.rssAnonBytes)),
  ];
  const bare = figures.bareNode;
  return [
    `${figures.arch} node ${figures.node}: leader ${figures.leader} known ${cell(figures.startupToLeaderMs)} ms ` +
      `after the first spawn; ${figures.writes.count} writes of ${figures.writes.valueBytes} B in ` +
      `${cell(figures.writes.ms)} ms`,
    formatTable(['agent', ...ids], rows),
    `bare node under the same emulation: RSS ${mib(bare?.rssBytes)} MiB (anonymous ${mib(bare?.rssAnonBytes)})`,
  ].join('\n');
}
