/**
 * The demo's client: it writes a value and reads it back, again and again, through the local
 * endpoints of the agents that are up, taking them in turn. It must keep writing while the
 * cluster fails over, so it never waits on one endpoint: every request has the endpoint
 * client's bounded timeout, a request that fails moves the client on to the next endpoint at
 * once, and the failed endpoint is passed over for a while (it is tried again only when no
 * other endpoint is left).
 */
import { assert } from '../../contracts/assert.js';
import { ConfigError, InvariantError, RaftError } from '../../contracts/errors.js';

/** A request of the demo client: a path under the endpoint and, for a write, a body. */
export interface DemoRequest {
  readonly method: 'GET' | 'PUT';
  readonly path: readonly string[];
  readonly payload?: Uint8Array;
}

/** An endpoint the demo client may use. */
export interface DemoTarget {
  /** The agent's node id. */
  readonly id: string;
  /** False while the agent is known to be down (no process): it is skipped without a request. */
  up(): boolean;
  /** Sends a request; rejects with a RaftError (e.g. NET_TIMEOUT) when the endpoint does not answer in time. */
  request(request: DemoRequest): Promise<{ readonly code: number; readonly payload: Uint8Array }>;
}

/** What the demo client needs from outside. */
export interface DemoClientDeps {
  /** The endpoints, in a fixed order (re-read every round, so agents may come and go). */
  readonly targets: () => readonly DemoTarget[];
  readonly nowMs: () => number;
}

/** How the demo client behaves. */
export interface DemoClientOptions {
  /** How long an endpoint that failed a request is passed over, ms. Default 1000; 0..60,000. */
  readonly passOverMs: number;
  /** How many keys the writes cycle through. Default 10; 1..1,000. */
  readonly keyCount: number;
}

/** Defaults of {@link DemoClientOptions}. */
export const DEFAULT_DEMO_CLIENT_OPTIONS: DemoClientOptions = { passOverMs: 1000, keyCount: 10 };

/** The outcome of one round. */
export type DemoRoundOutcome = 'ok' | 'failed' | 'no-target';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class DemoClient {
  /** Writes the cluster acknowledged. */
  writes = 0;
  /** Reads that returned the value just written (the endpoint's reads are linearizable). */
  reads = 0;
  /** Requests that failed or timed out. */
  failures = 0;
  /** When the last write was acknowledged (deps.nowMs), or null before the first. */
  lastWriteAtMs: number | null = null;
  private attempts = 0;
  /** The index (in deps.targets()) where the search for the next endpoint starts. */
  private cursor = 0;
  /** Endpoint id → until when it is passed over. Invariant: at most one entry per endpoint. */
  private readonly passedOverUntilMs = new Map<string, number>();

  constructor(
    private readonly deps: DemoClientDeps,
    private readonly options: DemoClientOptions = DEFAULT_DEMO_CLIENT_OPTIONS,
  ) {
    const problems: string[] = [];
    if (!Number.isInteger(options.passOverMs) || options.passOverMs < 0 || options.passOverMs > 60_000)
      problems.push(`passOverMs must be an integer in [0, 60000], got ${options.passOverMs}`);
    if (!Number.isInteger(options.keyCount) || options.keyCount < 1 || options.keyCount > 1000)
      problems.push(`keyCount must be an integer in [1, 1000], got ${options.keyCount}`);
    if (problems.length > 0) throw new ConfigError(problems);
  }

  /**
   * The next endpoint to use: the first one, from the cursor on, that is up and not passed
   * over; failing that, the first one that is up. Null when every agent is down.
   */
  nextTarget(): DemoTarget | null {
    const targets = this.deps.targets();
    const now = this.deps.nowMs();
    for (const skipPassedOver of [true, false]) {
      for (let i = 0; i < targets.length; i += 1) {
        const index = (this.cursor + i) % targets.length;
        const target = targets[index];
        if (target === undefined || !target.up()) continue;
        if (skipPassedOver && (this.passedOverUntilMs.get(target.id) ?? 0) > now) continue;
        // The cursor moves on whatever the outcome, so that the next round asks another endpoint.
        this.cursor = (index + 1) % targets.length;
        assert(this.passedOverUntilMs.size <= targets.length, 'at most one pass-over per endpoint');
        return target;
      }
    }
    return null;
  }

  /** One write through the next endpoint and a read of it back through the same one. */
  async round(): Promise<DemoRoundOutcome> {
    const target = this.nextTarget();
    if (target === null) return 'no-target';
    this.attempts += 1;
    const key = ['kv', 'demo', String(this.attempts % this.options.keyCount)];
    const value = `v${this.attempts}`;
    const put = await this.send(target, { method: 'PUT', path: key, payload: encoder.encode(value) });
    if (put === null) return 'failed';
    this.writes += 1;
    this.lastWriteAtMs = this.deps.nowMs();
    const get = await this.send(target, { method: 'GET', path: key });
    if (get === null) return 'failed';
    if (decoder.decode(get.payload) === value) this.reads += 1;
    assert(this.reads <= this.writes, 'a read is counted only after its write');
    return 'ok';
  }

  /**
   * Sends `request`; on an error answer or no answer, counts the failure, passes the endpoint over and returns null.
   */
  private async send(
    target: DemoTarget,
    request: DemoRequest,
  ): Promise<{ readonly code: number; readonly payload: Uint8Array } | null> {
    try {
      const response = await target.request(request);
      if (response.code < 0x80) {
        this.passedOverUntilMs.delete(target.id);
        return response;
      }
    } catch (error) {
      // An endpoint that does not answer is what failover looks like; anything else is a bug.
      if (!(error instanceof RaftError) || error instanceof InvariantError) throw error;
    }
    this.failures += 1;
    this.passedOverUntilMs.set(target.id, this.deps.nowMs() + this.options.passOverMs);
    return null;
  }
}
