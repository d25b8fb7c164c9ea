/**
 * The CLI commands that talk to a node's local endpoint: status and kv here, the signed
 * admin commands in admin-commands.ts. A readable table by default, `--json` for scripts.
 * Exit codes: 0 done, 1 the node refused or failed the operation, 2 bad usage, 3 the key does
 * not exist, 4 the endpoint did not answer.
 */
import { intOption, parseOptions, UsageError } from './args.js';
import type { EndpointClient } from './endpoint-client.js';
import { EndpointError, JsonFields, ifMatchRevision, ifNoneMatch, revisionOf } from './endpoint-client.js';

import { CLIENT_EXIT, COMMON, out, withClient, memberRows, membersTable } from './client-common.js';

export async function runStatus(args: readonly string[]): Promise<number> {
  const { values } = parseOptions(args, COMMON);
  if (values.help === true) {
    out(
      "usage: coraft status [--endpoint HOST:PORT] [--json]\n\nShows the node's state, term, leader, commit and " +
        'apply indexes and the members.',
    );
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
    out(
      `node ${status.string('nodeId')}: ${status.string('state')}, term ${status.number('term')}, ` +
        `leader ${leaderId ?? '(none)'}, commit ${status.number('commitIndex')}, ` +
        `applied ${status.number('lastApplied')}`,
    );
    const alarms = alarmsLine(document);
    if (alarms !== null) out(alarms);
    const refused = keysRefusedLine(document);
    if (refused !== null) out(refused);
    out(membersTable(memberRows(status), leaderId));
    return CLIENT_EXIT.ok;
  });
}

/** The warning that no peer accepts this node's keys, when the status shows it (NodeStatus.keysRefused), else null. */
export function keysRefusedLine(document: unknown): string | null {
  if (typeof document !== 'object' || document === null) return null;
  const refused: unknown = Reflect.get(document, 'keysRefused');
  if (typeof refused !== 'object' || refused === null) return null;
  const seconds = Math.round(Number(Reflect.get(refused, 'forMs')) / 1000);
  return (
    `warning: no peer accepts this node's keys (every peer refused its handshakes for ${seconds} s): ` +
    String(Reflect.get(refused, 'advice'))
  );
}

/** `alarms: NOSPACE (quota: N of M bytes used; disk full)` when the status shows an alarm, else null. */
export function alarmsLine(document: unknown): string | null {
  if (typeof document !== 'object' || document === null) return null;
  const alarms: unknown = Reflect.get(document, 'alarms');
  if (!Array.isArray(alarms) || alarms.length === 0) return null;
  const causes: string[] = [];
  const quota: unknown = Reflect.get(document, 'quota');
  if (typeof quota === 'object' && quota !== null && Reflect.get(quota, 'alarm') === true)
    causes.push(
      `quota: ${String(Reflect.get(quota, 'usedBytes'))} of ${String(Reflect.get(quota, 'quotaBytes'))} bytes used`,
    );
  if (Reflect.get(document, 'diskFull') === true) causes.push('disk full');
  return `alarms: ${alarms.map(String).join(', ')}${causes.length === 0 ? '' : ` (${causes.join('; ')})`}`;
}

const KV_HELP = `usage: coraft kv get KEY [--stale]
       coraft kv put KEY VALUE [--lease ID] [--client ID --seq N]
       coraft kv del KEY [--expect REVISION] [--client ID --seq N]   (--expect: only at that revision)
       coraft kv cas KEY VALUE --expect REVISION   (REVISION 0: create only)
       coraft kv list [--prefix P] [--limit N] [--after KEY] [--stale]
options: --endpoint HOST:PORT, --endpoint-key FILE [--endpoint-identity ID], --json, --timeout-ms MS`;

/** The options of `coraft kv` and the positional arguments each verb takes, the verb included. */
const KV_OPTIONS = {
  ...COMMON,
  stale: { type: 'boolean' },
  client: { type: 'string' },
  seq: { type: 'string' },
  expect: { type: 'string' },
  lease: { type: 'string' },
} as const;
const KV_POSITIONALS_MAX = { get: 2, put: 3, cas: 3, del: 2, delete: 2 } as const;
/** The options of each verb beyond the common ones: another verb's is refused, not ignored. */
const KV_VERB_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  get: ['stale'],
  put: ['lease', 'client', 'seq'],
  cas: ['expect', 'lease', 'client', 'seq'],
  del: ['expect', 'client', 'seq'],
  delete: ['expect', 'client', 'seq'],
};

/** Refuses an option of `values` that `verb` does not take (`kv put --expect 3` wrote unconditionally). */
function checkVerbOptions(verb: string, values: object): void {
  const own = KV_VERB_OPTIONS[verb] ?? [];
  for (const name of ['stale', 'lease', 'client', 'seq', 'expect']) {
    if (Reflect.get(values, name) === undefined || own.includes(name)) continue;
    const takers = Object.keys(KV_VERB_OPTIONS).filter((v) => v !== 'delete' && KV_VERB_OPTIONS[v]?.includes(name));
    throw new UsageError(`kv ${verb}: --${name} is not one of its options (kv ${takers.join(', kv ')} take it)`);
  }
}

