// Benchmark of the KV state machine: applies encoded commands (puts of 100-byte values over
// 10,000 keys, a third in client sessions with one retry in ten), then times a snapshot, its
// restore into a fresh replica, and queries. Options: --count N commands (default 200,000).
import type { LogEntry } from '../contracts/log.js';
import { encodeKvCommand, encodeKvQuery } from '../agent/kv/encoding.js';
import { KvStateMachine } from '../agent/kv/state-machine.js';

function argument(args: readonly string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} expects a positive integer`);
  return value;
}

function buildLog(count: number): LogEntry[] {
  const value = new Uint8Array(100).fill(7);
  const seqs = new Map<string, number>();
  const entries: LogEntry[] = [];
  for (let i = 0; i < count; i += 1) {
    const clientId = `client-${i % 300}`;
    let session = null;
    if (i % 3 === 0) {
      const last = seqs.get(clientId) ?? 0;
      const seq = i % 30 === 0 && last > 0 ? last : last + 1;
      seqs.set(clientId, seq);
      session = { clientId, seq };
    }
    const command = encodeKvCommand({
      op: 'put',
      key: `key-${(i * 7919) % 10_000}`,
      value,
      returnPrevious: false,
      session,
      timeMs: i,
    });
    entries.push({ term: 1, index: i + 1, type: 'command', command });
  }
  return entries;
}

/** Runs the benchmark and returns its figures. */
export async function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const count = argument(args, '--count', 200_000);
  const log = buildLog(count);
  const sm = new KvStateMachine();
  const t0 = performance.now();
  for (const entry of log) sm.apply(entry);
  const applyMs = performance.now() - t0;
  const t1 = performance.now();
  const image = sm.snapshot();
  const snapshotMs = performance.now() - t1;
  const replica = new KvStateMachine();
  const t2 = performance.now();
  replica.restore(
    {
      lastIncludedIndex: count,
      lastIncludedTerm: 1,
      configuration: { voters: [], learners: [], oldVoters: null, members: [] },
    },
    image,
  );
  const restoreMs = performance.now() - t2;
  const queries = Array.from({ length: 10_000 }, (_, i) => encodeKvQuery({ op: 'get', key: `key-${i}` }));
  const t3 = performance.now();
  for (const q of queries) replica.query(q);
  const queryMs = performance.now() - t3;
  const figures = {
    commands: count,
    apply_per_s: Math.round(count / (applyMs / 1000)),
    snapshot_bytes: image.length,
    snapshot_ms: Number(snapshotMs.toFixed(1)),
    restore_ms: Number(restoreMs.toFixed(1)),
    query_per_s: Math.round(queries.length / (queryMs / 1000)),
    keys: sm.stats().keyCount,
    sessions: sm.stats().sessionCount,
  };
  console.log(
    `applied ${count} commands at ${figures.apply_per_s}/s; snapshot ${image.length} bytes ` +
      `in ${figures.snapshot_ms} ms, restored in ${figures.restore_ms} ms; ${figures.query_per_s} queries/s`,
  );
  return Promise.resolve(figures);
}
