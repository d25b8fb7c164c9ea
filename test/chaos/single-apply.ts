/**
 * The chaos harness's direct check that no client write took effect twice. Every PUT of a round
 * writes a value no other PUT writes, so a value that took effect at two log indexes is a write
 * applied twice, whether or not a read happened to see it. Once the agents have stopped, each
 * node's log (and the snapshot it starts from) is replayed through the KV state machine, as the
 * node applied it; a put result carries the index at which the put took effect, so one value
 * with two different result revisions is a double apply. Entries that a retried or retransmitted
 * write left twice in the log are fine as long as the second is answered from the session
 * (same revision), which is what the state machine's deduplication does.
 */
import { join } from 'node:path';
import type { LogEntry } from '../../contracts/log.js';
import { KvStateMachine, decodeKvCommand, decodeKvResult } from '../../agent/kv/index.js';
import { decodeNodeState } from '../../agent/trust/trust-codec.js';
import { WalPersistenceEngine } from '../../storage/wal/wal-engine.js';
import { describeError } from '../../contracts/errors.js';

/** What the replay found on one node. */
export interface SingleApplyCheck {
  /** Entries replayed, over every node. */
  readonly entriesReplayed: number;
  /**
   * Puts that reached the log again (a forwarding retry, a retransmission to a restarted
   * endpoint) and were answered from the session instead of running, on the first node.
   */
  readonly duplicatesAnswered: number;
  readonly violations: readonly string[];
}

/** The value a put entry writes, or null for any other entry. */
function putValueOf(entry: LogEntry): string | null {
  if (entry.type !== 'command') return null;
  try {
    const command = decodeKvCommand(entry.command);
    return command.op === 'put' ? Buffer.from(command.value).toString('utf8') : null;
  } catch {
    // Not a KV command (the state machine answers KV_MALFORMED): it writes nothing.
    return null;
  }
}

/** Replays one node's persisted log; returns how many entries it replayed and the double applies. */
async function replayNode(
  id: string,
  dataDir: string,
  committed: number,
): Promise<{ replayed: number; duplicates: number; violations: string[] }> {
  const engine = await WalPersistenceEngine.open({ path: dataDir });
  try {
    const state = await engine.load();
    const sm = new KvStateMachine();
    const snapshot = state.snapshot;
    // From index 1 when the log still has it (more writes checked), else from the snapshot.
    const fromStart = state.entries[0]?.index === 1;
    // A node's snapshot holds its KV image beside its trust state (agent/trust); older ones the KV image alone.
    if (!fromStart && snapshot !== null)
      sm.restore(
        snapshot,
        snapshot.data.byteLength === 0 ? snapshot.data : (decodeNodeState(snapshot.data)?.kv ?? snapshot.data),
      );
    const tookEffect = new Map<string, number>();
    const violations: string[] = [];
    let replayed = 0;
    let duplicates = 0;
    for (const entry of state.entries) {
      if (entry.index <= sm.lastApplied) continue;
      if (entry.index > committed) break;
      const applied = sm.apply(entry);
      replayed += 1;
      const value = putValueOf(entry);
      if (value === null) continue;
      const result = decodeKvResult(applied);
      if (result.type !== 'put') continue;
      const first = tookEffect.get(value);
      if (first === undefined) tookEffect.set(value, result.revision);
      else if (first === result.revision) duplicates += 1;
      else if (violations.length < 20) {
        violations.push(
          `${id}: the put of ${JSON.stringify(value)} took effect twice, at index ${first} and again at ` +
            `index ${result.revision}`,
        );
      }
    }
    return { replayed, duplicates, violations };
  } finally {
    await engine.close();
  }
}

/**
 * Replays the log of every node (`dirs`: node id → its folder, holding `data/`) up to index
 * `committed` (one every node applied; later entries may never commit). Agents must be stopped.
 */
export async function checkSingleApply(
  dirs: ReadonlyMap<string, string>,
  committed: number,
): Promise<SingleApplyCheck> {
  let entriesReplayed = 0;
  let duplicatesAnswered: number | null = null;
  const violations: string[] = [];
  for (const [id, dir] of dirs) {
    try {
      const node = await replayNode(id, join(dir, 'data'), committed);
      entriesReplayed += node.replayed;
      duplicatesAnswered ??= node.duplicates;
      violations.push(...node.violations);
    } catch (error) {
      violations.push(`${id}: its log could not be replayed: ${describeError(error)}`);
    }
  }
  return { entriesReplayed, duplicatesAnswered: duplicatesAnswered ?? 0, violations };
}
