/**
 * Lease clients for the simulator, and the lease properties checked over their run. Each client
 * grants a lease through a random node (followers forward), attaches a key to it, keeps it alive
 * a few times, then leaves it alone; and again. After every instant the workload notes, per run
 * of each node, when a lease it had seen vanished from that node's state machine (the expiry
 * applied there), and that the lease's key vanished with it (one log index).
 *
 * Properties (`violations`):
 * - safety: no lease whose keepalive was acknowledged at virtual time t expires before t + TTL
 *   (through failovers: a new leader restarts every countdown at the full TTL);
 * - liveness: a lease left alone after `quietFromMs` (when the faults stop, so a leader exists)
 *   expires within TTL + 1 s of its last acknowledgement or keepalive sent (one that was not
 *   acknowledged in time may have kept it alive all the same);
 * - a lease's key is gone when the lease is.
 */
import type { Prng } from '../../contracts/prng.js';
import { decodeKvResult, encodeKvCommand } from '../kv/index.js';
import type { KvCommand, KvResult } from '../kv/index.js';
import { keepAlive } from '../kv/lease-keeper.js';
import type { SimCluster } from './cluster.js';
import type { VirtualTimers } from './virtual-time.js';

/** The liveness bound past a lease's TTL, ms (the "within TTL + 1 s"). */
export const LEASE_EXPIRY_SLACK_MS = 1000;

/** Messages sent up to `untilMs` (while the network was faulty) may arrive up to `delayMaxMs` after they were sent. */
export interface LateDelivery {
  readonly untilMs: number;
  readonly delayMaxMs: number;
}

/** Options of the lease workload. */
export interface LeaseWorkloadOptions {
  readonly clients: number;
  readonly ttlMs: number;
  /** Each attempt's timeout, ms. */
  readonly attemptTimeoutMs: number;
}

/** What the workload saw of one lease. */
export interface LeaseRecord {
  readonly client: string;
  readonly id: number;
  readonly key: string;
  readonly ttlMs: number;
  /** The last acknowledgement of the grant or of a keepalive. */
  lastAckMs: number;
  /** The last acknowledged keepalive; null before the first. */
  lastKeepaliveAckMs: number | null;
  /**
   * When each keepalive was sent, acknowledged or not (one that was not may have kept the lease all
   * the same); at most a few per lease.
   */
  readonly keepalivesSentMs: number[];
  /** When the client stopped keeping it alive; null while it keeps it. */
  leftAloneAtMs: number | null;
  /** The first time a node that had the lease applied its end; null while it lives. */
  expiredAtMs: number | null;
  /** The key was still stored on a node that no longer had the lease. */
  keyOutlived: boolean;
  /** Runs of nodes (`id#incarnation`) that had the lease. */
  readonly seenOn: Set<string>;
}

