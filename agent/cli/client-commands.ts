/**
 * The CLI commands that talk to a node's local endpoint: status, kv, members, leader,
 * snapshot. A readable table by default, `--json` for scripts. Exit codes: 0 done, 1 the
 * node refused or failed the operation, 2 bad usage, 3 the key does not exist, 4 the endpoint
 * did not answer.
 */
import { NetworkError } from '../errors.js';
import { isHexKey } from '../membership/keystore.js';
import { intOption, parseOptions, UsageError } from './args.js';
import { EndpointClient, EndpointError, JsonFields, endpointTarget, ifMatchRevision, ifNoneMatch, revisionOf, type EndpointTarget } from './endpoint-client.js';
import { readKeyFile } from '../config/agent-config.js';
import { readSecretText } from '../config/secret-files.js';
import { DtlsClientEndpoint } from '../../transport/dtls/index.js';

/** Exit codes of the client commands. */
export const CLIENT_EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, unreachable: 4 } as const;

const COMMON = {
  endpoint: { type: 'string' },
  'admin-key': { type: 'string' },
  'admin-identity': { type: 'string' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean' },
} as const;

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

interface ClientValues {
  endpoint?: string | undefined;
  'timeout-ms'?: string | undefined;
  'admin-key'?: string | undefined;
  'admin-identity'?: string | undefined;
}

/**
 * Where the client goes: --endpoint over CoAP, or over DTLS with the admin PSK when
 * --admin-key FILE (or CORAFT_ADMIN_KEY_FILE) names the key file of a provisioned fleet.
 */
function clientTarget(values: ClientValues): EndpointTarget {
  const target = endpointTarget(values.endpoint, intOption(values['timeout-ms'], 'timeout-ms', 10_000, 100, 3_600_000));
  const keyFile = values['admin-key'] ?? process.env.CORAFT_ADMIN_KEY_FILE;
  if (keyFile === undefined || keyFile === '') return target;
  const psk = readKeyFile(keyFile, '--admin-key');
  const identity = values['admin-identity'] ?? 'admin';
  const bindAddress = target.endpoint.host.includes(':') ? '::' : '0.0.0.0';
  return { ...target, open: () => DtlsClientEndpoint.open({ identity, psk, bindAddress }) };
}

/** Runs `action` with a client, mapping failures to exit codes and one-line messages. */
async function withClient(values: ClientValues, action: (client: EndpointClient) => Promise<number>): Promise<number> {
  const client = new EndpointClient(clientTarget(values));
  try {
    return await action(client);
  } catch (error) {
    if (error instanceof EndpointError) {
      process.stderr.write(`coraft: ${error.message}\n`);
      return CLIENT_EXIT.failed;
    }
    if (error instanceof NetworkError) {
      process.stderr.write(`coraft: the endpoint ${values.endpoint ?? '127.0.0.1:5683'} did not answer (${error.message})\n`);
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
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

interface MemberRow {
  readonly id: string;
  readonly address: string;
  readonly role: string;
  readonly matchIndex: number | null;
}

function memberRows(body: JsonFields): MemberRow[] {
  return body.objects('members').map((m) => ({ id: m.string('id'), address: m.string('address'), role: m.string('role'), matchIndex: m.nullableNumber('matchIndex') }));
}

function membersTable(members: readonly MemberRow[], leaderId: string | null): string {
  return table(['MEMBER', 'ADDRESS', 'ROLE', 'MATCH'], members.map((m) => [m.id, m.address, m.id === leaderId ? `${m.role} (leader)` : m.role, m.matchIndex === null ? '-' : String(m.matchIndex)]));
}

export async function runStatus(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, COMMON);
  if (values.help === true) {
    out('usage: coraft status [--endpoint HOST:PORT] [--json]\n\nShows the node\'s state, term, leader, commit and apply indexes and the members.');
    return CLIENT_EXIT.ok;
  }
  return withClient(values, async (client) => {
    const document = await client.json('GET', '/status');
    if (values.json === true) {
      out(JSON.stringify(document));
      return CLIENT_EXIT.ok;
    }
    const status = JsonFields.of(document, 'the status');
    const leaderId = status.nullableString('leaderId');
    out(`node ${status.string('nodeId')}: ${status.string('state')}, term ${status.number('term')}, leader ${leaderId ?? '(none)'}, commit ${status.number('commitIndex')}, applied ${status.number('lastApplied')}`);
    out(membersTable(memberRows(status), leaderId));
    return CLIENT_EXIT.ok;
  });
}

const KV_HELP = `usage: coraft kv get KEY [--stale]
       coraft kv put KEY VALUE [--client ID --seq N]
       coraft kv del KEY [--client ID --seq N]
       coraft kv cas KEY VALUE --expect REVISION   (REVISION 0: create only)
options: --endpoint HOST:PORT, --admin-key FILE, --json, --timeout-ms MS`;

export async function runKv(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { ...COMMON, stale: { type: 'boolean' }, client: { type: 'string' }, seq: { type: 'string' }, expect: { type: 'string' } });
  const [verb, key, value] = positionals;
  if (values.help === true || verb === undefined) {
    out(KV_HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  if (key === undefined || key === '') throw new UsageError(`kv ${verb}: KEY is required`);
  const path = ['kv', ...key.split('/')];
  const session: string[] = [];
  if (values.client !== undefined || values.seq !== undefined) {
    if (values.client === undefined || values.seq === undefined) throw new UsageError('--client and --seq go together');
    session.push(`client=${values.client}`, `seq=${intOption(values.seq, 'seq', 1, 1, Number.MAX_SAFE_INTEGER)}`);
  }
  return withClient(values, async (client) => {
    switch (verb) {
      case 'get': {
        const response = await client.request({ method: 'GET', path, query: values.stale === true ? ['stale'] : [] });
        if (response.code === 0x84) {
          if (values.json === true) out(JSON.stringify({ key, found: false }));
          else process.stderr.write(`coraft: no such key: ${key}\n`);
          return CLIENT_EXIT.notFound;
        }
        if (response.code >= 0x80) throw new EndpointError('', `${new TextDecoder().decode(response.payload)}`);
        const text = new TextDecoder().decode(response.payload);
        out(values.json === true ? JSON.stringify({ key, found: true, value: text, revision: revisionOf(response.etag) }) : text);
        return CLIENT_EXIT.ok;
      }
      case 'put':
      case 'cas': {
        if (value === undefined) throw new UsageError(`kv ${verb}: VALUE is required`);
        const options = verb === 'cas' ? [casOption(values.expect)] : [];
        const response = await client.call({ method: 'PUT', path, query: session, payload: new TextEncoder().encode(value), options });
        const revision = revisionOf(response.etag);
        out(values.json === true ? JSON.stringify({ key, revision }) : `${key} = ${value} (revision ${String(revision)})`);
        return CLIENT_EXIT.ok;
      }
      case 'del':
      case 'delete': {
        const response = await client.call({ method: 'DELETE', path, query: session });
        const body = JsonFields.of(JSON.parse(new TextDecoder().decode(response.payload)), 'the delete answer');
        const deleted = body.boolean('deleted');
        out(values.json === true ? JSON.stringify({ key, deleted, revision: body.number('revision') }) : deleted ? `deleted ${key}` : `${key} did not exist`);
        return CLIENT_EXIT.ok;
      }
      default:
        throw new UsageError(`kv: unknown verb ${JSON.stringify(verb)}; expected get, put, del or cas`);
    }
  });
}

function casOption(expect: string | undefined): ReturnType<typeof ifNoneMatch> {
  if (expect === undefined) throw new UsageError('kv cas: --expect REVISION is required (0 means: create only)');
  const revision = intOption(expect, 'expect', 0, 0, Number.MAX_SAFE_INTEGER);
  return revision === 0 ? ifNoneMatch() : ifMatchRevision(revision);
}

const MEMBERS_HELP = `usage: coraft members list
       coraft members add ID ADDRESS [--learner] [--psk-file FILE]
       coraft members remove ID
       coraft members rekey ID --psk-file FILE
options: --endpoint HOST:PORT, --admin-key FILE, --json, --timeout-ms MS

--psk-file FILE: the member's key (hex, 16 to 64 bytes), committed to the cluster keystore
through the log before the member is added; required when the cluster uses PSKs.
rekey: commits ID's new key; then restart ID with that key (see deploy/README.md). Removing
or rekeying the leader hands leadership to another voter first.`;

/** Reads a key file given on the command line; the key is never printed. */
function readPskFile(file: string | undefined, verb: string): string {
  if (file === undefined) throw new UsageError(`members ${verb}: --psk-file FILE is required`);
  // A secret file: refused (ConfigError) when others may read it, see secret-files.ts.
  const text = readSecretText(file, `members ${verb} --psk-file`).trim();
  if (!isHexKey(text)) throw new UsageError(`members ${verb}: ${file} must hold a key of 16 to 64 bytes as hex`);
  return text.toLowerCase();
}

/** Hands leadership away first when `id` leads (removing or rekeying the leader). */
async function moveLeadershipFrom(client: EndpointClient, id: string): Promise<void> {
  if (JsonFields.of(await client.json('GET', '/status'), 'the status').nullableString('leaderId') !== id) return;
  process.stderr.write(`${id} leads: handing leadership over first...\n`);
  await client.json('POST', '/leader/transfer', {});
}

export async function runMembers(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { ...COMMON, learner: { type: 'boolean' }, 'psk-file': { type: 'string' } });
  const [verb, id, address] = positionals;
  if (values.help === true || verb === undefined) {
    out(MEMBERS_HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  return withClient({ ...values, 'timeout-ms': values['timeout-ms'] ?? '90000' }, async (client) => {
    switch (verb) {
      case 'list': {
        const document = await client.json('GET', '/members');
        const body = JsonFields.of(document, 'the member list');
        if (values.json === true) out(JSON.stringify(document));
        else out(membersTable(memberRows(body), body.nullableString('leaderId')));
        return CLIENT_EXIT.ok;
      }
      case 'add': {
        if (id === undefined || address === undefined) throw new UsageError('members add: ID and ADDRESS are required');
        if (values.json !== true) process.stderr.write(`adding ${id} at ${address}: it joins as a learner, catches up, then becomes a voter...\n`);
        const psk = values['psk-file'] === undefined ? undefined : readPskFile(values['psk-file'], 'add');
        const body = await client.json('POST', '/members', { id, address, learner: values.learner === true, ...(psk === undefined ? {} : { psk }) });
        out(values.json === true ? JSON.stringify(body) : `added ${id}${values.learner === true ? ' as a learner' : ''}`);
        return CLIENT_EXIT.ok;
      }
      case 'remove': {
        if (id === undefined) throw new UsageError('members remove: ID is required');
        await moveLeadershipFrom(client, id);
        const body = await client.json('DELETE', `/members/${id}`);
        out(values.json === true ? JSON.stringify(body) : `removed ${id}`);
        return CLIENT_EXIT.ok;
      }
      case 'rekey': {
        if (id === undefined) throw new UsageError('members rekey: ID is required');
        const psk = readPskFile(values['psk-file'], 'rekey');
        await moveLeadershipFrom(client, id);
        const body = await client.json('PUT', `/members/${id}/key`, { psk });
        out(values.json === true ? JSON.stringify(body) : `rekeyed ${id}: restart it with the new key now`);
        return CLIENT_EXIT.ok;
      }
      default:
        throw new UsageError(`members: unknown verb ${JSON.stringify(verb)}; expected list, add, remove or rekey`);
    }
  });
}

export async function runLeader(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseOptions(args, { ...COMMON, to: { type: 'string' } });
  if (values.help === true || positionals[0] !== 'transfer') {
    out('usage: coraft leader transfer [--to ID] [--endpoint HOST:PORT] [--json]\n\nHands leadership to ID, or to the most up-to-date voter.');
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  return withClient(values, async (client) => {
    const leaderId = JsonFields.of(await client.json('POST', '/leader/transfer', values.to === undefined ? {} : { to: values.to })).nullableString('leaderId');
    out(values.json === true ? JSON.stringify({ leaderId }) : `leader is now ${leaderId ?? '(unknown)'}`);
    return CLIENT_EXIT.ok;
  });
}

export async function runSnapshot(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, COMMON);
  if (values.help === true) {
    out('usage: coraft snapshot [--endpoint HOST:PORT] [--json]\n\nTakes a snapshot on the node now and compacts its log.');
    return CLIENT_EXIT.ok;
  }
  return withClient(values, async (client) => {
    const body = JsonFields.of(await client.json('POST', '/snapshot'));
    const nodeId = body.string('nodeId');
    const snapshotIndex = body.number('snapshotIndex');
    out(values.json === true ? JSON.stringify({ nodeId, snapshotIndex }) : `${nodeId}: snapshot at index ${snapshotIndex}`);
    return CLIENT_EXIT.ok;
  });
}
