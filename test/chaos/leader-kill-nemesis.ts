/**
 * The scripted nemesis of the libcoap workload (issue 13): `cycles` times over the round, it
 * SIGKILLs the current leader and restarts it after a short hold, then SIGSTOPs a follower for
 * `pauseMs` and resumes it. Every time comes from the seeded Prng, so a round's schedule replays
 * from its seed; every fault is logged with its time, to be read against the history.
 */
import type { SeededPrng } from '../../contracts/prng.js';
import type { FaultKind, FaultRecord, NemesisTarget } from './nemesis.js';

/** Options of the leader-kill nemesis. */
export interface LeaderKillOptions {
  /** Kill-and-pause cycles over the round. Default 3. Limit: 1 to 100. */
  readonly cycles: number;
  /** How long the killed leader stays down, ms, uniform in [min, max]. Default 200 to 2,000. */
  readonly downMinMs: number;
  readonly downMaxMs: number;
  /** How long the follower stays paused, ms. Default 2,000. */
  readonly pauseMs: number;
}

export const DEFAULT_LEADER_KILL_OPTIONS: LeaderKillOptions = {
  cycles: 3,
  downMinMs: 200,
  downMaxMs: 2_000,
  pauseMs: 2_000,
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class LeaderKillNemesis {
  readonly faults: FaultRecord[] = [];
  private readonly busy = new Set<string>();
  private readonly options: LeaderKillOptions;
  private script: Promise<void> = Promise.resolve();
  private running = false;

  constructor(
    private readonly target: NemesisTarget,
    private readonly prng: SeededPrng,
    private readonly nowMs: () => number,
    private readonly durationMs: number,
    options: Partial<LeaderKillOptions> = {},
  ) {
    this.options = { ...DEFAULT_LEADER_KILL_OPTIONS, ...options };
    if (this.options.cycles < 1 || this.options.cycles > 100) throw new Error('cycles: 1 to 100');
  }

  /** The fault kinds this nemesis injects. */
  enabledKinds(): readonly FaultKind[] {
    return ['kill-leader', 'pause'];
  }

  /** The nodes not under a fault right now. */
  healthy(): readonly string[] {
    return this.target.ids.filter((id) => !this.busy.has(id));
  }

  start(): void {
    this.running = true;
    this.script = this.run();
  }

  /** Stops after the fault in progress, which it heals. */
  async stop(): Promise<void> {
    this.running = false;
    await this.script;
  }

  private async run(): Promise<void> {
    const slotMs = this.durationMs / this.options.cycles;
    const started = Date.now();
    for (let cycle = 0; cycle < this.options.cycles && this.running; cycle += 1) {
      // Each cycle starts somewhere in the first half of its slot, leaving time for the pause.
      const at = started + cycle * slotMs + this.prng.nextFloat() * slotMs * 0.4;
      await this.sleepUntil(at);
      if (!this.running) return;
      await this.killLeader();
      await this.sleepWhileRunning(this.prng.intBetween(500, 2_001));
      if (!this.running) return;
      await this.pauseFollower();
    }
  }

  private async killLeader(): Promise<void> {
    const leader = await this.target.leader(this.target.ids);
    if (leader === null) return;
    const downMs = this.prng.intBetween(this.options.downMinMs, this.options.downMaxMs + 1);
    this.busy.add(leader);
    try {
      this.faults.push({ t: this.nowMs(), kind: 'kill-leader', node: leader, holdMs: downMs });
      await this.target.kill(leader);
      await sleep(downMs);
      this.target.restart(leader);
    } finally {
      this.busy.delete(leader);
    }
  }

  private async pauseFollower(): Promise<void> {
    const leader = await this.target.leader(this.target.ids);
    const followers = this.target.ids.filter((id) => id !== leader);
    const node = followers[this.prng.intBetween(0, followers.length)];
    if (node === undefined) return;
    this.busy.add(node);
    try {
      this.faults.push({ t: this.nowMs(), kind: 'pause', node, holdMs: this.options.pauseMs });
      this.target.pause(node);
      await sleep(this.options.pauseMs);
      this.target.resume(node);
    } finally {
      this.busy.delete(node);
    }
  }

  private async sleepUntil(atMs: number): Promise<void> {
    await this.sleepWhileRunning(atMs - Date.now());
  }

  /** Sleeps `ms` in steps, waking early once stopped. */
  private async sleepWhileRunning(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (this.running && Date.now() < end) await sleep(Math.min(100, end - Date.now()));
  }
}
