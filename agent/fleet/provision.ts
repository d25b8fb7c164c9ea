/**
 * Fleet provisioning: from an inventory (deploy/inventory.schema.json) to one bundle per
 * gateway. The output folder keeps the provisioner's secrets: the fleet secret every key is
 * derived from, the admin key pair and the gateways' key generations (SECURITY.md). A re-run
 * derives the same keys and writes only what changed; `--add`, `--remove`, `--rekey` and
 * `--rotate-admin-key` change the fleet.
 *
 * OUT/
 *   secrets/fleet.json            the provisioner's state (0600): the fleet secret; never copy it to a gateway
 *   secrets/admin.key             the admin private key (Ed25519, PEM): signs admin commands (the CLI's --admin-key)
 *   secrets/admin.pub             its public key
 *   secrets/links/<id>.json       the links of an added or rekeyed gateway, wrapped for each other member
 *   bundles/<id>/agent.json       the gateway's configuration (installed in /etc/coraft)
 *   bundles/<id>/keystore.json    its link keys: one per other gateway, nothing else
 *   bundles/<id>/node.secret      its node secret (opens the link keys that reach it through the log)
 *   bundles/<id>/admin.pub        the cluster's genesis admin public key
 *   bundles/<id>/endpoint-kv.key, endpoint-admin.key   its local endpoint's keys
 *   bundles/<id>/coraft.service.d/10-gateway.conf      its systemd drop-in
 *
 * Every file holding a key is written mode 0600 in folders of mode 0700; keys are never printed.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import AjvModule from 'ajv';
import type { ErrorObject } from 'ajv';
import schema from '../../deploy/inventory.schema.json' with { type: 'json' };
import { ConfigError, describeError } from '../../contracts/errors.js';
import type { StorageSetting } from '../config/agent-config.js';
import { readSecretText, writeFileDurably } from '../config/secret-files.js';
import { publicKeyFromText } from '../trust/admin-command.js';
import { GENERATION_MAX, SECRET_BYTES } from '../trust/crypto.js';
import { newAdminKeyPair, type FleetKeys } from './fleet-keys.js';

/** Settings of a gateway, from the inventory's defaults and its overrides. */
export interface GatewaySettings {
  readonly transport?: 'coaps' | 'https';
  readonly codec?: 'cbor' | 'json' | 'protobuf';
  /** The persistence engine, as agent.json's `storage`. Default wal. */
  readonly storage?: StorageSetting;
  readonly dataDir?: string;
  readonly listenHost?: string;
  readonly endpoint?: string;
  /** Whether the bundle holds endpoint keys (a coaps endpoint); default true. */
  readonly endpointKeys?: boolean;
  readonly memoryMax?: string;
  readonly raft?: Readonly<Record<string, unknown>>;
  readonly logging?: Readonly<Record<string, unknown>>;
  readonly metrics?: Readonly<Record<string, unknown>>;
  readonly storageOptions?: Readonly<Record<string, unknown>>;
  readonly kv?: Readonly<Record<string, unknown>>;
}

/** One gateway of the fleet. */
export interface Gateway {
  readonly id: string;
  readonly address: string;
  readonly overrides?: GatewaySettings;
}

/** A validated inventory. */
export interface Inventory {
  readonly cluster: string;
  readonly defaults?: GatewaySettings;
  readonly gateways: readonly Gateway[];
}

/** The provisioner's state, kept in OUT/secrets/fleet.json. */
export interface FleetState {
  readonly cluster: string;
  /** The fleet secret, hex: every key of the fleet derives from it. */
  readonly fleetSecret: string;
  /** Each gateway's key generation (absent: 1). */
  readonly generations: Readonly<Record<string, number>>;
  /** The cluster's genesis admin public key (PEM), which every bundle carries. */
  readonly adminPublicKey: string;
  /** The initial members (from the inventory, with their overrides), in inventory order. */
  readonly members: readonly Gateway[];
  /** Gateways provisioned with --add, with their settings. */
  readonly added: readonly Gateway[];
  /** Gateways removed with --remove: no bundle names them any more. */
  readonly removed: readonly string[];
  readonly defaults: GatewaySettings;
}

/** The derivation inputs of a fleet state. */
export function fleetKeysOf(state: FleetState): FleetKeys {
  return {
    cluster: state.cluster,
    fleetSecret: Uint8Array.from(Buffer.from(state.fleetSecret, 'hex')),
    generations: state.generations,
    adminPublicKeyPem: state.adminPublicKey,
  };
}

/** Every gateway of the fleet now: the initial members and those added, less those removed. */
export function currentGateways(state: FleetState): Gateway[] {
  const removed = new Set(state.removed);
  return [...state.members, ...state.added].filter((g) => !removed.has(g.id));
}

const Ajv = AjvModule.default;
const validateInventory = new Ajv({ allErrors: true, strict: false }).compile<Inventory>(schema);

