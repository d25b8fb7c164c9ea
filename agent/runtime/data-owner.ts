/**
 * The data folder's owner record (`<dataDir>/owner.json`): the cluster id and the node id whose
 * state the folder holds. Raft assumes that a node's votes and acknowledged entries are on its
 * own disk; a folder of another member (a copy, swapped mounts or paths) makes a node claim
 * votes and entries it never gave, and a folder of another cluster mixes two logs. Nothing in the
 * engines' files names the node, so the agent checks this record against agent.json before it
 * opens the storage and refuses a mismatch (ConfigError, exit 78: the configuration points at
 * the wrong folder, and a restart cannot help).
 *
 * A file next to the engine's, not a key inside it: every engine (`wal`, `lmdb-direct`) gets the
 * same check without a format change, it is read before the engine opens (opening may already
 * write: `wal` upgrades a folder of the LMDB engine), and an operator can read it with `cat`.
 *
 * A folder without the record (created before it existed, or new) is adopted: the record is
 * written once the engine holds the folder's lock, so two agents started on one folder cannot
 * both claim it. It is written durably (temporary file, fsync, rename, folder fsync); a left-over
 * temporary file is never read and is removed at the next claim. A damaged record is refused,
 * never rewritten: it no longer says whose the folder is, and rewriting it would adopt whatever
 * folder this is, which is the mix-up the record exists to catch.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, PersistenceError } from '../../contracts/errors.js';
import { assert } from '../../contracts/assert.js';
import type { AgentConfig } from '../config/agent-config.js';
import { writeFileDurably } from '../config/secret-files.js';
import { readDataFile } from './data-dir.js';

/** The record's file name in the data folder. */
export const DATA_OWNER_FILE = 'owner.json';
/** The record's format number. */
const OWNER_FORMAT = 1;
/** Most bytes of a record read (it holds one small JSON object). */
const OWNER_BYTES_MAX = 4096;

/** Whose a data folder is: agent.json's `cluster` (null when it has none) and `nodeId`. */
export interface DataOwner {
  readonly cluster: string | null;
  readonly nodeId: string;
}

/** The settings the record is checked against. */
export type OwnerSettings = Pick<AgentConfig, 'dataDir' | 'nodeId' | 'cluster'>;

const describeOwner = (owner: DataOwner): string =>
  `node ${owner.nodeId} ${owner.cluster === null ? 'of no cluster id' : `of cluster ${owner.cluster}`}`;

function parseOwner(text: string): DataOwner | null {
  let value: unknown;
  try {
    value = text.length <= OWNER_BYTES_MAX ? JSON.parse(text) : null;
  } catch {
    // A damaged or foreign file: the caller reports it.
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const format: unknown = Reflect.get(value, 'format');
  const cluster: unknown = Reflect.get(value, 'cluster');
  const nodeId: unknown = Reflect.get(value, 'nodeId');
  if (format !== OWNER_FORMAT || typeof nodeId !== 'string' || nodeId.length === 0) return null;
  if (cluster !== null && (typeof cluster !== 'string' || cluster.length === 0)) return null;
  return { cluster, nodeId };
}

/**
 * The record of `dataDir`, or null when it has none. Throws PersistenceError STORAGE_CORRUPT for
 * a damaged record (empty, not JSON, missing fields), STORAGE_IO when it cannot be read.
 */
export function readDataOwner(dataDir: string): DataOwner | null {
  const file = readDataFile(dataDir, DATA_OWNER_FILE);
  if (file === null) return null;
  const { path, text } = file;
  const owner = parseOwner(text);
  if (owner === null)
    throw new PersistenceError(
      'STORAGE_CORRUPT',
      `${path} is damaged (expected {"format": 1, "cluster": ..., "nodeId": ...}), so whose data folder this is ` +
        `is unknown; it is not rewritten. If ${dataDir} is this node's folder, restore ${DATA_OWNER_FILE} or ` +
        "delete it (the next start records the folder as this node's)",
    );
  return owner;
}

/**
 * Checks the record of `settings.dataDir` against `settings`, before the storage opens; returns
 * it, or null when the folder has none. Throws ConfigError naming both owners when it is another
 * node's or another cluster's folder, and what readDataOwner throws.
 */
export function checkDataOwner(settings: OwnerSettings): DataOwner | null {
  const owner = readDataOwner(settings.dataDir);
  if (owner === null) return null;
  const self: DataOwner = { cluster: settings.cluster, nodeId: settings.nodeId };
  if (owner.nodeId === self.nodeId && owner.cluster === self.cluster) return owner;
  const fix =
    owner.nodeId === self.nodeId
      ? `point dataDir at ${self.nodeId}'s folder of this cluster`
      : `point dataDir at ${self.nodeId}'s own folder`;
  throw new ConfigError([
    `dataDir: data folder ${settings.dataDir} belongs to ${describeOwner(owner)}, this agent is ` +
      `${describeOwner(self)}: ${fix}`,
  ]);
}

/**
 * Checks the record again and writes it when the folder has none; call it while the storage
 * engine holds the folder's lock. Returns true when it wrote the record (the folder was adopted).
 */
export function claimDataOwner(settings: OwnerSettings): boolean {
  if (checkDataOwner(settings) !== null) return false;
  // Temporary files of an interrupted write (writeFileDurably's `<file>.<pid>.tmp`) count for nothing.
  for (const name of readdirSync(settings.dataDir))
    if (name.startsWith(`${DATA_OWNER_FILE}.`) && name.endsWith('.tmp')) rmSync(join(settings.dataDir, name));
  const owner: DataOwner = { cluster: settings.cluster, nodeId: settings.nodeId };
  writeFileDurably(
    join(settings.dataDir, DATA_OWNER_FILE),
    `${JSON.stringify({ format: OWNER_FORMAT, ...owner })}\n`,
    0o600,
  );
  assert(checkDataOwner(settings) !== null, 'the owner record reads back as written');
  return true;
}
