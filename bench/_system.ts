/**
 * What the comparison benches (vs-etcd, footprint) need of a replicated store under test, so
 * that coraft (bench/_coraft.ts) and etcd (bench/_etcd.ts) are driven and measured the same way:
 * its member processes, its leader, one closed-loop writer per client, how far it has settled,
 * its snapshot sends, and a probe for start-up timing.
 */

/** One member process. */
export interface SystemMember {
  readonly id: string;
  /** Its process id, or null while it is down. */
  readonly pid: number | null;
  /** The folder that holds its data (for its size on disk). */
  readonly dataDir: string;
}

/** One client, writing to the leader. */
export interface BenchWriter {
  /** Writes `value` under `key`; resolves true when the write was acknowledged, false when refused or timed out. */
  put(key: string): Promise<boolean>;
  close(): Promise<void>;
}

/** What one probe of a member saw. */
export interface ProbeResult {
  /** The member answered on its client endpoint. */
  readonly answered: boolean;
  /** It named a leader. */
  readonly leaderKnown: boolean;
}

/** A 3-member cluster under test. */
export interface BenchSystem {
  readonly name: 'coraft' | 'etcd';
  /** Starts every member; resolves with each member's spawn time (performance.now()). */
  start(): Promise<ReadonlyMap<string, number>>;
  members(): readonly SystemMember[];
  /** The id of the member the others follow; waits at most `boundMs`. */
  leader(boundMs: number): Promise<string>;
  /** Opens one client that writes `value` through member `id` (the leader, for the benches). */
  openWriter(id: string, value: Uint8Array): Promise<BenchWriter>;
  /** Asks member `id` once, giving up after `timeoutMs`. */
  probe(id: string, timeoutMs: number): Promise<ProbeResult>;
  /** Waits (at most `boundMs`) until every member applied the same index and it held still. */
  settle(boundMs: number): Promise<void>;
  /** Snapshots sent to followers so far, all members together; null when the system does not say. */
  snapshotSends(): Promise<number | null>;
  /** Where snapshotSends comes from, for the report. */
  readonly snapshotSendsSource: string;
  /** Stops every member and removes the cluster's folder. Safe to call twice. */
  close(): Promise<void>;
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Counts the JSON log lines (pino's, one object a line) whose `msg` is one of `messages`, fed in
 * chunks as they arrive from a process's output; a line split between chunks is joined first.
 */
export class LogMessageCounter {
  private readonly counts = new Map<string, number>();
  private partial = '';
  /** Longest partial line kept while waiting for its end, characters. */
  static readonly PARTIAL_MAX = 1024 * 1024;

  constructor(private readonly messages: readonly string[]) {
    for (const m of messages) this.counts.set(m, 0);
  }

  feed(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    const last = lines.pop() ?? '';
    this.partial = last.length > LogMessageCounter.PARTIAL_MAX ? '' : last;
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    // Cheap test first: most lines carry none of the messages counted.
    if (!this.messages.some((m) => line.includes(m))) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // Not a JSON log line (e.g. a Node warning on stderr).
      return;
    }
    const msg: unknown = typeof value === 'object' && value !== null ? Reflect.get(value, 'msg') : undefined;
    if (typeof msg === 'string' && this.counts.has(msg)) this.counts.set(msg, (this.counts.get(msg) ?? 0) + 1);
  }

  count(message: string): number {
    return this.counts.get(message) ?? 0;
  }
}