function describe(error: ErrorObject): string {
  const path = error.instancePath === '' ? '(top level)' : error.instancePath.slice(1).replace(/\//g, '.');
  if (error.keyword === 'additionalProperties')
    return `${path}: unknown field ${JSON.stringify(error.params.additionalProperty)}`;
  return `${path}: ${error.message ?? 'invalid'}`;
}

/** Validates an inventory document; throws ConfigError naming every problem. */
export function parseInventory(value: unknown): Inventory {
  if (!validateInventory(value)) throw new ConfigError((validateInventory.errors ?? []).map(describe));
  const ids = new Set<string>();
  const problems: string[] = [];
  for (const gateway of value.gateways) {
    if (ids.has(gateway.id)) problems.push(`gateways: ${gateway.id} is listed twice`);
    ids.add(gateway.id);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return value;
}

/** Reads and validates an inventory file. */
export function readInventory(file: string): Inventory {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError([`--inventory: cannot read ${file} as JSON: ${describeError(error)}`]);
  }
  return parseInventory(value);
}

/**
 * Writes `text` to `file` (mode 0600) unless it already holds it; true when written. A write is
 * durable (fsync before the rename, see writeFileDurably). The comparison reads the provisioner's
 * own output, and an unchanged file gets its mode back, so a loosened bundle file is tightened.
 */
export function writeIfChanged(file: string, text: string, mode = 0o600): boolean {
  if (existsSync(file) && readFileSync(file, 'utf8') === text) {
    chmodSync(file, mode);
    return false;
  }
  writeFileDurably(file, text, mode);
  return true;
}

/** The provisioner's secrets folder under OUT (created 0700). */
export function secretsDir(out: string): string {
  const dir = join(resolve(out), 'secrets');
  mkdirSync(join(dir, 'links'), { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/** Reads the fleet's state from OUT, or null when OUT holds none. */
export function readFleetState(out: string): FleetState | null {
  const file = join(resolve(out), 'secrets', 'fleet.json');
  if (!existsSync(file)) return null;
  return parseFleetState(JSON.parse(readSecretText(file, '--out secrets/fleet.json')), file);
}

function parseGenerations(value: unknown, problem: (message: string) => ConfigError): Record<string, number> {
  if (typeof value !== 'object' || value === null) throw problem('generations must be an object');
  const generations: Record<string, number> = {};
  for (const [id, generation] of Object.entries(value)) {
    if (
      typeof generation !== 'number' ||
      !Number.isSafeInteger(generation) ||
      generation < 1 ||
      generation > GENERATION_MAX
    )
      throw problem(`the generation of ${id} is not 1..${GENERATION_MAX}`);
    generations[id] = generation;
  }
  return generations;
}

/** Validates a fleet state document; throws ConfigError naming the file and the problem. */
export function parseFleetState(value: unknown, file: string): FleetState {
  const problem = (message: string): ConfigError => new ConfigError([`${file}: ${message}`]);
  if (typeof value !== 'object' || value === null) throw problem('not a JSON object');
  const field = (name: string): unknown => Reflect.get(value, name);
  if (field('keys') !== undefined)
    throw problem(
      'a fleet state from before link keys (one key per gateway); provision the fleet again into a new folder (see ' +
        'deploy/README.md)',
    );
  const [cluster, fleetSecret, adminPublicKey, members, added, removed, defaults] = [
    'cluster',
    'fleetSecret',
    'adminPublicKey',
    'members',
    'added',
    'removed',
    'defaults',
  ].map(field);
  if (
    typeof cluster !== 'string' ||
    typeof fleetSecret !== 'string' ||
    !new RegExp(`^[0-9a-f]{${2 * SECRET_BYTES}}$`).test(fleetSecret)
  )
    throw problem(
      'expected {cluster, fleetSecret (hex), generations, adminPublicKey, members[], added[], removed[], defaults}',
    );
  if (typeof adminPublicKey !== 'string' || publicKeyFromText(adminPublicKey) === null)
    throw problem('adminPublicKey must be an Ed25519 public key (PEM)');
  if (
    !Array.isArray(members) ||
    !Array.isArray(added) ||
    !Array.isArray(removed) ||
    !removed.every((id): id is string => typeof id === 'string')
  )
    throw problem('members, added and removed must be arrays');
  const gateways = [members, added].flatMap((list: unknown[]) => list.map((gateway: unknown) => gateway));
  const inventory = parseInventory({ cluster, defaults: defaults ?? {}, gateways });
  return {
    cluster,
    fleetSecret,
    generations: parseGenerations(field('generations'), problem),
    adminPublicKey,
    members: inventory.gateways.slice(0, members.length),
    added: inventory.gateways.slice(members.length),
    removed,
    defaults: inventory.defaults ?? {},
  };
}

/** Saves the fleet's state in OUT/secrets. */
export function writeFleetState(out: string, state: FleetState): void {
  writeIfChanged(join(secretsDir(out), 'fleet.json'), `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * The state after provisioning `inventory`: the fleet secret and generations kept, a new fleet
 * gets a fleet secret and an admin key pair (written to OUT/secrets/admin.key and admin.pub).
 */
export function planFleet(out: string, inventory: Inventory, previous: FleetState | null): FleetState {
  if (previous !== null && previous.cluster !== inventory.cluster) {
    throw new ConfigError([
      `cluster: the output folder holds cluster ${JSON.stringify(previous.cluster)}, ` +
        `not ${JSON.stringify(inventory.cluster)}`,
    ]);
  }
  let adminPublicKey = previous?.adminPublicKey;
  if (adminPublicKey === undefined) {
    const pair = newAdminKeyPair();
    const dir = secretsDir(out);
    writeIfChanged(join(dir, 'admin.key'), pair.privateKeyPem);
    writeIfChanged(join(dir, 'admin.pub'), pair.publicKeyPem, 0o644);
    adminPublicKey = pair.publicKeyPem;
  }
  const inInventory = new Set(inventory.gateways.map((g) => g.id));
  return {
    cluster: inventory.cluster,
    fleetSecret: previous?.fleetSecret ?? randomBytes(SECRET_BYTES).toString('hex'),
    generations: previous?.generations ?? {},
    adminPublicKey,
    members: inventory.gateways,
    added: (previous?.added ?? []).filter((g) => !inInventory.has(g.id)),
    removed: previous?.removed ?? [],
    defaults: inventory.defaults ?? {},
  };
}
