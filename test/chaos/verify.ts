/**
 * The end of a chaos round, once every fault is healed. While the agents still run
 * (`verifyLive`): the cluster must serve a write again within the bound; each key is read back
 * (linearizably, recorded in the history); the nodes must converge to one applied index; and
 * every node's local copy of every key must equal the value read back. After the agents stop
 * (`verifyAfter`, when their traces are complete): the history must be linearizable, every
 * acknowledged write present, and the traces identical index by index.
 */
import type { AgentProcesses, StatusView } from '../../agent/cli/agent-processes.js';
import { pairOperations } from '../../agent/sim/history.js';
import { checkLinearizability } from '../../agent/sim/linearizability.js';
import { checkAcknowledgedWrites, compareTraces } from './checks.js';
import type { HistoryRecorder } from './recorder.js';
import { describeError } from '../../contracts/errors.js';

/** What the live checks found. */
export interface LiveFindings {
  /** Time from healing to the first acknowledged write and an agreed leader, ms; null if never. */
  readonly recoveryMs: number | null;
  /** Each key's value read back (keys that could not be read are missing). */
  readonly finals: ReadonlyMap<string, string | null>;
  /** The applied index the nodes converged on; null if they did not. */
  readonly convergedIndex: number | null;
  readonly violations: readonly string[];
}

