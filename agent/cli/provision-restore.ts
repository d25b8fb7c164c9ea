/**
 * `coraft provision --inventory FILE --out DIR --restore BACKUP`: provisions a new fleet (a
 * fresh fleet secret, so fresh link keys, node secrets, endpoint keys and admin key; a cluster
 * id other than the backup's) and puts the backup in every bundle as `restore.backup`, to seed
 * each gateway's empty data folder before its first start with
 * `coraft restore --from restore.backup --config agent.json` (deploy/README.md, "Restore a
 * site"). The backup is checked whole first (trailer, SHA-256, the state machine decodes it);
 * a bad file, an --out that holds a fleet already (its keys would be the old ones) or the old
 * cluster id are refused before anything is written.
 */
import { copyFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { simpleConfiguration } from '../core/configuration.js';
import { ConfigError, PersistenceError, describeError } from '../../contracts/errors.js';
import { readBackupFile, type BackupContents } from '../backup/backup-reader.js';
import { restoredSnapshot } from '../backup/restore.js';
import type { BundleResult } from '../fleet/bundle.js';
import { readFleetState, readInventory } from '../fleet/provision.js';

/** The name of the backup in a bundle. */
export const RESTORE_FILE = 'restore.backup';

/** Checks everything a restored provisioning needs, before it writes anything; returns the backup. */
function checkRestore(inventoryFile: string, dir: string, backupFile: string): BackupContents {
  const inventory = readInventory(inventoryFile);
  if (readFleetState(dir) !== null)
    throw new ConfigError([
      `--out: ${resolve(dir)} holds a provisioned fleet already; a restored site is a new fleet with fresh keys: ` +
        'provision it into a new folder',
    ]);
  const backup = readBackupFile(backupFile);
  // The state decodes, and the cluster id is a new one (restoredSnapshot refuses the old one).
  restoredSnapshot(backup, {
    cluster: inventory.cluster,
    adminPublicKey: null,
    configuration: simpleConfiguration(inventory.gateways.map((g) => g.id)),
  });
  return backup;
}

/**
 * Provisions the fleet and copies the backup into every bundle; returns the bundles, or the
 * exit code 1 after printing why the backup was refused.
 */
export function provisionRestored(
  inventoryFile: string,
  dir: string,
  backupFile: string,
  provision: (inventoryFile: string, dir: string) => BundleResult[],
): BundleResult[] | 1 {
  let backup: BackupContents;
  try {
    backup = checkRestore(inventoryFile, dir, backupFile);
  } catch (error) {
    if (!(error instanceof PersistenceError)) throw error;
    process.stderr.write(`coraft provision: refused ${backupFile}: ${describeError(error)}; nothing was written\n`);
    return 1;
  }
  const bundles = provision(inventoryFile, dir);
  for (const bundle of bundles) {
    const file = join(bundle.dir, RESTORE_FILE);
    copyFileSync(backupFile, file);
    chmodSync(file, 0o600);
  }
  const h = backup.header;
  process.stdout.write(
    `each bundle holds ${RESTORE_FILE}: index ${h.index}, revision ${h.revision}, ${h.keyCount} keys of cluster ` +
      `${h.cluster}. On each gateway, after install.sh and before the first start, run as the agent's user:\n` +
      `  coraft restore --from /etc/coraft/${RESTORE_FILE} --config /etc/coraft/agent.json\n`,
  );
  return bundles;
}
