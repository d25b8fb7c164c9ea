/**
 * `coraft recover --config agent.json --force-new-cluster [--yes]`: turns a stopped member of a
 * cluster that lost quorum for good into a one-member cluster that keeps every entry it knows
 * committed (agent/runtime/force-new-cluster.ts). Without --yes it only reports what it would
 * do and changes nothing. It refuses while the agent runs (the data folder's lock). With --yes
 * it also removes the other members from agent.json's `members`, their link keys from this
 * member's keystore file, and the keystore cache, so nothing on this gateway still names them
 * (and the agent, whose configuration needs a link key for every listed member, starts); the
 * replicated trust state revokes them when the new configuration applies. Runbook:
 * deploy/README.md.
 */
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadAgentConfig } from '../config/agent-config.js';
import type { AgentConfig } from '../config/agent-config.js';
import { writeFileDurably, writeSecretFile } from '../config/secret-files.js';
import { ConfigError, PersistenceError, describeError } from '../../contracts/errors.js';
import { simpleConfiguration } from '../core/configuration.js';
import { EXIT, exitCodeFor } from '../runtime/agent.js';
import { openStorage, readStorage } from '../runtime/open-storage.js';
import { checkDataOwner, claimDataOwner } from '../runtime/data-owner.js';
import { COMMIT_MARKER_FILE, readCommitMarker } from '../runtime/commit-marker.js';
import { epochOfTerm } from '../runtime/recovery-epoch.js';
import { planForceNewCluster, recoveryBatch, type RecoveryPlan } from '../runtime/force-new-cluster.js';
import type { PersistedState } from '../../contracts/persistence.js';
import { parseOptions, UsageError } from './args.js';

const HELP = `usage: coraft recover --config FILE --force-new-cluster [--keep-uncommitted] [--yes]

Run on a STOPPED member of a cluster that has lost quorum for good. Rewrites that member's
configuration to itself alone, keeping every entry it knows committed and dropping the rest
(--keep-uncommitted: keep its whole log, see deploy/README.md). Without --yes it prints what it
would do and changes nothing.`;

/** The loud warning printed before anything else. */
const WARNING = [
  '!!! WARNING: coraft recover --force-new-cluster !!!',
  'This makes this member a cluster of ONE. Every other member is removed and must be wiped and added',
  'back (coraft members add). Entries this member did not know committed are DROPPED. Run it on one',
  'survivor only (the one with the highest commit index), and only when the others are gone for good.',
  '',
].join('\n');

