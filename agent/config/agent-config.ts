/**
 * The agent's configuration file: JSON validated once at startup against the JSON Schema kept
 * in agent-config.schema.json (printed by `coraft config schema`). Every problem names the
 * field and what was expected; relative paths resolve against the file's folder; keys are read
 * and checked here, so a bad file stops the agent before it touches anything.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import AjvModule from 'ajv';
import type { ErrorObject } from 'ajv';
import schema from './agent-config.schema.json' with { type: 'json' };
import { ConfigError } from '../errors.js';
import { readSecretText } from './secret-files.js';
import { DEFAULT_RAFT_CONFIGURATION, validateRaftConfiguration } from '../raft-configuration.js';
import type { RaftConfiguration } from '../raft-configuration.js';
import type { ClusterMember, LogLevel, NodeId } from '../contracts.js';

/** The schema, for `coraft config schema`. */
export const AGENT_CONFIG_SCHEMA: unknown = schema;

/** Metrics settings, resolved. */
export interface MetricsSettings {
  readonly kind: 'prometheus' | 'statsd' | 'cloudwatch-emf' | 'none';
  readonly listen: string;
  readonly statsdHost: string;
  readonly statsdPort: number;
  readonly prefix: string;
  readonly emfFile: string | null;
  readonly emfNamespace: string;
  readonly flushIntervalMs: number;
}

/**
 * The persistence engines `storage` names: `wal`, LMDB behind a write-ahead log
 * (storage/wal/, the default); `lmdb-direct`, LMDB alone, one LMDB commit per write
 * (storage/lmdb/); `memory`, nothing kept on exit (storage/memory.ts).
 */
export type StorageEngineName = 'wal' | 'lmdb-direct' | 'memory';

/**
 * What agent.json's `storage` accepts: an engine's name, or `lmdb`, the name the `wal` engine
 * had before, kept so that existing files open the engine they always opened.
 */
export type StorageSetting = StorageEngineName | 'lmdb';

/** Every value `storage` accepts (the schema's enum), the engines first. */
export const STORAGE_SETTINGS: readonly StorageSetting[] = ['wal', 'lmdb-direct', 'memory', 'lmdb'];

/** Narrows a command-line value to a {@link StorageSetting}. */
export function isStorageSetting(value: string): value is StorageSetting {
  return STORAGE_SETTINGS.some((setting) => setting === value);
}

/** The engine a `storage` setting opens: `lmdb` is `wal`, every other value names itself. */
export function storageEngineOf(setting: StorageSetting): StorageEngineName {
  return setting === 'lmdb' ? 'wal' : setting;
}

/** A validated, resolved agent configuration. */
export interface AgentConfig {
  /** Absolute path of the file it was read from. */
  readonly file: string;
  readonly nodeId: NodeId;
  readonly dataDir: string;
  readonly listenPeer: HostPort;
  readonly listenEndpoint: HostPort;
  readonly members: readonly ClusterMember[];
  readonly transport: 'coaps' | 'coap' | 'http' | 'https';
  readonly codec: 'cbor' | 'json' | 'protobuf';
  /** The engine to open; the alias `lmdb` is resolved to `wal`. */
  readonly storage: StorageEngineName;
  /** This node's PSK, when the transport uses one. */
  readonly psk: { readonly identity: string; readonly key: Uint8Array; readonly keystore: ReadonlyMap<string, Uint8Array>; readonly keystoreFile: string } | null;
  readonly endpointPsk: { readonly identity: string; readonly key: Uint8Array } | null;
  readonly raft: RaftConfiguration;
  readonly mapSizeMaxBytes: number;
  readonly logLevel: LogLevel;
  readonly logFormat: 'json' | 'console';
  readonly metrics: MetricsSettings;
  readonly trace: string | null;
  readonly kv: Readonly<Record<string, unknown>>;
}

/** A listening address. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The file's shape, as the schema guarantees it after validation. */
interface RawAgentConfig {
  nodeId: string;
  dataDir: string;
  listen: { peer: string; endpoint: string };
  members: { id: string; address: string }[];
  transport?: 'coaps' | 'coap' | 'http' | 'https';
  codec?: 'cbor' | 'json' | 'protobuf';
  storage?: StorageSetting;
  psk?: { identity: string; keyFile: string; keystoreFile: string };
  endpointPsk?: { identity: string; keyFile: string };
  raft?: Partial<RaftConfiguration>;
  storageOptions?: { mapSizeMaxBytes?: number };
  logging?: { level?: LogLevel; format?: 'json' | 'console' };
  metrics?: Partial<Omit<MetricsSettings, 'emfFile'>> & { emfFile?: string };
  trace?: string;
  kv?: Record<string, unknown>;
}

const Ajv = AjvModule.default;
const validate = new Ajv({ allErrors: true, strict: false }).compile<RawAgentConfig>(schema);

/** Parses "host:port" (IPv6 hosts in brackets). */
export function parseHostPort(text: string, field: string): HostPort {
  const at = text.lastIndexOf(':');
  const host = text.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(text.slice(at + 1));
  if (at <= 0 || host === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError([`${field}: expected "host:port" with a port from 0 to 65535, got ${JSON.stringify(text)}`]);
  }
  return { host, port };
}

