/**
 * One gateway's bundle: its agent.json, its own key, its initial keystore, the admin key of
 * its local endpoint and its systemd drop-in (see deploy/provision.ts for the layout). Files
 * are rewritten only when their content changes, so a re-run reports exactly what is new.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADMIN_IDENTITY, writeIfChanged, type FleetState, type Gateway, type GatewaySettings } from './provision.js';

/** What writing one bundle did. */
export interface BundleResult {
  readonly id: string;
  readonly dir: string;
  /** Files written (new or changed), relative to the bundle. */
  readonly written: readonly string[];
}

/** The port of "host:port". */
function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** The gateway's agent.json document. */
export function agentConfigOf(gateway: Gateway, members: readonly Gateway[], settings: GatewaySettings): Record<string, unknown> {
  const host = settings.listenHost ?? '0.0.0.0';
  return {
    nodeId: gateway.id,
    dataDir: settings.dataDir ?? '/var/lib/coraft',
    listen: { peer: `${host.includes(':') ? `[${host}]` : host}:${portOf(gateway.address)}`, endpoint: settings.endpoint ?? '127.0.0.1:5683' },
    members: members.map((m) => ({ id: m.id, address: m.address })),
    transport: settings.transport ?? 'coaps',
    codec: settings.codec ?? 'cbor',
    storage: settings.storage ?? 'wal',
    psk: { identity: gateway.id, keyFile: `${gateway.id}.key`, keystoreFile: 'keystore.json' },
    endpointPsk: { identity: ADMIN_IDENTITY, keyFile: 'admin.key' },
    logging: { level: 'info', format: 'json', ...settings.logging },
    ...(settings.raft === undefined ? {} : { raft: settings.raft }),
    ...(settings.metrics === undefined ? {} : { metrics: settings.metrics }),
    ...(settings.storageOptions === undefined ? {} : { storageOptions: settings.storageOptions }),
    ...(settings.kv === undefined ? {} : { kv: settings.kv }),
  };
}

/** The gateway's systemd drop-in (installed as /etc/systemd/system/coraft.service.d/10-gateway.conf). */
export function dropInOf(cluster: string, gateway: Gateway, settings: GatewaySettings): string {
  const lines = [
    `# coraft gateway ${gateway.id} of cluster ${cluster}; written by coraft provision.`,
    '[Unit]',
    `Description=coraft Raft agent (cluster ${cluster}, gateway ${gateway.id})`,
    '',
    '[Service]',
    `Environment=CORAFT_CLUSTER=${cluster} CORAFT_GATEWAY=${gateway.id}`,
  ];
  if (settings.memoryMax !== undefined) lines.push(`MemoryMax=${settings.memoryMax}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Writes the bundle of `gateway` under OUT/bundles/<id>. `members` is the cluster it starts
 * with (for a gateway added later: the running members, without itself) and `keystore` the
 * keys it accepts before its log has caught up.
 */
export function writeBundle(out: string, state: FleetState, gateway: Gateway, members: readonly Gateway[], keystore: Readonly<Record<string, string>>): BundleResult {
  const settings: GatewaySettings = { ...state.defaults, ...gateway.overrides };
  const dir = join(resolve(out), 'bundles', gateway.id);
  mkdirSync(join(dir, 'coraft.service.d'), { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const key = state.keys[gateway.id];
  if (key === undefined) throw new Error(`no key for ${gateway.id}`);
  const files: [string, string, number][] = [
    ['agent.json', `${JSON.stringify(agentConfigOf(gateway, members, settings), null, 2)}\n`, 0o600],
    [`${gateway.id}.key`, `${key}\n`, 0o600],
    ['keystore.json', `${JSON.stringify(keystore, null, 2)}\n`, 0o600],
    ['admin.key', `${state.adminKey}\n`, 0o600],
    [join('coraft.service.d', '10-gateway.conf'), dropInOf(state.cluster, gateway, settings), 0o644],
  ];
  const written = files.filter(([name, text, mode]) => writeIfChanged(join(dir, name), text, mode)).map(([name]) => name);
  return { id: gateway.id, dir, written };
}
