// Drives a cluster of real agent processes through their local endpoints for the transport
// tests: many writes pipelined over several EndpointClients (each with an exactly-once
// session, so a retried write is applied once), polling for every node to apply up to an
// index, and reading keys back. No sleeps as synchronisation: every wait polls a condition
// with a deadline.
import { strict as assert } from 'node:assert';
import type { AgentProcesses, StatusView } from '../../agent/cli/agent-processes.js';
import { EndpointClient, endpointTarget } from '../../agent/cli/endpoint-client.js';

/** How a batch of writes runs. */
export interface WriteLoad {
  /** Local endpoints (host:port) the writers talk to, used round-robin. */
  readonly endpoints: readonly string[];
  /** Keys written are `${prefix}${i}` for i in [from, from + count). */
  readonly prefix: string;
  readonly from: number;
  readonly count: number;
  /** Writers at once (each one EndpointClient with one write outstanding). */
  readonly concurrency: number;
  /** Attempts per write before the batch fails. Default 5. */
  readonly attempts?: number;
  /** Timeout of one endpoint request, ms. Default 5000. */
  readonly requestTimeoutMs?: number;
}

/** What a batch did. */
export interface WriteResult {
  readonly written: number;
  /** Attempts that failed and were retried. */
  readonly retries: number;
  readonly elapsedMs: number;
}

/** The value written under key index `i`. */
export function valueOf(i: number): string {
  return `v${i}`;
}

/**
 * Writes `count` keys through `endpoints` with `concurrency` writers, each with its own session
 * (client id and sequence number), retrying a failed write with the same sequence number.
 */
export async function writeKeys(load: WriteLoad): Promise<WriteResult> {
  assert.ok(load.endpoints.length > 0 && load.concurrency > 0);
  const attempts = load.attempts ?? 5;
  const timeoutMs = load.requestTimeoutMs ?? 5000;
  const started = Date.now();
  let next = load.from;
  const end = load.from + load.count;
  let written = 0;
  let retries = 0;
  const writer = async (w: number): Promise<void> => {
    const endpoint = load.endpoints[w % load.endpoints.length] ?? '';
    const client = new EndpointClient(endpointTarget(endpoint, timeoutMs));
    const session = `${load.prefix}w${w}-${started}`;
    let seq = 0;
    try {
      while (next < end) {
        const i = next;
        next += 1;
        seq += 1;
        const request = {
          method: 'PUT' as const,
          path: ['kv', `${load.prefix}${i}`],
          query: [`client=${session}`, `seq=${seq}`],
          payload: new TextEncoder().encode(valueOf(i)),
        };
        for (let attempt = 1; ; attempt += 1) {
          try {
            await client.call(request);
            written += 1;
            break;
          } catch (error) {
            if (attempt >= attempts)
              throw new Error(`write of ${load.prefix}${i} failed ${attempts} times, last: ${String(error)}`, {
                cause: error,
              });
            retries += 1;
            // Back off before retrying (e.g. a 5.03 while an election runs), not to synchronise.
            await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
          }
        }
      }
    } finally {
      await client.close();
    }
  };
  await Promise.all(Array.from({ length: load.concurrency }, (_, w) => writer(w)));
  return { written, retries, elapsedMs: Date.now() - started };
}

/** Polls until every agent in `ids` has committed and applied at least `index`; resolves with their statuses. */
export async function waitForApplied(
  cluster: AgentProcesses,
  ids: readonly string[],
  index: number,
  timeoutMs: number,
): Promise<readonly StatusView[]> {
  const deadline = Date.now() + timeoutMs;
  let last: readonly (StatusView | null)[] = [];
  while (Date.now() < deadline) {
    last = await Promise.all(ids.map((id) => cluster.status(id)));
    const ready = last.filter((s): s is StatusView => s !== null && s.commitIndex >= index && s.lastApplied >= index);
    if (ready.length === ids.length) return ready;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not every node applied ${index} within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

/** Reads key indexes `indexes` (linearizable reads) through `endpoint` and checks each value. */
export async function checkKeys(endpoint: string, prefix: string, indexes: readonly number[]): Promise<void> {
  const client = new EndpointClient(endpointTarget(endpoint, 5000));
  try {
    for (const i of indexes) {
      const response = await client.call({ method: 'GET', path: ['kv', `${prefix}${i}`] });
      assert.equal(
        new TextDecoder().decode(response.payload),
        valueOf(i),
        `key ${prefix}${i} read through ${endpoint}`,
      );
    }
  } finally {
    await client.close();
  }
}

/** The statuses of `ids`, asserting every one answers. */
export async function statuses(cluster: AgentProcesses, ids: readonly string[]): Promise<readonly StatusView[]> {
  const all = await Promise.all(ids.map((id) => cluster.status(id)));
  return all.map((s, i) => {
    assert.ok(s !== null, `agent ${ids[i] ?? '?'} answers /status`);
    return s;
  });
}

/**
 * Waits until every one of `ids` answers /status with `leader` as its leader in one term (waitForLeader waits for a
 * majority only, so a third node may not have heard from the new leader yet); resolves with those statuses.
 */
export async function waitForAgreement(
  cluster: AgentProcesses,
  ids: readonly string[],
  leader: string,
  boundMs: number,
): Promise<readonly StatusView[]> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const all = await statuses(cluster, ids);
    const term = all[0]?.term;
    if (all.every((s) => s.leaderId === leader && s.term === term)) return all;
    if (Date.now() > deadline)
      assert.fail(`members did not agree on leader ${leader} within ${boundMs} ms: ${JSON.stringify(all)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