function describe(error: ErrorObject): string {
  const path = error.instancePath === '' ? '(top level)' : error.instancePath.slice(1).replace(/\/(\d+)/g, '[$1]').replace(/\//g, '.');
  if (error.keyword === 'additionalProperties') return `${path}: unknown field ${JSON.stringify(error.params.additionalProperty)}`;
  if (error.keyword === 'enum') return `${path}: expected one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  if (error.keyword === 'required') return `${path}: missing required field ${JSON.stringify(error.params.missingProperty)}`;
  return `${path}: ${error.message ?? 'invalid'}`;
}

/** Reads a key file (a secret file, see secret-files.ts): hex, 16 to 64 bytes, whitespace ignored. */
export function readKeyFile(path: string, field: string): Uint8Array {
  return parseHexKey(readSecretText(path, field).trim(), `${field} (${path})`);
}

/** Parses a hex key of 16 to 64 bytes. */
export function parseHexKey(hex: string, field: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2}){16,64}$/.test(hex)) throw new ConfigError([`${field}: expected a key of 16 to 64 bytes as hex`]);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function readKeystore(path: string): Map<string, Uint8Array> {
  const text = readSecretText(path, 'psk.keystoreFile');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`psk.keystoreFile: cannot read ${path} as JSON: ${error instanceof Error ? error.message : String(error)}`]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError([`psk.keystoreFile: ${path} must hold a JSON object of id -> hex key`]);
  const keys = new Map<string, Uint8Array>();
  for (const [id, hex] of Object.entries(value)) {
    if (typeof hex !== 'string') throw new ConfigError([`psk.keystoreFile: the key of ${JSON.stringify(id)} is not a hex string`]);
    keys.set(id, parseHexKey(hex, `psk.keystoreFile: key of ${JSON.stringify(id)}`));
  }
  return keys;
}

/** Reads, validates and resolves the configuration file at `file`. */
export function loadAgentConfig(file: string): AgentConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read configuration file ${path}: ${error instanceof Error ? error.message : String(error)}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`]);
  }
  return resolveAgentConfig(raw, path);
}

/** Validates a parsed configuration `raw` read from `path`. */
export function resolveAgentConfig(raw: unknown, path: string): AgentConfig {
  if (!validate(raw)) throw new ConfigError((validate.errors ?? []).map(describe));
  const base = dirname(path);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const problems: string[] = [];
  const raft: RaftConfiguration = { ...DEFAULT_RAFT_CONFIGURATION, ...raw.raft };
  problems.push(...validateRaftConfiguration(raft).map((p) => `raft.${p}`));
  const transport = raw.transport ?? 'coaps';
  const ids = raw.members.map((m) => m.id);
  if (new Set(ids).size !== ids.length) problems.push('members: duplicate ids');
  const needsPsk = transport === 'coaps' || transport === 'https';
  if (needsPsk && raw.psk === undefined) problems.push(`psk: required for the ${transport} transport`);
  if (raw.psk !== undefined && raw.psk.identity !== raw.nodeId) problems.push(`psk.identity: must equal nodeId ${JSON.stringify(raw.nodeId)} (the PSK identity is the node id)`);
  if (problems.length > 0) throw new ConfigError(problems);
  const psk = raw.psk === undefined ? null : { identity: raw.psk.identity, key: readKeyFile(at(raw.psk.keyFile), 'psk.keyFile'), keystore: readKeystore(at(raw.psk.keystoreFile)), keystoreFile: at(raw.psk.keystoreFile) };
  if (psk !== null) {
    const missing = ids.filter((id) => !psk.keystore.has(id));
    if (needsPsk && missing.length > 0) throw new ConfigError([`psk.keystoreFile: no key for member(s) ${missing.join(', ')}`]);
  }
  const metrics = raw.metrics ?? {};
  return {
    file: path,
    nodeId: raw.nodeId,
    dataDir: at(raw.dataDir),
    listenPeer: parseHostPort(raw.listen.peer, 'listen.peer'),
    listenEndpoint: parseHostPort(raw.listen.endpoint, 'listen.endpoint'),
    members: raw.members.map((m) => ({ id: m.id, address: m.address })),
    transport,
    codec: raw.codec ?? 'cbor',
    storage: storageEngineOf(raw.storage ?? 'wal'),
    psk,
    endpointPsk: raw.endpointPsk === undefined ? null : { identity: raw.endpointPsk.identity, key: readKeyFile(at(raw.endpointPsk.keyFile), 'endpointPsk.keyFile') },
    raft,
    mapSizeMaxBytes: raw.storageOptions?.mapSizeMaxBytes ?? 1024 * 1024 * 1024,
    logLevel: raw.logging?.level ?? 'info',
    logFormat: raw.logging?.format ?? 'json',
    metrics: {
      kind: metrics.kind ?? 'none',
      listen: metrics.listen ?? '127.0.0.1:9464',
      statsdHost: metrics.statsdHost ?? '127.0.0.1',
      statsdPort: metrics.statsdPort ?? 8125,
      prefix: metrics.prefix ?? 'coraft',
      emfFile: metrics.emfFile === undefined ? null : at(metrics.emfFile),
      emfNamespace: metrics.emfNamespace ?? 'coraft',
      flushIntervalMs: metrics.flushIntervalMs ?? 10_000,
    },
    trace: raw.trace === undefined ? null : at(raw.trace),
    kv: raw.kv ?? {},
  };
}
