/**
 * Concurrent clients of a real cluster for the chaos harness: each runs one operation at a
 * time (get, put or delete on a few keys) against the local endpoint of a node picked at
 * random, and records it in the history. Writes carry a session (client=C&seq=N), so a write
 * whose outcome is unknown is retried, possibly on another node, with the same sequence number:
 * the state machine applies it at most once. A write that never got a definite answer is
 * recorded as `info` (it may or may not have happened), as Jepsen and the checker expect; a read
 * that never got an answer is a `fail` (a read changes nothing).
 */
import { EndpointClient, endpointTarget, type EndpointTarget } from '../../agent/cli/endpoint-client.js';
import type { DatagramEndpoint } from '../../transport/datagram.js';
import type { SeededPrng } from '../../contracts/prng.js';
import type { Completion, HistoryRecorder } from './recorder.js';

/** Options of the chaos clients. */
export interface ChaosClientOptions {
  /** Number of concurrent clients. Default 4. Limit: 1 to 256. */
  readonly clients: number;
  /** Distinct keys used. Default 5. Limit: >= 1. */
  readonly keyCount: number;
  /** Timeout of one request attempt, ms. Default 7,000 (longer than the endpoint's own 5,000). */
  readonly attemptTimeoutMs: number;
  /** Longest time one operation may take, retries included, ms. Default 15,000. */
  readonly operationTimeoutMs: number;
  /** Pause between two operations of one client, ms, uniform in [0, max]. Default 20. */
  readonly thinkTimeMaxMs: number;
}

export const DEFAULT_CHAOS_CLIENT_OPTIONS: ChaosClientOptions = {
  clients: 4,
  keyCount: 5,
  attemptTimeoutMs: 7_000,
  operationTimeoutMs: 15_000,
  thinkTimeMaxMs: 20,
};

/** Counts by outcome. */
export interface ClientCounts {
  ok: number;
  fail: number;
  info: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A write's answer: done, refused for sure, or unknown (retry). */
type Attempt = 'ok' | 'refused' | 'session' | 'unknown';

class ChaosClient {
  private generation = 0;
  private seq = 0;

  constructor(
    readonly name: string,
    private readonly endpoints: ReadonlyMap<string, EndpointClient>,
    private readonly prng: SeededPrng,
    private readonly options: ChaosClientOptions,
    private readonly history: HistoryRecorder,
    private readonly counts: ClientCounts,
    private readonly pickNode: (prng: SeededPrng) => string,
  ) {}

  async loop(running: () => boolean): Promise<void> {
    while (running()) {
      await this.runOne();
      await sleep(this.prng.intBetween(0, this.options.thinkTimeMaxMs + 1));
    }
  }

  private async runOne(): Promise<void> {
    const key = `k${this.prng.intBetween(0, this.options.keyCount)}`;
    const roll = this.prng.nextFloat();
    const op = roll < 0.5 ? 'get' : roll < 0.9 ? 'put' : 'delete';
    const value = op === 'put' ? `${this.name}-${this.seq + 1}-${this.generation}` : null;
    const id = this.history.invoke(this.name, op, key, value);
    const completion = op === 'get' ? await this.read(key) : await this.write(op, key, value ?? '');
    this.counts[completion.type] += 1;
    this.history.complete(this.name, id, completion);
  }

  private client(): EndpointClient {
    const node = this.pickNode(this.prng);
    const client = this.endpoints.get(node);
    if (client === undefined) throw new Error(`no endpoint client for ${node}`);
    return client;
  }

  private async read(key: string): Promise<Completion> {
    const deadline = Date.now() + this.options.operationTimeoutMs;
    while (Date.now() < deadline) {
      try {
        const response = await this.client().request({ method: 'GET', path: ['kv', key] });
        if (response.code === 0x45) return { type: 'ok', value: decoder.decode(response.payload) };
        if (response.code === 0x84) return { type: 'ok', value: null };
      } catch {
        // No answer: a read has no effect, so try again elsewhere.
      }
      await sleep(50);
    }
    return { type: 'fail' };
  }

