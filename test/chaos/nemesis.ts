/**
 * The chaos harness's nemesis: on a seeded schedule it injects one fault at a time per lane
 * (a lane per node the cluster can lose: (N-1)/2), holds it, then heals it and rests:
 * - kill: SIGKILL a random node, restart it when the fault ends;
 * - kill-leader: the same, aimed at the current leader;
 * - pause / pause-leader: SIGSTOP, then SIGCONT;
 * - partition: cut a node (or the leader) from every other node (network namespaces only);
 * - flaky: cut and mend a node's links at random every few tens of ms (network namespaces only).
 * Every fault is logged with its time, so a failing run can be read against the history.
 */
import type { SeededPrng } from '../../contracts/prng.js';
import type { NetnsLab } from './netns.js';

/** The kinds of fault. */
export const FAULT_KINDS = [
  'kill',
  'kill-leader',
  'pause',
  'pause-leader',
  'partition',
  'partition-leader',
  'flaky',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
const NETWORK_FAULTS: readonly FaultKind[] = ['partition', 'partition-leader', 'flaky'];

/** What the nemesis acts on. */
export interface NemesisTarget {
  readonly ids: readonly string[];
  kill(id: string): Promise<void>;
  restart(id: string): void;
  pause(id: string): void;
  resume(id: string): void;
  /** The current leader among the nodes not faulted, or null. */
  leader(among: readonly string[]): Promise<string | null>;
  /** Network faults; null when the machine does not allow them. */
  readonly net: NetnsLab | null;
}

/** Options of the nemesis. */
export interface NemesisOptions {
  /** How long a fault is held, ms, uniform in [min, max]. Default 1,000 to 4,000. */
  readonly holdMinMs: number;
  readonly holdMaxMs: number;
  /** Rest between two faults of a lane, ms, uniform in [min, max]. Default 1,000 to 3,000. */
  readonly restMinMs: number;
  readonly restMaxMs: number;
}

export const DEFAULT_NEMESIS_OPTIONS: NemesisOptions = {
  holdMinMs: 1_000,
  holdMaxMs: 4_000,
  restMinMs: 1_000,
  restMaxMs: 3_000,
};

/** One fault injected. */
export interface FaultRecord {
  readonly t: number;
  readonly kind: FaultKind;
  readonly node: string;
  readonly holdMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ChaosNemesis {
  readonly faults: FaultRecord[] = [];
  private readonly busy = new Set<string>();
  private readonly lanes: Promise<void>[] = [];
  private running = false;
  private readonly kinds: readonly FaultKind[];
  private readonly options: NemesisOptions;

  constructor(
    private readonly target: NemesisTarget,
    private readonly prng: SeededPrng,
    private readonly nowMs: () => number,
    options: Partial<NemesisOptions> = {},
  ) {
    this.options = { ...DEFAULT_NEMESIS_OPTIONS, ...options };
    this.kinds = FAULT_KINDS.filter((k) => target.net !== null || !NETWORK_FAULTS.includes(k));
  }

  /** The fault kinds this machine allows. */
  enabledKinds(): readonly FaultKind[] {
    return this.kinds;
  }

  /** The nodes not under a fault right now. */
  healthy(): readonly string[] {
    return this.target.ids.filter((id) => !this.busy.has(id));
  }

  start(): void {
    this.running = true;
    const lanes = Math.max(1, Math.floor((this.target.ids.length - 1) / 2));
    for (let i = 0; i < lanes; i += 1) this.lanes.push(this.lane(this.prng.fork()));
  }

  /** Stops injecting and heals every fault in progress. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.lanes);
    this.target.net?.healAll();
  }

  private async lane(prng: SeededPrng): Promise<void> {
    while (this.running) {
      await sleep(prng.intBetween(this.options.restMinMs, this.options.restMaxMs + 1));
      if (!this.running) break;
      const kind = this.kinds[prng.intBetween(0, this.kinds.length)] ?? 'kill';
      const holdMs = prng.intBetween(this.options.holdMinMs, this.options.holdMaxMs + 1);
      const free = this.healthy();
      let node: string | null = free[prng.intBetween(0, free.length)] ?? null;
      if (kind.endsWith('-leader')) node = await this.target.leader(free);
      if (node === null || this.busy.has(node)) continue;
      this.busy.add(node);
      try {
        this.faults.push({ t: this.nowMs(), kind, node, holdMs });
        await this.inject(kind, node, holdMs, prng);
      } finally {
        this.busy.delete(node);
      }
    }
  }

  private async inject(kind: FaultKind, node: string, holdMs: number, prng: SeededPrng): Promise<void> {
    const net = this.target.net;
    switch (kind) {
      case 'kill':
      case 'kill-leader':
        await this.target.kill(node);
        await sleep(holdMs);
        this.target.restart(node);
        return;
      case 'pause':
      case 'pause-leader':
        this.target.pause(node);
        await sleep(holdMs);
        this.target.resume(node);
        return;
      case 'partition':
      case 'partition-leader':
        net?.isolate([node]);
        await sleep(holdMs);
        for (const other of this.target.ids) net?.mend(node, other);
        return;
      case 'flaky': {
        const end = Date.now() + holdMs;
        while (Date.now() < end) {
          if (prng.chance(0.5)) net?.isolate([node]);
          else for (const other of this.target.ids) net?.mend(node, other);
          await sleep(prng.intBetween(20, 200));
        }
        for (const other of this.target.ids) net?.mend(node, other);
        return;
      }
    }
  }
}
