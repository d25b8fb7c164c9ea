/**
 * One gateway's bundle: its agent.json, its link keys (one per other gateway, nothing else),
 * its node secret, the admin public key, its endpoint keys and its systemd drop-in (see
 * provision.ts for the layout). Files are rewritten only when their content changes, so
 * a re-run reports exactly what is new.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nodeKeyFiles, trustConfigOf } from './fleet-keys.js';
import {
  currentGateways,
  fleetKeysOf,
  writeIfChanged,
  type FleetState,
  type Gateway,
  type GatewaySettings,
} from './provision.js';
import { memoryLinesFor } from './memory-sizing.js';

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
export function agentConfigOf(
  state: FleetState,
  gateway: Gateway,
  members: readonly Gateway[],
  settings: GatewaySettings,
): Record<string, unknown> {
  const host = settings.listenHost ?? '0.0.0.0';
  return {
    nodeId: gateway.id,
    dataDir: settings.dataDir ?? '/var/lib/coraft',
    listen: {
      peer: `${host.includes(':') ? `[${host}]` : host}:${portOf(gateway.address)}`,
      endpoint: settings.endpoint ?? '127.0.0.1:5683',
    },
    members: members.map((m) => ({ id: m.id, address: m.address })),
    transport: settings.transport ?? 'coaps',
    codec: settings.codec ?? 'cbor',
    storage: settings.storage ?? 'wal',
    ...trustConfigOf(fleetKeysOf(state), gateway.id, settings.endpointKeys ?? true),
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
  // MemoryHigh and the V8 heap bound follow MemoryMax (agent/fleet/memory-sizing.ts).
  if (settings.memoryMax !== undefined) lines.push(...memoryLinesFor(settings.memoryMax));
  return `${lines.join('\n')}\n`;
}

/**
 * Writes the bundle of `gateway` under OUT/bundles/<id>. `members` is the cluster it starts
 * with (for a gateway added later: the running members, without itself); its keystore holds
 * the link key of every other current gateway.
 */
export function writeBundle(
  out: string,
  state: FleetState,
  gateway: Gateway,
  members: readonly Gateway[],
): BundleResult {
  const settings: GatewaySettings = { ...state.defaults, ...gateway.overrides };
  const dir = join(resolve(out), 'bundles', gateway.id);
  mkdirSync(join(dir, 'coraft.service.d'), { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const peers = currentGateways(state).map((g) => g.id);
  const files: [string, string, number][] = [
    ['agent.json', `${JSON.stringify(agentConfigOf(state, gateway, members, settings), null, 2)}\n`, 0o600],
    ...nodeKeyFiles(fleetKeysOf(state), gateway.id, peers, settings.endpointKeys ?? true),
    [join('coraft.service.d', '10-gateway.conf'), dropInOf(state.cluster, gateway, settings), 0o644],
  ];
  const written = files
    .filter(([name, text, mode]) => writeIfChanged(join(dir, name), text, mode))
    .map(([name]) => name);
  return { id: gateway.id, dir, written };
}