/** The verdict of a round. */
export interface Verdict {
  readonly ok: boolean;
  readonly violations: readonly string[];
  readonly recoveryMs: number | null;
  readonly convergedIndex: number | null;
  readonly operations: number;
  readonly linearizable: boolean | 'unknown';
  readonly statesExplored: number;
  readonly traceIndexesCompared: number;
  /** Log entries replayed to check that no write took effect twice (single-apply.ts); 0 until then. */
  readonly entriesReplayed: number;
  /** Puts the log holds twice that the state machine answered from a session (single-apply.ts); 0 until then. */
  readonly duplicatesAnswered: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function recover(processes: AgentProcesses, boundMs: number): Promise<number | null> {
  const started = Date.now();
  const ids = processes.agents().map((a) => a.init.id);
  for (let i = 0; Date.now() - started < boundMs; i += 1) {
    const agent = processes.agent(ids[i % ids.length] ?? 'n1');
    try {
      const response = await agent.client.request({
        method: 'PUT',
        path: ['kv', 'chaos-probe'],
        payload: new TextEncoder().encode(String(i)),
      });
      if (response.code >= 0x40 && response.code < 0x60) {
        await processes.waitForLeader(Math.max(1, boundMs - (Date.now() - started)));
        return Date.now() - started;
      }
    } catch {
      // Not yet: try the next node.
    }
    await sleep(100);
  }
  return null;
}

async function readBack(
  processes: AgentProcesses,
  history: HistoryRecorder,
  keyCount: number,
  boundMs: number,
): Promise<Map<string, string | null>> {
  const finals = new Map<string, string | null>();
  const agents = processes.agents();
  for (let k = 0; k < keyCount; k += 1) {
    const key = `k${k}`;
    const id = history.invoke('final', 'get', key, null);
    const deadline = Date.now() + boundMs;
    let done = false;
    for (let i = 0; !done && Date.now() < deadline; i += 1) {
      try {
        const response = await (agents[i % agents.length] ?? agents[0])?.client.request({
          method: 'GET',
          path: ['kv', key],
        });
        if (response?.code === 0x45 || response?.code === 0x84) {
          const value = response.code === 0x45 ? new TextDecoder().decode(response.payload) : null;
          history.complete('final', id, { type: 'ok', value });
          finals.set(key, value);
          done = true;
        }
      } catch {
        // Try the next node.
      }
      if (!done) await sleep(100);
    }
    if (!done) history.complete('final', id, { type: 'fail' });
  }
  return finals;
}

async function converge(processes: AgentProcesses, boundMs: number): Promise<number | null> {
  const deadline = Date.now() + boundMs;
  const ids = processes.agents().map((a) => a.init.id);
  while (Date.now() < deadline) {
    const statuses = await Promise.all(ids.map((id) => processes.status(id)));
    const all = statuses.filter((s): s is StatusView => s !== null);
    const first = all[0];
    if (
      all.length === ids.length &&
      first !== undefined &&
      all.every((s) => s.lastApplied === first.lastApplied && s.commitIndex === first.lastApplied)
    )
      return first.lastApplied;
    await sleep(200);
  }
  return null;
}

async function compareLocalCopies(
  processes: AgentProcesses,
  finals: ReadonlyMap<string, string | null>,
): Promise<string[]> {
  const violations: string[] = [];
  for (const agent of processes.agents()) {
    for (const [key, expected] of finals) {
      try {
        const response = await agent.client.request({ method: 'GET', path: ['kv', key], query: ['stale'] });
        const value =
          response.code === 0x45
            ? new TextDecoder().decode(response.payload)
            : response.code === 0x84
              ? null
              : `(code ${response.code})`;
        if (value !== expected)
          violations.push(
            `${agent.init.id} holds ${JSON.stringify(value)} for ${key}, the cluster read ${JSON.stringify(expected)}`,
          );
      } catch (error) {
        violations.push(`${agent.init.id} did not answer a local read of ${key}: ${describeError(error)}`);
      }
    }
  }
  return violations;
}

/** The checks made while the agents run. */
export async function verifyLive(
  processes: AgentProcesses,
  history: HistoryRecorder,
  keyCount: number,
  recoveryBoundMs: number,
  log: (line: string) => void,
): Promise<LiveFindings> {
  const violations: string[] = [];
  const recoveryMs = await recover(processes, recoveryBoundMs);
  if (recoveryMs === null) violations.push(`the cluster did not serve a write within ${recoveryBoundMs} ms of healing`);
  log(`  healed: serving again after ${recoveryMs === null ? 'never' : `${recoveryMs} ms`}`);
  const finals = await readBack(processes, history, keyCount, recoveryBoundMs);
  if (finals.size < keyCount) violations.push(`only ${finals.size} of ${keyCount} keys could be read back`);
  const convergedIndex = await converge(processes, recoveryBoundMs);
  if (convergedIndex === null)
    violations.push(`the nodes did not converge to one applied index within ${recoveryBoundMs} ms`);
  else violations.push(...(await compareLocalCopies(processes, finals)));
  log(`  converged at applied index ${String(convergedIndex)}`);
  return { recoveryMs, finals, convergedIndex, violations };
}

/** The checks made once the agents have stopped. */
export function verifyAfter(
  history: HistoryRecorder,
  live: LiveFindings,
  traces: ReadonlyMap<string, string>,
): Verdict {
  const violations = [...live.violations];
  const operations = pairOperations(history.events);
  const lin = checkLinearizability(operations);
  if (lin.ok === false) {
    violations.push(`not linearizable: ${lin.explanation}`);
    for (const op of lin.window)
      violations.push(
        `    ${String(op.client)}#${op.id} ${op.op} ${op.key} ${JSON.stringify(op.value)} ` +
          `-> ${op.status} ${JSON.stringify(op.output)} [${op.invokeMs}, ${op.completeMs}]`,
      );
  } else if (lin.ok === 'unknown') {
    violations.push(`linearizability unknown: ${lin.explanation}`);
  }
  violations.push(...checkAcknowledgedWrites(operations, live.finals));
  const traceCheck = compareTraces(traces);
  violations.push(...traceCheck.violations.map((v) => `traces differ: ${v}`));
  if (traceCheck.indexesCompared === 0 && traces.size >= 2)
    violations.push('the traces share no applied index: nothing to compare');
  return {
    ok: violations.length === 0,
    violations,
    recoveryMs: live.recoveryMs,
    convergedIndex: live.convergedIndex,
    operations: operations.length,
    linearizable: lin.ok,
    statesExplored: lin.statesExplored,
    traceIndexesCompared: traceCheck.indexesCompared,
    entriesReplayed: 0,
    duplicatesAnswered: 0,
  };
}