  private async write(op: 'put' | 'delete', key: string, value: string): Promise<Completion> {
    this.seq += 1;
    const query = [`client=${this.name}.${this.generation}`, `seq=${this.seq}`];
    const deadline = Date.now() + this.options.operationTimeoutMs;
    let uncertain = false;
    while (Date.now() < deadline) {
      const attempt = await this.attemptWrite(op, key, value, query);
      if (attempt === 'ok') return { type: 'ok', value: null };
      if (attempt === 'session') {
        // The session is stale or expired: start a new one; the outcome of this write is whatever it was.
        this.generation += 1;
        this.seq = 0;
        return { type: uncertain ? 'info' : 'fail' };
      }
      if (attempt === 'refused') return { type: uncertain ? 'info' : 'fail' };
      uncertain = true;
      await sleep(50);
    }
    return { type: uncertain ? 'info' : 'fail' };
  }

  private async attemptWrite(
    op: 'put' | 'delete',
    key: string,
    value: string,
    query: readonly string[],
  ): Promise<Attempt> {
    try {
      const response = await this.client().request(
        op === 'put'
          ? { method: 'PUT', path: ['kv', key], query, payload: encoder.encode(value) }
          : { method: 'DELETE', path: ['kv', key], query },
      );
      if (response.code >= 0x40 && response.code < 0x60) return 'ok';
      if (response.code === 0x89) return 'session';
      // 5.xx: no leader, busy, timed out: it may or may not have been applied, so retry.
      if (response.code >= 0xa0) return 'unknown';
      return 'refused';
    } catch {
      // No answer (timeout, node down): unknown.
      return 'unknown';
    }
  }
}

/** The set of chaos clients. */
export class ChaosClients {
  readonly counts: ClientCounts = { ok: 0, fail: 0, info: 0 };
  private readonly options: ChaosClientOptions;
  private readonly endpoints: Map<string, EndpointClient>[] = [];
  private readonly loops: Promise<void>[] = [];
  private running = false;

  /**
   * `nodes`: node id -> endpoint; `openers`: node id -> how to open a client socket there (DTLS
   * with the node's endpoint key when it has one), default plain UDP.
   */
  constructor(
    private readonly nodes: ReadonlyMap<string, string>,
    private readonly prng: SeededPrng,
    private readonly history: HistoryRecorder,
    options: Partial<ChaosClientOptions> = {},
    private readonly openers: ReadonlyMap<string, () => Promise<DatagramEndpoint>> = new Map(),
  ) {
    this.options = { ...DEFAULT_CHAOS_CLIENT_OPTIONS, ...options };
    if (this.options.clients < 1 || this.options.clients > 256) throw new Error('clients: 1 to 256');
  }

  /** Starts the clients; each talks to a node `pickNode` chooses (by id). */
  start(pickNode: (prng: SeededPrng) => string): void {
    this.running = true;
    for (let i = 1; i <= this.options.clients; i += 1) {
      const target = (id: string, endpoint: string): EndpointTarget => {
        const plain = endpointTarget(endpoint, this.options.attemptTimeoutMs);
        const open = this.openers.get(id);
        return open === undefined ? plain : { ...plain, open };
      };
      const endpoints = new Map(
        [...this.nodes].map(([id, endpoint]) => [id, new EndpointClient(target(id, endpoint))]),
      );
      this.endpoints.push(endpoints);
      const client = new ChaosClient(
        `c${i}`,
        endpoints,
        this.prng.fork(),
        this.options,
        this.history,
        this.counts,
        pickNode,
      );
      this.loops.push(client.loop(() => this.running));
    }
  }

  /** Stops issuing operations, waits for those in progress, and closes the sockets. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const endpoints of this.endpoints) for (const client of endpoints.values()) await client.close();
  }
}