/** The lease clients and their records; see the module comment. */
export class LeaseWorkload {
  readonly records: LeaseRecord[] = [];
  /** The key each lease's client attached to it, by lease id. */
  private readonly keys = new Map<number, string>();
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly cluster: SimCluster,
    private readonly timers: VirtualTimers,
    private readonly prng: Prng,
    private readonly options: LeaseWorkloadOptions,
  ) {}

  /** Starts the clients. */
  start(): void {
    for (let i = 0; i < this.options.clients; i += 1) this.loops.push(this.client(`lease-client-${i}`));
  }

  /** Stops the clients and waits for them (run virtual time meanwhile). */
  stop(): Promise<void> {
    this.stopped = true;
    return Promise.all(this.loops).then(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.setTimer(ms, resolve));
  }

  /** One attempt through a random running node; null when it failed (unknown outcome or no node). */
  private async attempt(command: KvCommand): Promise<KvResult | null> {
    const nodes = this.cluster.running();
    const node = nodes[this.prng.intBetween(0, nodes.length)];
    if (node === undefined) return null;
    try {
      const { attemptTimeoutMs } = this.options;
      const submit = (bytes: Uint8Array, timeoutMs: number): Promise<Uint8Array> =>
        node.submitAnywhere(bytes, timeoutMs, true);
      // A keepalive goes the way the endpoint sends it (lease-keeper.ts), acknowledged only when prompt.
      if (command.op === 'lease-keepalive') return await keepAlive(submit, this.timers, command.id, attemptTimeoutMs);
      return decodeKvResult(await submit(encodeKvCommand(command), attemptTimeoutMs));
    } catch {
      // No leader in time, a crash, a lost message: the client tries again (with the same session).
      return null;
    }
  }

  /** Runs a command in the client's session until it gets an answer (retries keep the sequence). */
  private async untilAnswered(command: KvCommand): Promise<KvResult | null> {
    while (!this.stopped) {
      const result = await this.attempt(command);
      if (result !== null && !(result.type === 'error' && result.code === 'KV_MALFORMED')) return result;
      await this.sleep(50);
    }
    return null;
  }

  private async client(clientId: string): Promise<void> {
    let seq = 0;
    const session = (): { clientId: string; seq: number } => ({ clientId, seq: (seq += 1) });
    while (!this.stopped) {
      const { ttlMs } = this.options;
      const granted = await this.untilAnswered({ op: 'lease-grant', ttlMs, session: session(), timeMs: 0 });
      if (granted?.type !== 'lease') continue;
      const record: LeaseRecord = {
        client: clientId,
        id: granted.id,
        key: `leased/${clientId}/${granted.id}`,
        ttlMs,
        lastAckMs: this.timers.nowMs(),
        lastKeepaliveAckMs: null,
        keepalivesSentMs: [],
        leftAloneAtMs: null,
        expiredAtMs: null,
        keyOutlived: false,
        seenOn: new Set(),
      };
      this.records.push(record);
      this.keys.set(record.id, record.key);
      const value = new TextEncoder().encode(clientId);
      const put = { op: 'put', key: record.key, value, returnPrevious: false, lease: record.id } as const;
      await this.untilAnswered({ ...put, session: session(), timeMs: 0 });
      await this.keepAlive(record, this.prng.intBetween(1, 7));
      record.leftAloneAtMs = this.timers.nowMs();
      const giveUpMs = this.timers.nowMs() + 3 * ttlMs + 5000;
      while (!this.stopped && record.expiredAtMs === null && this.timers.nowMs() < giveUpMs) await this.sleep(100);
    }
  }

  /** Keeps `record` alive `count` times, every third of its TTL; each keepalive is one attempt, without a session. */
  private async keepAlive(record: LeaseRecord, count: number): Promise<void> {
    for (let i = 0; i < count && !this.stopped && record.expiredAtMs === null; i += 1) {
      await this.sleep(Math.floor(record.ttlMs / 3));
      record.keepalivesSentMs.push(this.timers.nowMs());
      const result = await this.attempt({ op: 'lease-keepalive', id: record.id, session: null, timeMs: 0 });
      if (result?.type === 'lease') {
        record.lastAckMs = this.timers.nowMs();
        record.lastKeepaliveAckMs = record.lastAckMs;
      }
      if (result?.type === 'error') {
        // The state machine says the lease has ended. When no node was seen holding it (the grant's
        // answer came late, through the session's retry, after the lease had run out unattended),
        // observe() cannot say when it ended: by this answer at the latest.
        if (result.code === 'KV_LEASE_NOT_FOUND' && record.seenOn.size === 0)
          record.expiredAtMs ??= this.timers.nowMs();
        return;
      }
    }
  }

  /** The keys a client attached to lease `id` (one, or none when no client was granted it). */
  keysOf(id: number): readonly string[] {
    const key = this.keys.get(id);
    return key === undefined ? [] : [key];
  }

  /**
   * Lease `id` ended now on some run, entry by entry (lease-apply-check.ts). observe() notes an end
   * only on a run it saw holding the lease; when every such run crashed before it applied the end,
   * and the runs after them restored the state without it, this is where the end shows.
   */
  noteEnded(id: number): void {
    for (const record of this.records) if (record.id === id) record.expiredAtMs ??= this.timers.nowMs();
  }

  /** Notes which node runs still have each live lease (call after every instant). */
  observe(): void {
    const nowMs = this.timers.nowMs();
    for (const slot of this.cluster.nodes.values()) {
      const kv = slot.kv;
      if (slot.node === null || kv === null) continue;
      const run = `${slot.id}#${slot.incarnation}`;
      const live = new Set(kv.leases().map((lease) => lease.id));
      for (const record of this.records) {
        if (live.has(record.id)) {
          record.seenOn.add(run);
          continue;
        }
        if (!record.seenOn.has(run)) continue;
        if (record.expiredAtMs === null) record.expiredAtMs = nowMs;
        if (kv.read(record.key) !== null) record.keyOutlived = true;
      }
    }
  }

  /**
   * The violations of the module comment's properties; `endMs` is the end of the run. With `late`, a
   * keepalive sent while the network was faulty counts as sent when it may have arrived at the latest:
   * one the stale fault held refreshes its lease then (the leader applies it as it comes).
   */
  violations(quietFromMs: number, endMs: number, late: LateDelivery | null = null): string[] {
    const found: string[] = [];
    for (const r of this.records) {
      const name = `lease ${r.id} of ${r.client}`;
      if (r.keyOutlived) found.push(`${name}: its key outlived it on a node`);
      if (r.expiredAtMs !== null && r.lastKeepaliveAckMs !== null && r.expiredAtMs < r.lastKeepaliveAckMs + r.ttlMs)
        found.push(
          `${name}: keepalive acknowledged at ${r.lastKeepaliveAckMs} ms, expired at ${r.expiredAtMs} ms, ` +
            `before its TTL (${r.ttlMs} ms) ran out`,
        );
      if (r.leftAloneAtMs === null) continue;
      const sent = r.keepalivesSentMs;
      const held = late === null ? [] : sent.filter((t) => t <= late.untilMs).map((t) => t + late.delayMaxMs);
      const lastMs = Math.max(r.lastAckMs, ...sent, ...held);
      const boundMs = lastMs + r.ttlMs + LEASE_EXPIRY_SLACK_MS;
      if (lastMs >= quietFromMs && boundMs <= endMs && (r.expiredAtMs ?? endMs) > boundMs)
        found.push(
          `${name}: left alone after ${lastMs} ms, not expired by ${boundMs} ms (at ${r.expiredAtMs ?? 'never'})`,
        );
    }
    return found;
  }

  /** Leases that were left alone and expired. */
  expiredCount(): number {
    return this.records.filter((r) => r.expiredAtMs !== null).length;
  }
}
