/**
 * The bench client's side of the latency probe (agent/observability/latency-probe.ts): when the
 * agents run with CORAFT_LATENCY_PROBE=DIR, the coraft bench system (bench/_coraft.ts) records
 * when each write was sent and when its answer came back, on the clock the agents' probes use
 * (performance.timeOrigin + performance.now(), shared by the processes of a machine), and writes
 * them to DIR/client.requests.json, which bench/_latency-breakdown.ts joins with the leader's
 * marks: each write of the leader goes with the client request whose interval holds its
 * `received` (or `propose`) mark, which is exact with one client.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gcPauseRecorder, probeNow } from '../agent/observability/latency-probe.js';
import type { GcPause } from '../agent/observability/latency-probe.js';

/** Most GC pauses of the bench process one client probe records. */
const CLIENT_PROBE_GC_MAX = 20_000;
/** Most requests one client probe records; later ones are counted, not recorded. */
export const CLIENT_PROBE_REQUESTS_MAX = 500_000;
/** The file a client probe writes into its folder. */
export const CLIENT_PROBE_FILE = 'client.requests.json';

/** Records [sent, answered] of every request; see the module comment. */
export class ClientProbe {
  private readonly requests: number[] = [];
  private dropped = 0;
  /** [start, duration, kind, flags] of the bench process's GC pauses, as the agents' probes record theirs. */
  private readonly gc: GcPause[] = [];
  private readonly observer = gcPauseRecorder(this.gc, CLIENT_PROBE_GC_MAX);

  constructor(private readonly dir: string) {}

  /** A request sent at `sent` was answered now. */
  answered(sent: number): void {
    if (this.requests.length >= CLIENT_PROBE_REQUESTS_MAX * 2) {
      this.dropped += 1;
      return;
    }
    this.requests.push(sent, probeNow());
  }

  /** Writes what was recorded to DIR/client.requests.json: { requests: [[sent, answered], ...], gc, dropped }. */
  write(): void {
    this.observer.disconnect();
    const rows: string[] = [];
    for (let i = 0; i + 1 < this.requests.length; i += 2) rows.push(`[${this.requests[i]},${this.requests[i + 1]}]`);
    writeFileSync(
      join(this.dir, CLIENT_PROBE_FILE),
      `{"dropped":${this.dropped},"gc":${JSON.stringify(this.gc)},"requests":[${rows.join(',')}]}`,
    );
  }
}

/** What a client probe's file holds: [sent, answered] pairs sorted by sent, and the bench process's GC pauses. */
export interface ClientRecord {
  readonly requests: readonly (readonly [number, number])[];
  readonly gc: readonly (readonly [number, number, number, number])[];
}

/** Reads the text of DIR/client.requests.json; rows of another shape are left out. */
export function readClientProbe(text: string): ClientRecord {
  const value: unknown = JSON.parse(text);
  const field = (name: string): unknown[] => {
    const v: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, name) : null;
    return Array.isArray(v) ? (v as unknown[]) : [];
  };
  const numbers = (row: unknown, n: number): row is number[] =>
    Array.isArray(row) && row.length === n && row.every((x) => typeof x === 'number');
  const requests: [number, number][] = [];
  for (const row of field('requests')) if (numbers(row, 2)) requests.push([row[0] ?? 0, row[1] ?? 0]);
  const gc: [number, number, number, number][] = [];
  for (const row of field('gc')) if (numbers(row, 4)) gc.push([row[0] ?? 0, row[1] ?? 0, row[2] ?? 0, row[3] ?? 0]);
  return { requests: requests.sort((a, b) => a[0] - b[0]), gc };
}
