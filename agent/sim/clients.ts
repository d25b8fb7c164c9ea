/**
 * Simulated clients: each runs one operation at a time (put, get, delete, or a transaction on
 * one key or two, on a small set of keys) against a random live node, which forwards it to the
 * leader, and records the history
 * in Jepsen's terms. A write that failed for sure (no leader, refused) is retried elsewhere
 * with the same session sequence number; one whose outcome is unknown (timeout) is retried
 * with the same sequence number too, which the state machine's sessions make safe (reference
 * Property 19). An operation that never resolves is recorded as `info`.
 *
 * A transaction compares the key with the value the client last saw there (or its absence),
 * puts a new value when it matches and reads the key otherwise. It is recorded as a `cas` of
 * the history: ok when its success branch ran, `fail` when the compare failed (its failure
 * branch changed nothing), so the linearizability checker checks it in the register model. A
 * transaction on two keys compares both with the values last seen and writes both (one of them
 * sometimes deleted); it is recorded as a `txn`, which the checker checks in its map-of-registers
 * model (linearizability-model.ts).
 */
import { NotLeaderError, ProposalError, RaftError, StoppedError } from '../../contracts/errors.js';
import type { Prng } from '../../contracts/prng.js';
import { decodeKvResult, encodeKvCommand, encodeKvQuery } from '../kv/index.js';
import type { KvOperation, KvResult } from '../kv/index.js';
import type { CasArgument, InvokeValue, TxnArgument } from './history.js';
import { isTxnArgument } from './history.js';
import type { SimCluster, TraceSink } from './cluster.js';
import type { VirtualTimers } from './virtual-time.js';

/** Options of the simulated clients. */
export interface SimClientOptions {
  /** How long one operation may take, retries included, ms. */
  readonly operationTimeoutMs: number;
  /** Pause between two operations of one client, ms, uniform in [0, max]. */
  readonly thinkTimeMaxMs: number;
  /** How many distinct keys the clients use. */
  readonly keyCount: number;
}

/** Counts of completed operations. */
export interface OperationCounts {
  ok: number;
  fail: number;
  info: number;
}

