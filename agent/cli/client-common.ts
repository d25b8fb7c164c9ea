/**
 * What the client commands share (client-commands.ts, admin-commands.ts, kv-list.ts,
 * txn-command.ts, watch-command.ts): exit codes, common options, output, the endpoint client
 * for a command's options, and tables. Exit codes: 0 done, 1 the node refused or failed the
 * operation, 2 bad usage, 3 the key does not exist, 4 the endpoint did not answer, 78 an invalid
 * configuration (a key file; main.ts answers every ConfigError so, args.ts CLI_EXIT).
 */
import { basename } from 'node:path';
import { NetworkError } from '../../contracts/errors.js';
import { intOption } from './args.js';
import type { JsonFields } from './endpoint-client.js';
import { EndpointClient, EndpointError, endpointTarget, type EndpointTarget } from './endpoint-client.js';
import { readKeyFile } from '../config/agent-config.js';
import { DtlsClientEndpoint } from '../../transport/dtls/index.js';

/** Exit codes of the client commands. */
export const CLIENT_EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, unreachable: 4 } as const;

/** The options every endpoint command takes. */
export const COMMON = {
  endpoint: { type: 'string' },
  'endpoint-key': { type: 'string' },
  'endpoint-identity': { type: 'string' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean' },
} as const;

export const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** The options that say how to reach the endpoint. */
export interface ClientValues {
  endpoint?: string | undefined;
  'timeout-ms'?: string | undefined;
  'endpoint-key'?: string | undefined;
  'endpoint-identity'?: string | undefined;
}

/**
 * Where the client goes: --endpoint over CoAP, or over DTLS when --endpoint-key FILE (or
 * CORAFT_ENDPOINT_KEY_FILE) names an endpoint key of a provisioned gateway; the identity is
 * --endpoint-identity (or CORAFT_ENDPOINT_IDENTITY), else `role` (kv or admin).
 */
function clientTarget(values: ClientValues, role: 'kv' | 'admin'): EndpointTarget {
  const target = endpointTarget(values.endpoint, intOption(values['timeout-ms'], 'timeout-ms', 10_000, 100, 3_600_000));
  const keyFile = values['endpoint-key'] ?? process.env.CORAFT_ENDPOINT_KEY_FILE;
  if (keyFile === undefined || keyFile === '') return target;
  const psk = readKeyFile(keyFile, '--endpoint-key');
  const identity =
    values['endpoint-identity'] ?? process.env.CORAFT_ENDPOINT_IDENTITY ?? identityOfKeyFile(keyFile) ?? role;
  const bindAddress = target.endpoint.host.includes(':') ? '::' : '0.0.0.0';
  return { ...target, open: () => DtlsClientEndpoint.open({ identity, psk, bindAddress }) };
}

/** The identity a provisioned endpoint key file is for (endpoint-kv.key, endpoint-admin.key), or null. */
function identityOfKeyFile(file: string): 'kv' | 'admin' | null {
  const name = basename(file);
  return name === 'endpoint-admin.key' ? 'admin' : name === 'endpoint-kv.key' ? 'kv' : null;
}

/** How long a timed-out command waits for the endpoint to answer a probe before it says the endpoint may need a key. */
const SILENCE_PROBE_MS = 1000;

/** Runs `action` with a client (identity `role` over DTLS), mapping failures to exit codes and one-line messages. */
export async function withClient(
  values: ClientValues,
  action: (client: EndpointClient) => Promise<number>,
  role: 'kv' | 'admin' = 'kv',
): Promise<number> {
  const client = new EndpointClient(clientTarget(values, role));
  try {
    return await action(client);
  } catch (error) {
    if (error instanceof EndpointError) {
      process.stderr.write(`coraft: ${error.message}\n`);
      return CLIENT_EXIT.failed;
    }
    if (error instanceof NetworkError) {
      // A provisioned endpoint speaks coaps and drops plain CoAP unanswered: say so when no key was
      // given and the endpoint stays silent (not when a long operation outlived the deadline).
      const keyless = (values['endpoint-key'] ?? process.env.CORAFT_ENDPOINT_KEY_FILE ?? '') === '';
      const silent = keyless && error.code === 'NET_TIMEOUT' && !(await client.answersWithin(SILENCE_PROBE_MS));
      const hint = silent ? '; an endpoint with endpoint keys (coaps) answers only with --endpoint-key FILE' : '';
      process.stderr.write(
        `coraft: the endpoint ${values.endpoint ?? '127.0.0.1:5683'} did not answer (${error.message})${hint}\n`,
      );
      return CLIENT_EXIT.unreachable;
    }
    throw error;
  } finally {
    await client.close();
  }
}

/** Renders rows as an aligned table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** One row of the member table. */
export interface MemberRow {
  readonly id: string;
  readonly address: string;
  readonly role: string;
  readonly matchIndex: number | null;
  /** Where the node reaches the member when that is not `address` (MemberStatus.reachedAt), else null. */
  readonly reachedAt: string | null;
}

/** The members of a status or member-list document. */
export function memberRows(body: JsonFields): MemberRow[] {
  return body.objects('members').map((m) => ({
    id: m.string('id'),
    address: m.string('address'),
    // A witness shows as `voter witness` (or `learner witness` while it catches up).
    role: m.flag('witness') ? `${m.string('role')} witness` : m.string('role'),
    matchIndex: m.nullableNumber('matchIndex'),
    reachedAt: m.nullableString('reachedAt'),
  }));
}

/** The members as a table. */
export function membersTable(members: readonly MemberRow[], leaderId: string | null): string {
  return table(
    ['MEMBER', 'ADDRESS', 'ROLE', 'MATCH'],
    members.map((m) => [
      m.id,
      m.reachedAt === null
        ? m.address
        : `${m.address}, reached at ${m.reachedAt} (override until the configuration records it)`,
      m.id === leaderId ? `${m.role} (leader)` : m.role,
      m.matchIndex === null ? '-' : String(m.matchIndex),
    ]),
  );
}
