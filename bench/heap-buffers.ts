/**
 * Who holds an agent's ArrayBuffers, from V8 heap snapshots (issue 17: the agent's own memory
 * under load is mostly buffers; bench/_heap-buffers.ts says how they are charged):
 *
 *   npm run bench -- heap-buffers FILE.heapsnapshot... [--rows=15] [--hops=8]
 *
 * To take the snapshots: run any bench whose agents come from bench/_coraft.ts with
 *   CORAFT_BENCH_NODE_ARGS="--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=DIR"
 * and send SIGUSR2 to an agent when its memory is where you want to look
 * (`pkill -USR2 -f n1/agent.json`): it writes DIR/Heap.*.heapsnapshot after a full collection,
 * so what it shows is live, not garbage waiting for a collection.
 */
import { readFileSync } from 'node:fs';
import { describeError } from '../contracts/errors.js';
import { intOption } from './_figures.js';
import { bufferOwners } from './_heap-buffers.js';
import type { HeapSnapshotJson } from './_heap-buffers.js';

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** The snapshot in `file`; an error that names the file when it is not one (or too large for one string, 512 MiB). */
function readHeapSnapshot(file: string): HeapSnapshotJson {
  let heap: unknown;
  try {
    heap = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`heap-buffers: cannot read ${file} as JSON: ${describeError(error)}`, { cause: error });
  }
  const meta: unknown = typeof heap === 'object' && heap !== null ? Reflect.get(heap, 'snapshot') : undefined;
  if (typeof meta !== 'object' || meta === null || !Array.isArray(Reflect.get(meta, 'meta')?.node_fields))
    throw new Error(`heap-buffers: ${file} is not a V8 heap snapshot (no snapshot.meta.node_fields)`);
  return heap as HeapSnapshotJson;
}

export function run(args: readonly string[]): Promise<Record<string, unknown>> {
  const files = args.filter((arg) => !arg.startsWith('--'));
  if (files.length === 0) throw new Error('heap-buffers: name one or more .heapsnapshot files');
  const rowsShown = intOption(args, 'rows', 15, 1, 1000);
  const hops = intOption(args, 'hops', 8, 1, 64);
  const figures: Record<string, unknown> = {};
  for (const file of files) {
    const heap = readHeapSnapshot(file);
    const { totalBytes, rows } = bufferOwners(heap, hops);
    process.stdout.write(`${file}: ArrayBuffers ${mib(totalBytes)} MiB, by nearest owners (MiB, buffers):\n`);
    for (const row of rows.slice(0, rowsShown))
      process.stdout.write(`${mib(row.bytes).padStart(8)} ${String(row.buffers).padStart(7)}  ${row.owners}\n`);
    figures[file] = { totalBytes, rows: rows.slice(0, rowsShown) };
  }
  return Promise.resolve(figures);
}