/** The report of a plan, one fact per line. */
export function describePlan(plan: RecoveryPlan): string {
  const marker = plan.markerIndex === null ? 'no commit marker' : `commit marker ${plan.markerIndex}`;
  const lines = [
    `node ${plan.nodeId}: term ${plan.term}, snapshot at ${plan.snapshotIndex}, log up to ${plan.lastIndex}`,
    `known committed up to ${plan.knownCommitIndex} (${marker}, snapshot ${plan.snapshotIndex})`,
    `kept: every entry up to ${plan.commitIndex}` +
      (plan.keptUncommittedCount === 0 ? '' : ` (${plan.keptUncommittedCount} not known committed, kept)`),
    plan.droppedCount === 0
      ? 'dropped: 0 uncommitted entries'
      : `dropped: ${plan.droppedCount} uncommitted entries (${plan.commitIndex + 1} to ${plan.lastIndex})`,
    `removed members: ${plan.removed.length === 0 ? '(none)' : plan.removed.join(', ')}`,
    `new configuration: voters [${plan.next.voters.join(', ')}] at index ${plan.configIndex}, term ${plan.newTerm} ` +
      `(recovery epoch ${epochOfTerm(plan.newTerm)}: members left out stop when they hear from it)`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Removes the link keys of `removed` from the bundle's keystore file; returns how many it removed. */
function pruneKeystoreFile(config: AgentConfig, removed: readonly string[]): number {
  if (config.psk === null) return 0;
  const path = config.psk.keystoreFile;
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError([`psk.keystoreFile: ${path} must hold a JSON object`]);
  const kept = Object.fromEntries(Object.entries(parsed).filter(([id]) => !removed.includes(id)));
  const count = Object.keys(parsed).length - Object.keys(kept).length;
  if (count > 0) writeSecretFile(path, `${JSON.stringify(kept, null, 2)}\n`);
  return count;
}

/** Rewrites agent.json's `members` to this member alone, keeping every other field and the file's mode. */
function rewriteMembers(config: AgentConfig): void {
  const raw: unknown = JSON.parse(readFileSync(config.file, 'utf8'));
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError([`${config.file} must hold a JSON object`]);
  const self = config.members.find((m) => m.id === config.nodeId) ?? {
    id: config.nodeId,
    address: `${config.listenPeer.host}:${config.listenPeer.port}`,
  };
  const rewritten = { ...raw, members: [{ id: self.id, address: self.address }] };
  writeFileDurably(config.file, `${JSON.stringify(rewritten, null, 2)}\n`, statSync(config.file).mode & 0o777);
}

/**
 * Refuses a data folder that is missing or empty before the storage opens (which would create
 * one): a wrong `dataDir` would otherwise plan, and with --yes make, an empty one-member cluster,
 * and prune the keystore and agent.json of a member whose state is elsewhere.
 */
function checkHoldsState(config: AgentConfig): void {
  const where = `check dataDir in ${config.file}: recover needs the member's own data folder`;
  if (!existsSync(config.dataDir)) throw new ConfigError([`dataDir: ${config.dataDir} does not exist; ${where}`]);
  if (readdirSync(config.dataDir).length === 0)
    throw new ConfigError([`dataDir: ${config.dataDir} is empty, there is nothing to recover; ${where}`]);
}

/**
 * The commit marker's index. A damaged marker, or one beyond the log's last entry (the marker
 * never runs ahead of what this member applied, so the marker or the log is not the one this
 * member wrote), cannot say which entries committed: with --keep-uncommitted it is not needed
 * and is ignored (null, reported in `note`); otherwise recover stops and says what to choose.
 */
function markerOf(
  config: AgentConfig,
  state: PersistedState,
  keepUncommitted: boolean,
  note: (line: string) => void,
): number | null {
  const snapshotIndex = state.snapshot?.lastIncludedIndex ?? 0;
  const lastIndex = state.entries.at(-1)?.index ?? snapshotIndex;
  const file = join(config.dataDir, COMMIT_MARKER_FILE);
  let problem: string;
  try {
    const marker = readCommitMarker(config.dataDir);
    if (marker === null || marker <= lastIndex) return marker;
    problem = `${file} names index ${marker}, beyond the log's last entry ${lastIndex}`;
  } catch (error) {
    if (!(error instanceof PersistenceError)) throw error;
    problem = describeError(error);
  }
  if (keepUncommitted || lastIndex === snapshotIndex) {
    const why = keepUncommitted ? '--keep-uncommitted keeps the whole log' : 'the log ends at the snapshot';
    note(`note: ${problem}; ignored: ${why} without it\n`);
    return null;
  }
  throw new PersistenceError(
    'STORAGE_CORRUPT',
    `${problem}: the commit marker cannot tell which of entries ${snapshotIndex + 1} to ${lastIndex} committed. ` +
      'Either run again with --keep-uncommitted (keeps all of them, some perhaps never committed), or move ' +
      `the file aside (mv ${file} ${file}.damaged) and run again to keep only the snapshot (index ` +
      `${snapshotIndex}; drops all of them), or recover another survivor whose marker is intact ` +
      '(deploy/README.md, section 7). Do not start the agent to repair it: without a quorum it applies ' +
      'nothing past its snapshot, and the marker it writes would say only that',
  );
}

/** What recover planned, and for a dry run what opening the storage would write first (one line each). */
interface Recovery {
  readonly plan: RecoveryPlan;
  readonly wouldWrite: readonly string[];
}

/** The plan for `state`, the stored state of this member's data folder. */
function planOf(config: AgentConfig, state: PersistedState, keepUncommitted: boolean): RecoveryPlan {
  if (state.entries.length === 0 && state.snapshot === null && state.hardState.currentTerm === 0)
    throw new ConfigError([`dataDir: ${config.dataDir} holds no log or snapshot: nothing to recover`]);
  const bootstrap = simpleConfiguration(
    config.members.map((m) => m.id),
    config.members,
  );
  const marker = markerOf(config, state, keepUncommitted, (line) => process.stderr.write(line));
  return planForceNewCluster(state, config.nodeId, marker, bootstrap, keepUncommitted);
}

/**
 * Plans from the data folder read without writing (runtime/open-storage.ts, readStorage): the
 * storage's open would upgrade an older format, zero a torn log frame and replay the log into the
 * store; the dry run says so instead. Refused as the run with --yes is.
 */
async function dryRun(config: AgentConfig, keepUncommitted: boolean): Promise<Recovery> {
  const reading = await readStorage(config);
  const wouldWrite: string[] = [];
  if (reading.format !== null && reading.format < reading.formatVersion) {
    const was = reading.format === 1 ? "the lmdb-direct engine's format 1" : `format ${reading.format}`;
    wouldWrite.push(
      `with --yes, first: upgrade the data folder from ${was} to format ${reading.formatVersion} (one way: an ` +
        'earlier build of coraft refuses it then; deploy/README.md, "Upgrading stores")',
    );
  }
  if (reading.tornBytes > 0)
    wouldWrite.push(
      `with --yes, first: zero the torn last frame of the log (${reading.tornBytes} bytes, a write cut short by ` +
        'a stop; it was never acknowledged), as a start of the agent does',
    );
  return { plan: planOf(config, reading.state, keepUncommitted), wouldWrite };
}

/**
 * Opens the storage (refused while the agent runs, or on a folder recorded as another node's or
 * another cluster's, missing or empty), plans, and with `apply` writes the plan; without it reads
 * the folder and writes nothing (dryRun). The folder stays this node's, of the same cluster id (the
 * recovered member keeps its keys and trust state); with `apply` a folder without an owner record
 * gets one, as the agent's start would write it.
 */
async function recover(config: AgentConfig, apply: boolean, keepUncommitted: boolean): Promise<Recovery> {
  checkDataOwner(config);
  checkHoldsState(config);
  if (!apply) return dryRun(config, keepUncommitted);
  const storage = await openStorage(config);
  try {
    const plan = planOf(config, await storage.load(), keepUncommitted);
    claimDataOwner(config);
    await storage.persist(recoveryBatch(plan));
    return { plan, wouldWrite: [] };
  } finally {
    await storage.close();
  }
}

/** Runs `coraft recover`; returns the exit code. */
export async function runRecoverCommand(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, {
    config: { type: 'string' },
    'force-new-cluster': { type: 'boolean' },
    'keep-uncommitted': { type: 'boolean' },
    yes: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.ok;
  }
  if (values.config === undefined) throw new UsageError('--config: required (the agent.json of the member)');
  if (values['force-new-cluster'] !== true)
    throw new UsageError('recover needs --force-new-cluster (the one recovery it performs); see --help');
  let config: AgentConfig;
  try {
    config = loadAgentConfig(values.config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`coraft recover: ${error.message}\n`);
    return EXIT.config;
  }
  if (config.storage === 'memory') throw new UsageError('recover: storage "memory" keeps nothing to recover');
  const apply = values.yes === true;
  process.stderr.write(WARNING);
  let plan: RecoveryPlan;
  let wouldWrite: readonly string[];
  try {
    ({ plan, wouldWrite } = await recover(config, apply, values['keep-uncommitted'] === true));
  } catch (error) {
    const locked = error instanceof PersistenceError && error.code === 'STORAGE_LOCKED';
    const hint = locked ? ' (is the agent running? stop it first: systemctl stop coraft)' : '';
    process.stderr.write(`coraft recover: ${describeError(error)}${hint}\n`);
    return exitCodeFor(error);
  }
  process.stdout.write(describePlan(plan));
  if (!apply) {
    for (const line of wouldWrite) process.stdout.write(`${line}\n`);
    process.stdout.write('dry run: nothing was changed. Run again with --yes to do it.\n');
    return EXIT.ok;
  }
  const pruned = pruneKeystoreFile(config, plan.removed);
  rewriteMembers(config);
  const cache = join(config.dataDir, 'keystore-cache.json');
  if (existsSync(cache)) rmSync(cache);
  process.stdout.write(
    `done: ${config.nodeId} is now a one-member cluster; ${pruned} link keys removed from the keystore file.\n` +
      `${config.file}: members is now ${config.nodeId} alone.\n` +
      'Start the agent, then add members back with `coraft members add` (deploy/README.md).\n',
  );
  return EXIT.ok;
}