export async function runKv(args: readonly string[]): Promise<number> {
  if (args[0] === 'list') return (await import('./kv-list.js')).runKvList(args.slice(1));
  const { values, positionals } = parseOptions(args, KV_OPTIONS, KV_POSITIONALS_MAX);
  const [verb, key, value] = positionals;
  if (values.help === true || verb === undefined) {
    out(KV_HELP);
    return values.help === true ? CLIENT_EXIT.ok : CLIENT_EXIT.usage;
  }
  // The verb first: `kv frob` is a wrong verb, not a missing key.
  if (!['get', 'put', 'cas', 'del', 'delete'].includes(verb))
    throw new UsageError(`kv: unknown verb ${JSON.stringify(verb)}; expected get, put, del, cas or list`);
  if (key === undefined || key === '') throw new UsageError(`kv ${verb}: KEY is required`);
  checkVerbOptions(verb, values);
  const path = ['kv', ...key.split('/')];
  const session: string[] = [];
  if (values.client !== undefined || values.seq !== undefined) {
    if (values.client === undefined || values.seq === undefined) throw new UsageError('--client and --seq go together');
    session.push(`client=${values.client}`, `seq=${intOption(values.seq, 'seq', 1, 1, Number.MAX_SAFE_INTEGER)}`);
  }
  return withClient(values, async (client) => {
    switch (verb) {
      case 'get':
        return kvGet(client, path, key, values.stale === true, values.json === true);
      case 'put':
      case 'cas': {
        if (value === undefined) throw new UsageError(`kv ${verb}: VALUE is required`);
        const options = verb === 'cas' ? [casOption(values.expect)] : [];
        const lease =
          values.lease === undefined ? [] : [`lease=${intOption(values.lease, 'lease', 0, 1, 2 ** 53 - 1)}`];
        const response = await client.call({
          method: 'PUT',
          path,
          query: [...session, ...lease],
          payload: new TextEncoder().encode(value),
          options,
        });
        const revision = revisionOf(response.etag);
        out(values.json === true ? JSON.stringify({ key, revision }) : putLine(key, value, revision));
        return CLIENT_EXIT.ok;
      }
      case 'del':
      case 'delete': {
        const expected =
          values.expect === undefined
            ? []
            : [ifMatchRevision(intOption(values.expect, 'expect', 1, 1, Number.MAX_SAFE_INTEGER))];
        const response = await client.call({ method: 'DELETE', path, query: session, options: expected });
        const body = JsonFields.of(JSON.parse(new TextDecoder().decode(response.payload)), 'the delete answer');
        const deleted = body.boolean('deleted');
        out(
          values.json === true
            ? JSON.stringify({ key, deleted, revision: body.number('revision') })
            : deleted
              ? `deleted ${key}`
              : `${key} did not exist`,
        );
        return CLIENT_EXIT.ok;
      }
      default:
        throw new UsageError(`kv: unknown verb ${JSON.stringify(verb)}`);
    }
  });
}

/** Longest value `kv put` repeats whole in its line; a longer one is shown by its start and size. */
export const PUT_ECHO_CHARS_MAX = 80;

/** The line `kv put` prints: the key, the value (its start and byte count when long) and the revision. */
export function putLine(key: string, value: string, revision: number | null): string {
  const shown =
    value.length <= PUT_ECHO_CHARS_MAX
      ? value
      : `${value.slice(0, PUT_ECHO_CHARS_MAX - 20)}... (${Buffer.byteLength(value)} bytes)`;
  return `${key} = ${shown} (revision ${String(revision)})`;
}

/** `coraft kv get`: prints the value (or its JSON document) of `key`; exits notFound when there is none. */
async function kvGet(
  client: EndpointClient,
  path: readonly string[],
  key: string,
  stale: boolean,
  json: boolean,
): Promise<number> {
  const response = await client.request({ method: 'GET', path, query: stale ? ['stale'] : [] });
  if (response.code === 0x84) {
    if (json) out(JSON.stringify({ key, found: false }));
    else process.stderr.write(`coraft: no such key: ${key}\n`);
    return CLIENT_EXIT.notFound;
  }
  if (response.code >= 0x80) throw new EndpointError('', `${new TextDecoder().decode(response.payload)}`);
  const text = new TextDecoder().decode(response.payload);
  out(json ? JSON.stringify({ key, found: true, value: text, revision: revisionOf(response.etag) }) : text);
  return CLIENT_EXIT.ok;
}

function casOption(expect: string | undefined): ReturnType<typeof ifNoneMatch> {
  if (expect === undefined) throw new UsageError('kv cas: --expect REVISION is required (0 means: create only)');
  const revision = intOption(expect, 'expect', 0, 0, Number.MAX_SAFE_INTEGER);
  return revision === 0 ? ifNoneMatch() : ifMatchRevision(revision);
}