type Outcome = { readonly type: 'ok'; readonly value: string | null } | { readonly type: 'fail' | 'info' };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SimClients {
  readonly counts: OperationCounts = { ok: 0, fail: 0, info: 0 };
  private running = false;
  private nextOperationId = 1;
  private readonly loops: Promise<void>[] = [];
  /** Per client: the value it last saw at each key (null: absent), the expectation of its transactions. */
  private readonly lastSeen = new Map<string, Map<string, string | null>>();
  /** Per client: its session id and last sequence number. */
  private readonly sessions = new Map<string, { clientId: string; seq: number; generation: number }>();

  constructor(
    private readonly cluster: SimCluster,
    private readonly timers: VirtualTimers,
    private readonly prng: Prng,
    private readonly options: SimClientOptions,
    private readonly trace: TraceSink,
  ) {}

  start(count: number): void {
    this.running = true;
    for (let c = 1; c <= count; c += 1) {
      const name = `c${c}`;
      this.sessions.set(name, { clientId: `${name}.0`, seq: 0, generation: 0 });
      this.loops.push(this.loop(name));
    }
  }

  /** Stops issuing operations and waits for the ones in progress to finish. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.setTimer(ms, resolve));
  }

  private async loop(client: string): Promise<void> {
    while (this.running) {
      await this.runOne(client);
      await this.sleep(this.prng.intBetween(0, this.options.thinkTimeMaxMs + 1));
    }
  }

  /** Runs one random operation and records it; exposed so tests can drive clients by hand. */
  async runOne(client: string): Promise<Outcome> {
    const id = this.nextOperationId;
    this.nextOperationId += 1;
    const key = `k${this.prng.intBetween(0, this.options.keyCount)}`;
    const roll = this.prng.nextFloat();
    const op = roll < 0.45 ? 'get' : roll < 0.75 ? 'put' : roll < 0.83 ? 'cas' : roll < 0.91 ? 'txn' : 'delete';
    const seen = this.lastSeen.get(client) ?? new Map<string, string | null>();
    this.lastSeen.set(client, seen);
    const set = `${client}-${id}`;
    const value =
      op === 'put'
        ? set
        : op === 'cas'
          ? { expect: seen.get(key) ?? null, set }
          : op === 'txn'
            ? this.txnArgument(key, seen, set)
            : null;
    const traced = isTxnArgument(value) ? { expect: { ...value.expect }, set: { ...value.set } } : value;
    this.trace({ t: this.timers.nowMs(), type: 'invoke', client, id, op, key, value: traced });
    const outcome = op === 'get' ? await this.read(key) : await this.write(client, op, key, value);
    if (outcome.type === 'ok' && isTxnArgument(value)) for (const [k, v] of Object.entries(value.set)) seen.set(k, v);
    else if (outcome.type === 'ok') seen.set(key, op === 'delete' ? null : op === 'get' ? outcome.value : set);
    this.counts[outcome.type] += 1;
    this.trace({
      t: this.timers.nowMs(),
      type: outcome.type,
      client,
      id,
      value: outcome.type === 'ok' ? outcome.value : null,
    });
    return outcome;
  }

  /** A transaction on `key` and another key: both must hold what the client saw; both are written. */
  private txnArgument(key: string, seen: ReadonlyMap<string, string | null>, set: string): TxnArgument {
    const index = Number(key.slice(1));
    const other = `k${(index + 1 + this.prng.intBetween(0, this.options.keyCount - 1)) % this.options.keyCount}`;
    return {
      expect: { [key]: seen.get(key) ?? null, [other]: seen.get(other) ?? null },
      set: { [key]: set, [other]: this.prng.chance(0.3) ? null : `${set}b` },
    };
  }

  private pickNode(): ReturnType<SimCluster['running']>[number] | null {
    const live = this.cluster.running();
    if (live.length === 0) return null;
    return live[this.prng.intBetween(0, live.length)] ?? null;
  }

  private async read(key: string): Promise<Outcome> {
    const deadline = this.timers.nowMs() + this.options.operationTimeoutMs;
    while (this.timers.nowMs() < deadline) {
      const node = this.pickNode();
      if (node !== null) {
        try {
          const bytes = await node.readAnywhere(encodeKvQuery({ op: 'get', key }), deadline - this.timers.nowMs());
          const result = decodeKvResult(bytes);
          if (result.type === 'get')
            return { type: 'ok', value: result.current === null ? null : decoder.decode(result.current.value) };
          return { type: 'fail' };
        } catch (error) {
          if (!isRetryable(error)) return { type: 'fail' };
        }
      }
      await this.sleep(20);
    }
    // A read has no effect, so one that never completed definitely did not happen.
    return { type: 'fail' };
  }

  private async write(
    client: string,
    op: 'put' | 'delete' | 'cas' | 'txn',
    key: string,
    value: InvokeValue,
  ): Promise<Outcome> {
    const session = this.sessions.get(client);
    if (session === undefined) return { type: 'fail' };
    session.seq += 1;
    const base = { session: { clientId: session.clientId, seq: session.seq }, timeMs: Math.floor(this.timers.nowMs()) };
    const bytes = encodeKvCommand({ ...base, ...operationOf(op, key, value) });
    const deadline = this.timers.nowMs() + this.options.operationTimeoutMs;
    let uncertain = false;
    while (this.timers.nowMs() < deadline) {
      const node = this.pickNode();
      if (node !== null) {
        try {
          const result = decodeKvResult(await node.submitAnywhere(bytes, deadline - this.timers.nowMs()));
          return this.writeOutcome(client, result, uncertain, value);
        } catch (error) {
          if (!isRetryable(error)) uncertain = true;
        }
      }
      await this.sleep(20);
    }
    return { type: uncertain ? 'info' : 'fail' };
  }

  private writeOutcome(client: string, result: KvResult, uncertain: boolean, value: InvokeValue): Outcome {
    // A transaction whose compare failed ran its failure branch, a read: it changed nothing.
    if (result.type === 'txn' && !result.succeeded) return { type: 'fail' };
    if (result.type !== 'error') return { type: 'ok', value: typeof value === 'string' ? value : null };
    if (result.code === 'KV_SESSION_EXPIRED' || result.code === 'KV_STALE_SEQUENCE') {
      // Start a new session; whether the command ran before is unknown if it was ever uncertain.
      const session = this.sessions.get(client);
      if (session !== undefined) {
        session.generation += 1;
        session.clientId = `${client}.${session.generation}`;
        session.seq = 0;
      }
      return { type: uncertain ? 'info' : 'fail' };
    }
    return { type: uncertain ? 'info' : 'fail' };
  }
}

/** A transaction over several keys: compare each key of expect, then write each key of set (null: delete). */
function txnOperation(arg: TxnArgument): KvOperation {
  const keys = Object.keys(arg.expect);
  return {
    op: 'txn',
    compare: keys.map((key) => {
      const expect = arg.expect[key] ?? null;
      return expect === null ? { key, target: 'absent' } : { key, target: 'value', value: encoder.encode(expect) };
    }),
    success: Object.entries(arg.set).map(([key, v]) =>
      v === null ? { op: 'delete', key } : { op: 'put', key, value: encoder.encode(v) },
    ),
    failure: keys.map((key) => ({ op: 'get', key })),
  };
}

/** The operation of a write: a put, a delete, a one-key transaction standing for a cas, or a transaction. */
function operationOf(op: 'put' | 'delete' | 'cas' | 'txn', key: string, value: InvokeValue): KvOperation {
  if (op === 'txn') return isTxnArgument(value) ? txnOperation(value) : { op: 'delete', key, returnPrevious: false };
  if (op === 'delete') return { op, key, returnPrevious: false };
  if (op === 'put')
    return { op, key, value: encoder.encode(typeof value === 'string' ? value : ''), returnPrevious: false };
  const arg: CasArgument =
    value !== null && typeof value === 'object' && !isTxnArgument(value) ? value : { expect: null, set: '' };
  return {
    op: 'txn',
    compare: [
      arg.expect === null ? { key, target: 'absent' } : { key, target: 'value', value: encoder.encode(arg.expect) },
    ],
    success: [{ op: 'put', key, value: encoder.encode(arg.set) }],
    failure: [{ op: 'get', key }],
  };
}

/** Errors after which the operation definitely did not happen, so it may be retried anywhere. */
function isRetryable(error: unknown): boolean {
  if (error instanceof NotLeaderError || error instanceof StoppedError) return true;
  if (error instanceof ProposalError) return true;
  return !(error instanceof RaftError) ? false : error.code === 'RAFT_MEMBERSHIP';
}
