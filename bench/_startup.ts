/**
 * Start-up timing of a system under test: from each member's spawn to its client endpoint's
 * first answer (the member's own start-up), and from the first spawn to the first answer that
 * names a leader (the cluster serves). Members are probed with overlapping requests every
 * 10 ms, so a probe lost while a member binds its port delays the figure by one period, not
 * by a retransmission timeout.
 */
import { performance } from 'node:perf_hooks';
import { round } from './_figures.js';
import { sleep } from './_system.js';
import type { BenchSystem } from './_system.js';

/** What start-up took. */
export interface StartupFigures {
  /** First spawn to the first answer naming a leader, ms; null when none came within the bound. */
  readonly leaderKnownMs: number | null;
  /** Each member's spawn to its first answer, ms; null when it did not answer within the bound. */
  readonly answeredMs: Readonly<Record<string, number | null>>;
}

/** How often members are probed, ms. */
const PROBE_EVERY_MS = 10;
/** How long one probe waits for its answer, ms. */
const PROBE_TIMEOUT_MS = 250;
/** Most probes outstanding at once (each member at most a probe timeout's worth). */
const PROBES_OUTSTANDING_MAX = 3 * Math.ceil(PROBE_TIMEOUT_MS / PROBE_EVERY_MS);

/**
 * Probes `ids` of `system` from `spawned` (each member's spawn time) until every one answered
 * and, if `untilLeader`, one named a leader; at most `boundMs`.
 */
export async function probeStartup(
  system: BenchSystem,
  spawned: ReadonlyMap<string, number>,
  untilLeader: boolean,
  boundMs: number,
): Promise<StartupFigures> {
  const first = Math.min(...spawned.values());
  const answered = new Map<string, number>();
  let leaderAt: number | null = null;
  let outstanding = 0;
  const probes: Promise<void>[] = [];
  const done = (): boolean => answered.size === spawned.size && (!untilLeader || leaderAt !== null);
  while (!done() && performance.now() - first < boundMs) {
    for (const id of spawned.keys()) {
      if (outstanding >= PROBES_OUTSTANDING_MAX || (answered.has(id) && (!untilLeader || leaderAt !== null))) continue;
      outstanding += 1;
      probes.push(
        system.probe(id, PROBE_TIMEOUT_MS).then((seen) => {
          const now = performance.now();
          outstanding -= 1;
          if (seen.answered && !answered.has(id)) answered.set(id, now - (spawned.get(id) ?? first));
          if (seen.leaderKnown && leaderAt === null) leaderAt = now - first;
        }),
      );
    }
    await sleep(PROBE_EVERY_MS);
  }
  await Promise.all(probes);
  const answeredMs = Object.fromEntries(
    [...spawned.keys()].map((id) => [id, answered.has(id) ? round(answered.get(id) ?? 0, 0) : null]),
  );
  return { leaderKnownMs: leaderAt === null ? null : round(leaderAt, 0), answeredMs };
}

/** Starts `system` and times its start-up. */
export async function measureStartup(system: BenchSystem, boundMs: number): Promise<StartupFigures> {
  const spawned = await system.start();
  return probeStartup(system, spawned, true, boundMs);
}
