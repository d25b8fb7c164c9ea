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
  /** Deletes `keys` through member `id`, a few at a time; refusals and timeouts are ignored (a slice's clean-up). */
  removeKeys(id: string, keys: readonly string[]): Promise<void>;
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

/** Clients a system's removeKeys runs at once. */
export const REMOVE_CLIENTS = 16;

/** Runs `remove` on every key, REMOVE_CLIENTS at a time, each client through its own `open`ed remover. */
export async function removeEach<T>(
  keys: readonly string[],
  open: () => T,
  remove: (client: T, key: string) => Promise<unknown>,
  close: (client: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    const client = open();
    try {
      for (let key = keys[next++]; key !== undefined; key = keys[next++]) await remove(client, key).catch(() => null);
    } finally {
      await close(client);
    }
  };
  await Promise.all(Array.from({ length: Math.min(REMOVE_CLIENTS, keys.length) }, worker));
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A member's snapshot counters, as coraft's GET /status reports them (contracts/raft-node.ts SnapshotCounts). */
export interface SnapshotTotals {
  readonly taken: number;
  readonly restored: number;
  readonly sendsStarted: number;
  readonly sendsCompleted: number;
  readonly sendsFailed: number;
}

const SNAPSHOT_FIELDS = ['taken', 'restored', 'sendsStarted', 'sendsCompleted', 'sendsFailed'] as const;

/** The `snapshots` counters of a parsed GET /status answer; null when it has none or they are not counts. */
export function snapshotTotalsOf(status: unknown): SnapshotTotals | null {
  const snapshots: unknown = typeof status === 'object' && status !== null ? Reflect.get(status, 'snapshots') : null;
  if (typeof snapshots !== 'object' || snapshots === null) return null;
  const values = SNAPSHOT_FIELDS.map((field): unknown => Reflect.get(snapshots, field));
  if (!values.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) return null;
  const [taken, restored, sendsStarted, sendsCompleted, sendsFailed] = values.map(Number);
  return {
    taken: taken ?? 0,
    restored: restored ?? 0,
    sendsStarted: sendsStarted ?? 0,
    sendsCompleted: sendsCompleted ?? 0,
    sendsFailed: sendsFailed ?? 0,
  };
}

/** The counters of every member added up; null when any member's are unknown. */
export function sumSnapshotTotals(members: readonly (SnapshotTotals | null)[]): SnapshotTotals | null {
  let sum: SnapshotTotals = { taken: 0, restored: 0, sendsStarted: 0, sendsCompleted: 0, sendsFailed: 0 };
  for (const m of members) {
    if (m === null) return null;
    sum = {
      taken: sum.taken + m.taken,
      restored: sum.restored + m.restored,
      sendsStarted: sum.sendsStarted + m.sendsStarted,
      sendsCompleted: sum.sendsCompleted + m.sendsCompleted,
      sendsFailed: sum.sendsFailed + m.sendsFailed,
    };
  }
  return sum;
}
